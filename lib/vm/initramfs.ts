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
import { formatBytes } from "../common/format.ts";
import {
  type Artifact,
  type Log,
  verifyArtifact,
  type VmArtifacts,
} from "./artifacts.ts";
import { CpioWriter } from "./cpio.ts";
import { exec } from "./exec.ts";
import { prepareKernelImage } from "./kernel_image.ts";
import { type GuestModule, resolveKernelModules } from "./kmod.ts";
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
 * import assert from "node:assert/strict";
 * import { shellQuote } from "./initramfs.ts";
 * assert.equal(shellQuote("it's"), "'it'\\''s'");
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
 * import assert from "node:assert/strict";
 * import { initScript } from "./initramfs.ts";
 * assert.ok(initScript({ triplet: "aarch64-linux-gnu" }).startsWith("#!/bin/busybox sh\n"));
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

async function findModuleDir(tree: string): Promise<string> {
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

/**
 * Whether a path of an unpacked userland package belongs in the guest:
 * busybox, and the libraries of the guest's multiarch triplet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wantedInGuest } from "./initramfs.ts";
 * assert.equal(wantedInGuest("usr/lib/aarch64-linux-gnu/libbpf.so.1", "aarch64-linux-gnu"), true);
 * assert.equal(wantedInGuest("usr/share/doc/libbpf1/copyright", "aarch64-linux-gnu"), false);
 * assert.equal(wantedInGuest("usr/lib/aarch64-linux-gnu/gconv/UTF-16.so", "aarch64-linux-gnu"), false);
 * ```
 */
export function wantedInGuest(rel: string, triplet: string): boolean {
  if (rel === "bin/busybox") return true;
  if (/(^|\/)gconv(\/|$)|(^|\/)audit(\/|$)/.test(rel)) return false;
  return rel === "lib64" || rel.startsWith("lib64/") ||
    rel === "lib" || rel === `lib/${triplet}` ||
    rel.startsWith(`lib/${triplet}/`) || /^lib\/ld-linux[^/]*$/.test(rel) ||
    rel === "usr" || rel === "usr/lib" || rel === `usr/lib/${triplet}` ||
    rel.startsWith(`usr/lib/${triplet}/`);
}

/**
 * The cache key of a VM's boot files: the builder version, the init
 * script, the module list and the SHA-256 of every input.
 */
function bootFilesKey(
  table: VmTable,
  script: string,
  inputs: Artifact[],
): string {
  return sha256Hex(JSON.stringify({
    v: BUILDER_VERSION,
    script,
    modules: table.modules,
    inputs: inputs.map((a) => a.sha256),
  }));
}

/**
 * The cached build in `dir` when it was made from the same inputs (`key`)
 * and its files still have their recorded SHA-256; otherwise undefined.
 */
async function reusableBuild(
  dir: string,
  key: string,
  log: Log,
  name: string,
): Promise<VmImages | undefined> {
  let meta: VmImages;
  try {
    meta = JSON.parse(await Deno.readTextFile(`${dir}/build.json`));
  } catch {
    return undefined; // never built
  }
  if (meta.key !== key) return undefined;
  try {
    const [kernel, initramfs] = await Promise.all([
      sha256File(meta.kernel),
      sha256File(meta.initramfs),
    ]);
    if (kernel === meta.sha256.kernel && initramfs === meta.sha256.initramfs) {
      return meta;
    }
  } catch { /* a file is gone */ }
  log(`  ${name}: cached boot files fail their checksum: rebuilding`);
  return undefined;
}

/** What the initramfs holds besides /init. */
interface InitramfsContent {
  script: string;
  /** Unpacked userland packages. */
  userlandTree: string;
  triplet: string;
  /** Host path of the guest's Deno binary. */
  deno: string;
  modules: GuestModule[];
}

/** Writes the uncompressed initramfs to `path`; returns its size. */
async function writeInitramfs(
  path: string,
  content: InitramfsContent,
): Promise<number> {
  const out = await Deno.open(`${path}.tmp`, {
    write: true,
    create: true,
    truncate: true,
  });
  const writer = new CpioWriter(async (chunk) => {
    let off = 0;
    while (off < chunk.length) off += await out.write(chunk.subarray(off));
  });
  const encoder = new TextEncoder();
  try {
    const made = new Set<string>();
    const mkdirs = async (dir: string) => {
      const parts = dir.split("/");
      for (let i = 1; i <= parts.length; i++) {
        const p = parts.slice(0, i).join("/");
        if (!made.has(p)) {
          made.add(p);
          await writer.dir(p);
        }
      }
    };
    for (
      const d of ["dev", "proc", "sys", "tmp", "run", "root", "etc", "bin"]
    ) await mkdirs(d);
    await writer.file("init", encoder.encode(content.script), 0o755);
    await writer.file(
      "etc/passwd",
      encoder.encode("root:x:0:0:root:/root:/bin/sh\n"),
    );
    await writer.file("etc/group", encoder.encode("root:x:0:\n"));
    // Userland: walk the unpacked tree (sorted for reproducibility).
    const tree = content.userlandTree;
    const walk = async (rel: string): Promise<void> => {
      const entries = [];
      for await (const e of Deno.readDir(rel ? `${tree}/${rel}` : tree)) {
        entries.push(e);
      }
      entries.sort((a, b) => a.name < b.name ? -1 : 1);
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory) {
          if (ANCESTORS.includes(r) || wantedInGuest(r, content.triplet)) {
            await walk(r);
          }
        } else if (wantedInGuest(r, content.triplet)) {
          await mkdirs(r.split("/").slice(0, -1).join("/") || "bin");
          if (e.isSymlink) {
            await writer.symlink(r, await Deno.readLink(`${tree}/${r}`));
          } else await writer.fileFrom(r, `${tree}/${r}`);
        }
      }
    };
    await walk("");
    await mkdirs("usr/bin");
    await writer.fileFrom("usr/bin/deno", content.deno, 0o755);
    await mkdirs("lib/modules");
    for (const m of content.modules) {
      await writer.file(`lib/modules/${m.name}.ko`, m.data);
    }
    await writer.file(
      "lib/modules/load-order",
      encoder.encode(content.modules.map((m) => m.name).join("\n") + "\n"),
    );
    await writer.finish();
  } finally {
    out.close();
  }
  await Deno.rename(`${path}.tmp`, path);
  return writer.bytes;
}

