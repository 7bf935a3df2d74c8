/**
 * Builds the boot files of one VM: the kernel image and a small initramfs
 * with busybox, the kernel modules for 9p (with their dependencies, in load
 * order), the guest's shared libraries and Deno, and an `/init` script that
 * mounts the project (read-only, 9p) and a results folder (writable, 9p),
 * runs the guest command and reports on the console with
 * `@@streamprof <key> <value>` lines.
 *
 * Builds are cached under `build/<vm>/`, keyed by the SHA-256 of every input.
 *
 * @module
 */
import {
  type Artifact,
  formatBytes,
  type Log,
  verifyArtifact,
  type VmArtifacts,
} from "./artifacts.ts";
import { CpioWriter } from "./cpio.ts";
import { exec } from "./exec.ts";
import { prepareKernelImage } from "./kernel_image.ts";
import { resolveKernelModules } from "./kmod.ts";
import { sha256File, sha256Hex } from "./sha256.ts";
import { ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/** Prefix of the guest's report lines on the console. */
export const MARK = "@@streamprof";

/** Bump when the layout of the initramfs or init script changes. */
const BUILDER_VERSION = 3;

/**
 * Quotes a string for a POSIX shell (single quotes).
 *
 * @example
 * ```ts
 * shellQuote("it's"); // "'it'\\''s'"
 * ```
 */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Inputs of {@link initScript}. */
export interface InitScriptOptions {
  /** Multiarch triplet of the guest libraries. */
  triplet: string;
  /** 9p msize in bytes. */
  msize?: number;
}

/**
 * The guest's `/init` (busybox sh). It reports, one line each:
 * `boot-to-init <uptime s>`, `uname-r`, `uname-m`, `nproc`, `start`,
 * `exit <code>` (after the guest command), the kernel log tail between
 * `dmesg-begin`/`dmesg-end` when the command failed, then `done`, and powers
 * off. The guest command and its environment come from `/results/guest.env`.
 *
 * @example
 * ```ts
 * initScript({ triplet: "aarch64-linux-gnu" }).startsWith("#!/bin/busybox sh"); // true
 * ```
 */
export function initScript(o: InitScriptOptions): string {
  const msize = o.msize ?? 512000;
  const t = o.triplet;
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /project /project.ro /results /root
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mark() { echo "${MARK} $*"; }
mark boot-to-init "$(cut -d' ' -f1 /proc/uptime)"
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs -o mode=1777 tmp /tmp
while read -r m; do
  insmod "/lib/modules/$m.ko" 2>/dev/null || mark warn "insmod $m failed"
done < /lib/modules/load-order
P9="trans=virtio,version=9p2000.L,msize=${msize}"
mount -t 9p -o "$P9,ro,cache=loose" project /project.ro || mark fatal "cannot mount the project over 9p"
mount -t 9p -o "$P9" results /results || mark fatal "cannot mount the results folder over 9p"
mkdir -p /tmp/.overlay/upper /tmp/.overlay/work
mount -t overlay overlay -o lowerdir=/project.ro,upperdir=/tmp/.overlay/upper,workdir=/tmp/.overlay/work /project 2>/dev/null ||
  mount -o bind /project.ro /project
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ulimit -l unlimited
mark uname-r "$(uname -r)"
mark uname-m "$(uname -m)"
mark nproc "$(nproc)"
export HOME=/root TMPDIR=/tmp DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1
export LD_LIBRARY_PATH=/lib/${t}:/usr/lib/${t}
[ -f /results/guest.env ] && . /results/guest.env
cd /project
mark start "$(cut -d' ' -f1 /proc/uptime)"
if [ -n "$GUEST_CMD" ]; then
  sh -c "$GUEST_CMD"
  rc=$?
else
  echo "no GUEST_CMD in /results/guest.env"
  rc=125
fi
mark end "$(cut -d' ' -f1 /proc/uptime)"
mark exit "$rc"
if [ "$rc" != 0 ]; then
  mark dmesg-begin
  dmesg | tail -n 60
  mark dmesg-end
fi
cd /
sync
umount /results 2>/dev/null
mark done
reboot -f
`;
}

/** The boot files of a VM. */
export interface VmImages {
  kernel: string;
  kernelKind: "vmlinux-pvh" | "bzImage" | "Image";
  initramfs: string;
  /** Kernel release (`uname -r`) from the package's module folder. */
  kernelRelease: string;
  modules: string[];
  builtinModules: string[];
  missingModules: string[];
  sha256: { kernel: string; initramfs: string };
  key: string;
}

/** Options of {@link buildVmImages}. */
export interface BuildOptions {
  root: string;
  log: Log;
  /** Rebuild even if a build with the same inputs exists. */
  force?: boolean;
}

async function findModDir(tree: string): Promise<string> {
  for (const base of [`${tree}/lib/modules`, `${tree}/usr/lib/modules`]) {
    try {
      for await (const e of Deno.readDir(base)) {
        if (e.isDirectory) return `${base}/${e.name}`;
      }
    } catch { /* try the next */ }
  }
  throw new Error(`no lib/modules/<release> in the kernel package (${tree})`);
}

/** Folders walked to reach the wanted userland files. */
const ANCESTORS = ["bin", "lib", "lib64", "usr", "usr/lib"];

/** Paths of a userland package tree worth copying into the guest. */
function wanted(rel: string, triplet: string): boolean {
  if (rel === "bin/busybox") return true;
  if (/(^|\/)gconv(\/|$)|(^|\/)audit(\/|$)/.test(rel)) return false;
  return rel === "lib64" || rel.startsWith("lib64/") ||
    rel === "lib" || rel === `lib/${triplet}` ||
    rel.startsWith(`lib/${triplet}/`) || /^lib\/ld-linux[^/]*$/.test(rel) ||
    rel === "usr" || rel === "usr/lib" || rel === `usr/lib/${triplet}` ||
    rel.startsWith(`usr/lib/${triplet}/`);
}

/**
 * Builds (or reuses) the kernel image and initramfs of a VM, and verifies
 * their SHA-256 before returning them.
 *
 * @example
 * ```ts ignore
 * const art = await ensureVmArtifacts(table, vm);
 * const img = await buildVmImages(table, vm, art, { root: vmCacheRoot(), log: console.log });
 * img.initramfs; // "/root/.cache/streamprof/vm/build/default/initramfs.cpio"
 * ```
 */
export async function buildVmImages(
  table: VmTable,
  vm: VmSpec,
  art: VmArtifacts,
  opts: BuildOptions,
): Promise<VmImages> {
  const arch = ARCHES[vm.arch];
  const script = initScript({ triplet: arch.triplet });
  const inputs: Artifact[] = [art.kernelDeb, ...art.userlandDebs, art.deno];
  const key = sha256Hex(JSON.stringify({
    v: BUILDER_VERSION,
    script,
    modules: table.modules,
    inputs: inputs.map((a) => a.sha256),
  }));
  const dir = `${opts.root}/build/${vm.name}`;
  const metaPath = `${dir}/build.json`;
  if (!opts.force) {
    try {
      const meta = JSON.parse(await Deno.readTextFile(metaPath)) as VmImages;
      if (meta.key === key) {
        const [k, i] = await Promise.all([
          sha256File(meta.kernel),
          sha256File(meta.initramfs),
        ]);
        if (k === meta.sha256.kernel && i === meta.sha256.initramfs) {
          return meta;
        }
        opts.log(
          `  ${vm.name}: cached boot files fail their checksum: rebuilding`,
        );
      }
    } catch { /* no usable build */ }
  }

  const t0 = performance.now();
  opts.log(`  build ${vm.name}: verifying ${inputs.length} inputs`);
  for (const a of inputs) await verifyArtifact(opts.root, a);
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: "work-" });
  try {
    // Kernel package: boot image + modules.
    const ktree = `${work}/kernel`;
    await Deno.mkdir(ktree);
    await exec("dpkg-deb", ["-x", art.path(art.kernelDeb), ktree]);
    const modDir = await findModDir(ktree);
    const kernelRelease = modDir.split("/").pop()!;
    const vmlinuz = `${ktree}/boot/vmlinuz-${kernelRelease}`;
    const kimg = await prepareKernelImage(vmlinuz, `${dir}/kernel`, vm.arch);
    const mods = await resolveKernelModules(modDir, table.modules);

    // Userland packages.
    const utree = `${work}/userland`;
    await Deno.mkdir(utree);
    for (const deb of art.userlandDebs) {
      await exec("dpkg-deb", ["-x", art.path(deb), utree]);
    }

    const out = await Deno.open(`${dir}/initramfs.cpio.tmp`, {
      write: true,
      create: true,
      truncate: true,
    });
    const w = new CpioWriter(async (c) => {
      let off = 0;
      while (off < c.length) off += await out.write(c.subarray(off));
    });
    const enc = new TextEncoder();
    try {
      const dirs = new Set<string>();
      const mkdirp = async (d: string) => {
        const parts = d.split("/");
        for (let i = 1; i <= parts.length; i++) {
          const p = parts.slice(0, i).join("/");
          if (!dirs.has(p)) {
            dirs.add(p);
            await w.dir(p);
          }
        }
      };
      for (
        const d of ["dev", "proc", "sys", "tmp", "run", "root", "etc", "bin"]
      ) await mkdirp(d);
      await w.file("init", enc.encode(script), 0o755);
      await w.file(
        "etc/passwd",
        enc.encode("root:x:0:0:root:/root:/bin/sh\n"),
      );
      await w.file("etc/group", enc.encode("root:x:0:\n"));
      // Userland: walk the unpacked tree (sorted for reproducibility).
      const walk = async (rel: string): Promise<void> => {
        const entries = [];
        for await (const e of Deno.readDir(rel ? `${utree}/${rel}` : utree)) {
          entries.push(e);
        }
        entries.sort((a, b) => a.name < b.name ? -1 : 1);
        for (const e of entries) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory) {
            if (ANCESTORS.includes(r) || wanted(r, arch.triplet)) {
              await walk(r);
            }
          } else if (wanted(r, arch.triplet)) {
            await mkdirp(r.split("/").slice(0, -1).join("/") || "bin");
            if (e.isSymlink) {
              await w.symlink(r, await Deno.readLink(`${utree}/${r}`));
            } else await w.fileFrom(r, `${utree}/${r}`);
          }
        }
      };
      await walk("");
      await mkdirp("usr/bin");
      await w.fileFrom("usr/bin/deno", art.path(art.deno), 0o755);
      await mkdirp("lib/modules");
      for (const m of mods.modules) {
        await w.file(`lib/modules/${m.name}.ko`, m.data);
      }
      await w.file(
        "lib/modules/load-order",
        enc.encode(mods.modules.map((m) => m.name).join("\n") + "\n"),
      );
      await w.finish();
    } finally {
      out.close();
    }
    await Deno.rename(`${dir}/initramfs.cpio.tmp`, `${dir}/initramfs.cpio`);
    const images: VmImages = {
      kernel: kimg.path,
      kernelKind: kimg.kind,
      initramfs: `${dir}/initramfs.cpio`,
      kernelRelease,
      modules: mods.modules.map((m) => m.name),
      builtinModules: mods.builtin,
      missingModules: mods.missing,
      sha256: {
        kernel: await sha256File(kimg.path),
        initramfs: await sha256File(`${dir}/initramfs.cpio`),
      },
      key,
    };
    await Deno.writeTextFile(metaPath, JSON.stringify(images, null, 2) + "\n");
    opts.log(
      `  build ${vm.name}: kernel ${kernelRelease} (${kimg.kind}, ${
        formatBytes((await Deno.stat(kimg.path)).size)
      }), initramfs ${formatBytes(w.bytes)}, modules ${
        images.modules.join(" ") || "(none)"
      }${
        images.builtinModules.length
          ? `; built in: ${images.builtinModules.join(" ")}`
          : ""
      }${
        images.missingModules.length
          ? `; not found: ${images.missingModules.join(" ")}`
          : ""
      } in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return images;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
