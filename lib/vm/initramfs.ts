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
  ensureVmArtifacts,
  type Log,
  verifyArtifact,
  type VmArtifacts,
  type VmPlan,
} from "./artifacts.ts";
import { type Artifact, isCachePath } from "./cache.ts";
import { CpioWriter } from "./cpio.ts";
import { exec } from "./exec.ts";
import { prepareKernelImage } from "./kernel_image.ts";
import { type GuestModule, resolveKernelModules } from "./kmod.ts";
import { sha256File, sha256Hex } from "./sha256.ts";
import { ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/** Prefix of the guest's report lines on the console. */
export const MARK = "@@streamprof";

/** Bump when the layout of the initramfs or init script changes. */
const BUILDER_VERSION = 5;

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
export PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin
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
[ -f /results/guest.env ] && . /results/guest.env
# Extra folders: SHARES="tag:/path:ro tag:/path:rw ..." (see qemu.ts).
for s in $SHARES; do
  tag=\${s%%:*}; rest=\${s#*:}; dir=\${rest%:*}; mode=\${rest##*:}
  mkdir -p "$dir"
  if [ "$mode" = ro ]; then opts="$P9,ro,cache=loose"; else opts="$P9"; fi
  mount -t 9p -o "$opts" "$tag" "$dir" || mark fatal "cannot mount $dir over 9p"
done
mkdir -p /tmp/.overlay/upper /tmp/.overlay/work
mount -t overlay overlay -o lowerdir=/project.ro,upperdir=/tmp/.overlay/upper,workdir=/tmp/.overlay/work /project 2>/dev/null ||
  mount -o bind /project.ro /project
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# An emulated CPU makes perf's interrupt-time watchdog misfire (it counts
# the wall time a descheduled vCPU loses) and lower the sample-rate limit
# below the rates the tests ask for: the watchdog is switched off.
echo 0 > /proc/sys/kernel/perf_cpu_time_max_percent 2>/dev/null
ulimit -l unlimited
mark uname-r "$(uname -r)"
mark uname-m "$(uname -m)"
mark nproc "$(nproc)"
export HOME=/root TMPDIR=/tmp DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1
export LD_LIBRARY_PATH=/lib/${t}:/usr/lib/${t}
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
  dmesg > /results/dmesg.txt 2>/dev/null
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

/**
 * The guest's `gcc`: there is no compiler in a guest, so C helpers that
 * tests compile at run time (tests/kernel/fixtures/*.c) are built on the
 * host for the guest's arch (fixtures.ts) with the same warnings as an
 * error, and this stand-in hands out the prebuilt program when, and only
 * when, the source it is given is byte for byte the one that was built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GCC_STAND_IN } from "./initramfs.ts";
 * assert.match(GCC_STAND_IN, /^#!\/bin\/sh\n/);
 * assert.match(GCC_STAND_IN, /cmp -s "\$src" "\$dir\/\$name\.c"/);
 * ```
 */
export const GCC_STAND_IN = `#!/bin/sh
# streamprof guest stand-in for gcc (lib/vm/initramfs.ts, fixtures.ts).
dir=/fixtures/c
src=""; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift ;;
    *.c) src="$1" ;;
  esac
  shift
done
name=$(basename "$src" .c)
if [ -n "$src" ] && [ -n "$out" ] && [ -x "$dir/$name" ] && cmp -s "$src" "$dir/$name.c"; then
  exec cp "$dir/$name" "$out"
fi
echo "gcc: there is no C compiler in this guest; only the sources built on the host for it ($dir/*.c) can be 'compiled', and $src is not one of them" >&2
exit 127
`;

/**
 * The boot files of a VM. In `build.json` the two paths are relative to
 * the cache root; in memory (as returned) they are absolute.
 */
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
const ANCESTORS = ["bin", "lib", "lib64", "usr", "usr/bin", "usr/lib"];

/** Programs taken from the userland packages besides busybox. */
const GUEST_PROGRAMS = ["usr/bin/setpriv"];

/**
 * Whether a path of an unpacked userland package belongs in the guest:
 * busybox, util-linux's setpriv (busybox's lacks `--bounding-set`), and
 * the libraries of the guest's multiarch triplet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wantedInGuest } from "./initramfs.ts";
 * assert.equal(wantedInGuest("usr/lib/aarch64-linux-gnu/libbpf.so.1", "aarch64-linux-gnu"), true);
 * assert.equal(wantedInGuest("usr/share/doc/libbpf1/copyright", "aarch64-linux-gnu"), false);
 * assert.equal(wantedInGuest("usr/bin/setpriv", "aarch64-linux-gnu"), true);
 * assert.equal(wantedInGuest("usr/bin/lscpu", "aarch64-linux-gnu"), false);
 * assert.equal(wantedInGuest("usr/lib/aarch64-linux-gnu/gconv/UTF-16.so", "aarch64-linux-gnu"), false);
 * ```
 */
export function wantedInGuest(rel: string, triplet: string): boolean {
  if (rel === "bin/busybox" || GUEST_PROGRAMS.includes(rel)) return true;
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
 * The build recorded in `build/<name>/build.json` under `root`, with its
 * paths made absolute, when it was made from the inputs `key` and its
 * files still have their recorded SHA-256; otherwise undefined, with the
 * reason on the log (nothing when it was never built). The record's paths
 * must be relative to the cache root (so a copied cache uses its own
 * files); any other record is rebuilt.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cachedBuild } from "./initramfs.ts";
 * import { sha256Hex } from "./sha256.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/build/vm`, { recursive: true });
 * await Deno.writeTextFile(`${root}/build/vm/kernel`, "K");
 * await Deno.writeTextFile(`${root}/build/vm/initramfs.cpio`, "I");
 * await Deno.writeTextFile(`${root}/build/vm/build.json`, JSON.stringify({
 *   kernel: "build/vm/kernel", initramfs: "build/vm/initramfs.cpio", key: "k1",
 *   sha256: { kernel: sha256Hex("K"), initramfs: sha256Hex("I") },
 * }));
 * const lines: string[] = [];
 * assert.equal((await cachedBuild(root, "vm", "k1", (l) => lines.push(l)))?.kernel, `${root}/build/vm/kernel`);
 * assert.equal(await cachedBuild(root, "vm", "other inputs", (l) => lines.push(l)), undefined);
 * await Deno.writeTextFile(`${root}/build/vm/kernel`, "X");
 * assert.equal(await cachedBuild(root, "vm", "k1", (l) => lines.push(l)), undefined);
 * assert.match(lines.at(-1)!, /kernel has sha256 .* recorded/);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function cachedBuild(
  root: string,
  name: string,
  key: string,
  log: Log,
): Promise<VmImages | undefined> {
  const state = await buildState(root, name, key);
  if (state.images) return state.images;
  if (state.problem) log(`  ${name}: ${state.problem}: rebuilding`);
  return undefined;
}

/** What {@link buildState} found. */
export interface BuildState {
  /** The usable build (paths absolute). */
  images?: VmImages;
  /** Why the recorded build cannot be used; absent when never built. */
  problem?: string;
  /** Bytes of the recorded boot files. */
  bytes: number;
}

/**
 * The state of a VM's cached build, as {@link cachedBuild} judges it;
 * without `key`, whatever inputs it was built from are accepted.
 */
export async function buildState(
  root: string,
  name: string,
  key?: string,
): Promise<BuildState> {
  const path = `${root}/build/${name}/build.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { bytes: 0 };
    return {
      problem: `${path} is unreadable (${(err as Error).message})`,
      bytes: 0,
    };
  }
  let record: VmImages;
  try {
    record = JSON.parse(text);
  } catch (err) {
    return {
      problem: `${path} is not valid JSON (${(err as Error).message})`,
      bytes: 0,
    };
  }
  if (
    typeof record !== "object" || record === null ||
    !isCachePath(record.kernel) || !isCachePath(record.initramfs) ||
    typeof record.sha256 !== "object" || record.sha256 === null
  ) {
    return {
      problem: `${path} does not record boot files relative to the cache root`,
      bytes: 0,
    };
  }
  let bytes = 0;
  const files = [
    ["kernel", record.kernel, record.sha256.kernel],
    ["initramfs", record.initramfs, record.sha256.initramfs],
  ] as const;
  for (const [what, rel, sha] of files) {
    const file = `${root}/${rel}`;
    let got: string;
    try {
      got = await sha256File(file);
      bytes += (await Deno.stat(file)).size;
    } catch (err) {
      return {
        problem: `the cached ${what} ${file} is unreadable (${
          (err as Error).message
        })`,
        bytes,
      };
    }
    if (got !== sha) {
      return {
        problem:
          `the cached ${what} ${file} has sha256 ${got}, recorded ${sha}`,
        bytes,
      };
    }
  }
  if (key !== undefined && record.key !== key) {
    return { problem: "the inputs changed", bytes };
  }
  return {
    images: {
      ...record,
      kernel: `${root}/${record.kernel}`,
      initramfs: `${root}/${record.initramfs}`,
    },
    bytes,
  };
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
    await mkdirs("usr/local/bin");
    await writer.file("usr/local/bin/gcc", encoder.encode(GCC_STAND_IN), 0o755);
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
 * The cache key of `vm`'s boot files for these artifacts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmBuildKey } from "./initramfs.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * const a = { key: "k", file: "f", sha256: "0".repeat(64), size: 1, version: "1", source: "s" };
 * const artifacts = { kernelDeb: a, userlandDebs: [a], deno: a, path: () => "" };
 * const key = vmBuildKey(table, findVm(table, "default"), artifacts);
 * assert.match(key, /^[0-9a-f]{64}$/);
 * assert.notEqual(key, vmBuildKey(table, findVm(table, "default"), { ...artifacts, deno: { ...a, sha256: "1".repeat(64) } }));
 * ```
 */
export function vmBuildKey(
  table: VmTable,
  vm: VmSpec,
  artifacts: VmArtifacts,
): string {
  return bootFilesKey(
    table,
    initScript({ triplet: ARCHES[vm.arch].triplet }),
    [artifacts.kernelDeb, ...artifacts.userlandDebs, artifacts.deno],
  );
}

/**
 * Builds the kernel image and initramfs of a VM from its artifacts (each
 * verified by SHA-256 first: a damaged one throws a CorruptArtifactError)
 * and records them in `build/<vm>/build.json`, paths relative to the root.
 *
 * @example
 * ```ts ignore
 * // ignored: needs the VM's packages (the VM cache, about 1 GB).
 * const artifacts = await ensureVmArtifacts(table, vm, { checksums: true });
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
  const rel = `build/${vm.name}`;
  const dir = `${options.root}/${rel}`;
  const t0 = performance.now();
  options.log(`  build ${vm.name}: verifying ${inputs.length} inputs`);
  for (const a of inputs) await verifyArtifact(options.root, a);
  await Deno.mkdir(dir, { recursive: true });
  // A build that stops half-way must not look finished.
  await Deno.remove(`${dir}/build.json`).catch(() => {});
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
    const initramfsBytes = await writeInitramfs(`${dir}/initramfs.cpio`, {
      script,
      userlandTree,
      triplet: arch.triplet,
      deno: artifacts.path(artifacts.deno),
      modules: modules.modules,
    });
    const record: VmImages = {
      kernel: `${rel}/kernel`,
      kernelKind: kernelImage.kind,
      initramfs: `${rel}/initramfs.cpio`,
      kernelRelease,
      modules: modules.modules.map((m) => m.name),
      builtinModules: modules.builtin,
      missingModules: modules.missing,
      sha256: {
        kernel: await sha256File(`${dir}/kernel`),
        initramfs: await sha256File(`${dir}/initramfs.cpio`),
      },
      key,
    };
    const tmp = `${dir}/build.json.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(record, null, 2) + "\n");
    await Deno.rename(tmp, `${dir}/build.json`);
    options.log(describeBuild(vm.name, record, {
      kernel: (await Deno.stat(`${dir}/kernel`)).size,
      initramfs: initramfsBytes,
    }, (performance.now() - t0) / 1000));
    return {
      ...record,
      kernel: `${dir}/kernel`,
      initramfs: `${dir}/initramfs.cpio`,
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** Options of {@link ensureBootFiles}. */
export interface BootFilesOptions {
  root: string;
  log: Log;
  /** Project root (for a guest Deno already in node_modules). */
  projectRoot?: string;
  /** Rebuild even if a build with the same inputs exists. */
  force?: boolean;
}

/**
 * Everything a VM boots, fetched and built as needed: the artifacts
 * (sizes checked), then the cached build if it was made from them and its
 * files are intact; else the artifacts are checked by SHA-256 (a damaged
 * one is fetched again) and the boot files rebuilt.
 *
 * @example
 * ```ts ignore
 * // ignored: downloads and builds into the VM cache (about 1 GB).
 * const plan = await planVm(table, vm);
 * const { images } = await ensureBootFiles(table, plan!, { root: vmCacheRoot(), log: console.log });
 * assert.match(images.kernel, /build\/default\/kernel$/);
 * ```
 */
export async function ensureBootFiles(
  table: VmTable,
  plan: VmPlan,
  options: BootFilesOptions,
): Promise<{ artifacts: VmArtifacts; images: VmImages }> {
  const vm = plan.vm;
  let artifacts = await ensureVmArtifacts(plan, options);
  if (!options.force) {
    const key = vmBuildKey(table, vm, artifacts);
    const images = await cachedBuild(options.root, vm.name, key, options.log);
    if (images) return { artifacts, images };
  }
  artifacts = await ensureVmArtifacts(plan, { ...options, checksums: true });
  return {
    artifacts,
    images: await buildVmImages(table, vm, artifacts, options),
  };
}