/**
 * The progress line of a finished build.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeBuild } from "./initramfs.ts";
 * assert.equal(
 *   describeBuild("default", {
 *     kernelRelease: "6.12.1", kernelKind: "Image", modules: ["9p"],
 *     builtinModules: [], missingModules: ["virtio_rng"],
 *   }, { kernel: 1 << 20, initramfs: 3 << 20 }, 2.345),
 *   "  build default: kernel 6.12.1 (Image, 1.0 MiB), initramfs 3.0 MiB, modules 9p; not found: virtio_rng in 2.3 s",
 * );
 * ```
 */
export function describeBuild(
  name: string,
  images: Pick<
    VmImages,
    | "kernelRelease"
    | "kernelKind"
    | "modules"
    | "builtinModules"
    | "missingModules"
  >,
  bytes: { kernel: number; initramfs: number },
  seconds: number,
): string {
  const builtin = images.builtinModules.length
    ? `; built in: ${images.builtinModules.join(" ")}`
    : "";
  const missing = images.missingModules.length
    ? `; not found: ${images.missingModules.join(" ")}`
    : "";
  return `  build ${name}: kernel ${images.kernelRelease} (${images.kernelKind}, ${
    formatBytes(bytes.kernel)
  }), initramfs ${formatBytes(bytes.initramfs)}, modules ${
    images.modules.join(" ") || "(none)"
  }${builtin}${missing} in ${seconds.toFixed(1)} s`;
}

/**
 * Builds (or reuses) the kernel image and initramfs of a VM, and verifies
 * their SHA-256 before returning them.
 *
 * @example
 * ```ts ignore
 * // ignored: needs the VM's packages (the VM cache, about 1 GB).
 * const artifacts = await ensureVmArtifacts(table, vm);
 * const images = await buildVmImages(table, vm, artifacts, { root: vmCacheRoot(), log: console.log });
 * assert.match(images.initramfs, /build\/default\/initramfs\.cpio$/);
 * ```
 */
export async function buildVmImages(
  table: VmTable,
  vm: VmSpec,
  artifacts: VmArtifacts,
  options: BuildOptions,
): Promise<VmImages> {
  const arch = ARCHES[vm.arch];
  const script = initScript({ triplet: arch.triplet });
  const inputs: Artifact[] = [
    artifacts.kernelDeb,
    ...artifacts.userlandDebs,
    artifacts.deno,
  ];
  const key = bootFilesKey(table, script, inputs);
  const dir = `${options.root}/build/${vm.name}`;
  if (!options.force) {
    const cached = await reusableBuild(dir, key, options.log, vm.name);
    if (cached) return cached;
  }

  const t0 = performance.now();
  options.log(`  build ${vm.name}: verifying ${inputs.length} inputs`);
  for (const a of inputs) await verifyArtifact(options.root, a);
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: "work-" });
  try {
    // Kernel package: boot image + modules.
    const kernelTree = `${work}/kernel`;
    await Deno.mkdir(kernelTree);
    await exec("dpkg-deb", [
      "-x",
      artifacts.path(artifacts.kernelDeb),
      kernelTree,
    ]);
    const moduleDir = await findModuleDir(kernelTree);
    const kernelRelease = moduleDir.split("/").pop()!;
    const kernelImage = await prepareKernelImage(
      `${kernelTree}/boot/vmlinuz-${kernelRelease}`,
      `${dir}/kernel`,
      vm.arch,
    );
    const modules = await resolveKernelModules(moduleDir, table.modules);

    const userlandTree = `${work}/userland`;
    await Deno.mkdir(userlandTree);
    for (const deb of artifacts.userlandDebs) {
      await exec("dpkg-deb", ["-x", artifacts.path(deb), userlandTree]);
    }
    const initramfs = `${dir}/initramfs.cpio`;
    const initramfsBytes = await writeInitramfs(initramfs, {
      script,
      userlandTree,
      triplet: arch.triplet,
      deno: artifacts.path(artifacts.deno),
      modules: modules.modules,
    });
    const images: VmImages = {
      kernel: kernelImage.path,
      kernelKind: kernelImage.kind,
      initramfs,
      kernelRelease,
      modules: modules.modules.map((m) => m.name),
      builtinModules: modules.builtin,
      missingModules: modules.missing,
      sha256: {
        kernel: await sha256File(kernelImage.path),
        initramfs: await sha256File(initramfs),
      },
      key,
    };
    await Deno.writeTextFile(
      `${dir}/build.json`,
      JSON.stringify(images, null, 2) + "\n",
    );
    options.log(describeBuild(vm.name, images, {
      kernel: (await Deno.stat(kernelImage.path)).size,
      initramfs: initramfsBytes,
    }, (performance.now() - t0) / 1000));
    return images;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
