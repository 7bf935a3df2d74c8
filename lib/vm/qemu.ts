/**
 * QEMU: command line, accelerator choice, and a supervised run that captures
 * the serial console, enforces timeouts and never leaves a QEMU behind
 * (killed on timeout, on any stop signal and on any error, and by its
 * wrapper when this process dies).
 *
 * @module
 */
import { interruptSignal } from "../common/signals.ts";
import { pumpLines } from "./lines.ts";
import { ARCHES, type VmSpec } from "./vms.ts";

/** Accelerator for a guest. */
export type Accel = "kvm" | "tcg";

/** A host folder shared into the guest over 9p. */
export interface Share {
  /** 9p mount tag (at most 31 characters). */
  tag: string;
  /** Folder on the host. */
  hostPath: string;
  /** Where the guest mounts it. */
  guestPath: string;
  readonly: boolean;
}

/** Inputs of {@link qemuArgs}. */
export interface QemuArgsOptions {
  accel: Accel;
  kernel: string;
  initramfs: string;
  /** Host folder shared read-only as 9p tag `project`. */
  projectDir: string;
  /** Host folder shared writable as 9p tag `results`. */
  resultsDir: string;
  /** More folders (the guest's init mounts them, see guestShares). */
  shares?: Share[];
  /** Extra kernel command line words. */
  extraCmdline?: string[];
}

/**
 * The `SHARES` value of guest.env for the guest's init: `tag:path:ro|rw`
 * words. Paths with spaces or colons cannot be shared.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { guestShares } from "./qemu.ts";
 * assert.equal(
 *   guestShares([{ tag: "fixtures", hostPath: "/c/f", guestPath: "/fixtures", readonly: true },
 *     { tag: "share0", hostPath: "/data", guestPath: "/data", readonly: false }]),
 *   "fixtures:/fixtures:ro share0:/data:rw",
 * );
 * ```
 */
export function guestShares(shares: Share[]): string {
  return shares.map((s) => {
    if (!/^[A-Za-z0-9_]{1,31}$/.test(s.tag)) {
      throw new Error(`bad 9p tag ${s.tag}`);
    }
    if (!/^\/[^\s:]*$/.test(s.guestPath)) {
      throw new Error(`cannot share ${s.guestPath}: no spaces or colons`);
    }
    return `${s.tag}:${s.guestPath}:${s.readonly ? "ro" : "rw"}`;
  }).join(" ");
}

/**
 * Kernel command line for a guest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelCmdline } from "./qemu.ts";
 * assert.match(kernelCmdline("arm64"), /^console=ttyAMA0 panic=-1 oops=panic quiet rdinit=\/init /);
 * assert.match(kernelCmdline("x86_64", ["debug"]), /tsc=reliable no_timer_check debug$/);
 * ```
 */
export function kernelCmdline(arch: VmSpec["arch"], extra: string[] = []) {
  return [
    `console=${ARCHES[arch].console}`,
    "panic=-1",
    "oops=panic",
    "quiet",
    "rdinit=/init",
    "random.trust_cpu=on",
    "mitigations=off",
    "nokaslr",
    // Crypto self-tests cost ~0.5-0.8 s of TCG boot; nothing here needs them.
    "cryptomgr.notests=1",
    "initcall_blacklist=crypto_kdf108_init",
    ...(arch === "x86_64" ? ["tsc=reliable", "no_timer_check"] : []),
    ...extra,
  ].join(" ");
}

/**
 * The machine half of a QEMU command line, shared by the test boot and the
 * KVM probe: the board, accelerator, CPU, size, and nothing QEMU adds by
 * itself (no default devices, no config file, no display, monitor or
 * network, no reboot), with the serial console on stdio.
 */
function headlessMachine(
  arch: VmSpec["arch"],
  o: { accel: Accel; cpu: string; cpus: number; memoryMiB: number },
): string[] {
  return [
    "-M",
    arch === "arm64" ? "virt" : "pc",
    "-accel",
    o.accel,
    "-cpu",
    o.cpu,
    "-smp",
    String(o.cpus),
    "-m",
    `${o.memoryMiB}M`,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-monitor",
    "none",
    "-no-reboot",
    "-nic",
    "none",
  ];
}

/**
 * QEMU binary and arguments to boot a VM with the serial console on stdout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qemuArgs } from "./qemu.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const vm = findVm(await loadVmTable(), "default");
 * const [bin, args] = qemuArgs(vm, { accel: "tcg", kernel: "k", initramfs: "i", projectDir: "/p", resultsDir: "/r" });
 * assert.equal(bin, "qemu-system-aarch64");
 * assert.ok(args.includes("virt"));
 * ```
 */
export function qemuArgs(
  vm: VmSpec,
  o: QemuArgsOptions,
): [string, string[]] {
  const a = ARCHES[vm.arch];
  const cpu = o.accel === "kvm"
    ? "host"
    : vm.arch === "arm64"
    ? "max,pauth-impdef=on"
    : "max";
  const fsdev = (id: string, path: string, ro: boolean) => [
    "-fsdev",
    `local,id=${id},path=${
      path.replace(/,/g, ",,")
    },security_model=none,multidevs=remap${ro ? ",readonly=on" : ""}`,
    "-device",
    `virtio-9p-pci,fsdev=${id},mount_tag=${id}`,
  ];
  return [a.qemu, [
    ...headlessMachine(vm.arch, {
      accel: o.accel,
      cpu,
      cpus: vm.cpus,
      memoryMiB: vm.memoryMiB,
    }),
    "-kernel",
    o.kernel,
    "-initrd",
    o.initramfs,
    "-append",
    kernelCmdline(vm.arch, o.extraCmdline),
    ...fsdev("project", o.projectDir, true),
    ...fsdev("results", o.resultsDir, false),
    ...(o.shares ?? []).flatMap((sh) =>
      fsdev(sh.tag, sh.hostPath, sh.readonly)
    ),
    "-device",
    "virtio-rng-pci",
  ]];
}

/** What a KVM probe boot showed. */
export interface KvmProbe {
  /** KVM ran the guest kernel to its end. */
  works: boolean;
  /** Why it does not (or "kernel reached its end in N s"). */
  reason: string;
}

/** What {@link kvmProbeVerdict} looks at: how the probe boot ended. */
export interface KvmProbeOutcome {
  /** QEMU's exit code (null when killed). */
  code: number | null;
  /** Set when the probe was stopped: it ran past its time limit. */
  timedOut?: boolean;
  /** The serial console. */
  console: string[];
  /** QEMU's stderr. */
  stderr: string;
  /** Wall time of the probe, seconds. */
  seconds: number;
}

/**
 * The console line a probe boot must reach: with no initramfs and no root
 * device the kernel ends in this panic, and `panic=-1` plus `-no-reboot`
 * make QEMU exit right after it.
 */
export const PROBE_END = "Kernel panic - not syncing";

/**
 * Whether a probe boot proves that KVM runs this kernel: QEMU exited by
 * itself with status 0 after the kernel printed {@link PROBE_END}. A KVM
 * that opens but cannot run the guest (for example a software KVM whose
 * instruction emulator lacks `cmpxchg16b` or `xrstor`: QEMU then prints
 * "KVM internal error" and pauses the guest forever) fails here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kvmProbeVerdict, PROBE_END } from "./qemu.ts";
 * const end = `[    0.61] ${PROBE_END}: VFS: Unable to mount root fs`;
 * assert.equal(
 *   kvmProbeVerdict({ code: 0, console: [end], stderr: "", seconds: 0.7 }).works,
 *   true,
 * );
 * const stuck = kvmProbeVerdict({
 *   code: null, timedOut: true, console: [], seconds: 10,
 *   stderr: "KVM internal error. Suberror: 1\nemulation failure\n",
 * });
 * assert.equal(stuck.works, false);
 * assert.match(stuck.reason, /KVM internal error/);
 * ```
 */
export function kvmProbeVerdict(o: KvmProbeOutcome): KvmProbe {
  const err = o.stderr.split("\n").map((l) => l.trim()).filter((l) => l);
  const internal = err.find((l) => l.startsWith("KVM internal error"));
  if (internal) {
    const detail = err.find((l) => /emulation failure/.test(l));
    return {
      works: false,
      reason: `${internal}${detail ? ` (${detail})` : ""}`,
    };
  }
  if (o.timedOut) {
    return {
      works: false,
      reason: `the kernel did not reach its end within ${
        o.seconds.toFixed(0)
      } s`,
    };
  }
  if (o.code !== 0) {
    return {
      works: false,
      reason: `QEMU exited ${o.code}${err.length ? `: ${err.at(-1)}` : ""}`,
    };
  }
  if (!o.console.some((l) => l.includes(PROBE_END))) {
    return {
      works: false,
      reason: "QEMU exited before the kernel reached its end",
    };
  }
  return {
    works: true,
    reason: `the kernel reached its end in ${o.seconds.toFixed(1)} s`,
  };
}

/** Time limit of a KVM probe boot, ms: TCG itself boots to the end in ~2 s. */
export const KVM_PROBE_TIMEOUT_MS = 10_000;

/**
 * Boots `kernel` under KVM with no initramfs and no root device, and
 * returns whether it ran to its final panic within `timeoutMs`.
 *
 * @example
 * ```ts ignore
 * // ignored: needs a built kernel image (the VM cache) and boots it.
 * await probeKvm(vm, `${vmCacheRoot()}/build/profiler-x86/kernel`);
 * // { works: false, reason: "KVM internal error. Suberror: 1 (emulation failure)" } here
 * ```
 */
export async function probeKvm(
  vm: VmSpec,
  kernel: string,
  timeoutMs = KVM_PROBE_TIMEOUT_MS,
): Promise<KvmProbe> {
  const a = ARCHES[vm.arch];
  const t0 = performance.now();
  const lines: string[] = [];
  let timedOut = false;
  let internalError = false;
  const res = await runQemu({
    bin: a.qemu,
    args: [
      ...headlessMachine(vm.arch, {
        accel: "kvm",
        cpu: "host",
        cpus: 1,
        memoryMiB: 256,
      }),
      "-kernel",
      kernel,
      "-append",
      `console=${a.console} panic=-1 quiet nokaslr`,
    ],
    onLine: (l) => lines.push(l),
    onStderrLine: (l) => {
      if (l.startsWith("KVM internal error")) internalError = true;
    },
    check: () => {
      // QEMU pauses the guest after an internal error: stop it at once.
      if (internalError) return "kvm-internal-error";
      if (performance.now() - t0 > timeoutMs) {
        timedOut = true;
        return "timeout";
      }
      return undefined;
    },
  });
  return kvmProbeVerdict({
    code: res.code,
    timedOut,
    console: lines,
    stderr: res.stderr,
    seconds: timedOut ? timeoutMs / 1000 : (performance.now() - t0) / 1000,
  });
}

/** Whether `/dev/kvm` opens read-write. */
export async function kvmDeviceOpens(): Promise<boolean> {
  try {
    const f = await Deno.open("/dev/kvm", { read: true, write: true });
    f.close();
    return true;
  } catch {
    return false;
  }
}

/** The kernel a KVM probe boots, and where its verdict is remembered. */
export interface ProbeTarget {
  /** Boot image of the VM. */
  kernel: string;
  /** Its SHA-256 (part of the remembered verdict's key). */
  sha256: string;
  /** File holding verdicts across runs (e.g. `<cache>/kvm-probe.json`). */
  memoFile?: string;
}

/** The accelerator chosen for a VM, and why. */
export interface AccelChoice {
  accel: Accel;
  why: string;
}

const probeMemo = new Map<string, Promise<KvmProbe>>();

async function rememberedProbe(
  vm: VmSpec,
  target: ProbeTarget,
): Promise<KvmProbe> {
  // Per boot of this host: a reboot (new kernel, KVM module) probes again.
  let bootId = "";
  try {
    bootId = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id"))
      .trim();
  } catch { /* not Linux: the release alone */ }
  const key = [
    bootId,
    Deno.osRelease(),
    ARCHES[vm.arch].qemu,
    target.sha256,
  ].join(" ");
  let memo: Record<string, KvmProbe> = {};
  if (target.memoFile) {
    try {
      memo = JSON.parse(await Deno.readTextFile(target.memoFile));
    } catch { /* none yet, or unreadable: probe again */ }
    if (typeof memo[key]?.works === "boolean") return memo[key];
  }
  let p = probeMemo.get(key);
  if (!p) {
    p = probeKvm(vm, target.kernel);
    probeMemo.set(key, p);
  }
  const probe = await p;
  if (target.memoFile) {
    memo[key] = probe;
    const tmp = `${target.memoFile}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(tmp, JSON.stringify(memo, null, 2) + "\n");
    await Deno.rename(tmp, target.memoFile);
  }
  return probe;
}

/**
 * The accelerator for a VM. An explicit `kvm` or `tcg` wins. `auto` picks
 * KVM only when the guest arch is the host's, `/dev/kvm` opens, and a probe
 * boot of the VM's own kernel under KVM (see {@link probeKvm}) ran to its
 * end; the verdict is remembered per host boot, QEMU and guest kernel.
 * Without a probe target, `auto` means TCG.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseAccel } from "./qemu.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const vm = findVm(await loadVmTable(), "default"); // arm64
 * assert.equal((await chooseAccel(vm, "tcg")).accel, "tcg");
 * if (Deno.build.arch === "x86_64") {
 *   assert.deepEqual(await chooseAccel(vm, "auto"), {
 *     accel: "tcg",
 *     why: "TCG: an arm64 guest on an x86_64 host",
 *   });
 * }
 * ```
 */
export async function chooseAccel(
  vm: VmSpec,
  want: "auto" | Accel,
  target?: ProbeTarget,
): Promise<AccelChoice> {
  if (want !== "auto") return { accel: want, why: `${want} (asked for)` };
  const hostArch = Deno.build.arch === "aarch64" ? "arm64" : "x86_64";
  if (vm.arch !== hostArch) {
    return {
      accel: "tcg",
      why: `TCG: an ${vm.arch} guest on an ${hostArch} host`,
    };
  }
  if (!(await kvmDeviceOpens())) {
    return { accel: "tcg", why: "TCG: /dev/kvm does not open" };
  }
  if (!target) {
    return { accel: "tcg", why: "TCG: KVM not probed yet" };
  }
  const probe = await rememberedProbe(vm, target);
  return probe.works
    ? { accel: "kvm", why: `KVM: probe boot passed (${probe.reason})` }
    : {
      accel: "tcg",
      why:
        `TCG: /dev/kvm opens but a probe boot under KVM failed: ${probe.reason}`,
    };
}

/** Options of {@link runQemu}. */
export interface RunQemuOptions {
  bin: string;
  args: string[];
  /** Called for every console line (without the newline). */
  onLine: (line: string) => void;
  /** Called for every line QEMU writes to its stderr. */
  onStderrLine?: (line: string) => void;
  /**
   * Called every second and on each line; return a reason string to stop
   * QEMU (e.g. a timeout), or undefined to let it run.
   */
  check: () => string | undefined;
  /** After the guest said it is done, how long QEMU may take to exit. */
  exitGraceMs?: number;
}

/** How {@link runQemu} ended. */
export interface RunQemuResult {
  code: number | null;
  /** Set when QEMU was killed: the reason from `check`, or `interrupted`. */
  killed?: string;
  stderr: string;
}

/**
 * Runs `"$@"` (QEMU) and kills it as soon as our end of the wrapper's stdin
 * closes: when we stop it on purpose, and also when this process dies for
 * any reason (uncaught error, SIGKILL, a closed output pipe), so no QEMU is
 * ever left behind.
 */
export const QEMU_WRAPPER = `exec 3<&0
"$@" </dev/null &
q=$!
(read -r _ <&3; kill -9 "$q" 2>/dev/null) &
w=$!
wait "$q"
rc=$?
kill "$w" 2>/dev/null
exit "$rc"`;

interface Live {
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
}

function release(l: Live) {
  l.stdin.close().catch(() => {});
}

/**
 * Runs QEMU (under {@link QEMU_WRAPPER}), streaming its serial console line
 * by line, and kills it when `check` returns a reason. A stop signal
 * (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT: lib/common/signals.ts) kills it with
 * the reason `interrupted` and the caller reports; if this process dies,
 * QEMU dies too. Any program can stand in for QEMU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runQemu } from "./qemu.ts";
 * const lines: string[] = [];
 * const res = await runQemu({
 *   bin: "sh",
 *   args: ["-c", "echo console line; echo oops >&2; exit 4"],
 *   onLine: (l) => lines.push(l),
 *   check: () => undefined,
 * });
 * assert.deepEqual(lines, ["console line"]);
 * assert.equal(res.code, 4);
 * assert.equal(res.stderr, "oops\n");
 * ```
 */
export async function runQemu(options: RunQemuOptions): Promise<RunQemuResult> {
  const o = options;
  const interrupt = interruptSignal();
  if (interrupt.interrupted()) {
    return { code: null, killed: "interrupted", stderr: "" };
  }
  const child = new Deno.Command("sh", {
    args: ["-c", QEMU_WRAPPER, "sh", o.bin, ...o.args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const entry: Live = { child, stdin: child.stdin.getWriter() };
  let killed: string | undefined;
  const stop = (reason: string) => {
    if (killed) return;
    killed = reason;
    release(entry); // the wrapper's watcher kills QEMU
    setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 3000);
  };
  const onInterrupt = () => stop("interrupted");
  interrupt.signal.addEventListener("abort", onInterrupt, { once: true });
  const timer = setInterval(() => {
    const reason = o.check();
    if (reason) stop(reason);
  }, 1000);
  let stderr = "";
  const stderrDone = pumpLines(child.stderr, (line) => {
    stderr += line + "\n";
    o.onStderrLine?.(line);
    const reason = o.check();
    if (reason) stop(reason);
  });
  try {
    await pumpLines(child.stdout, o.onLine, () => {
      const reason = o.check();
      if (reason) stop(reason);
    });
    const status = await child.status;
    await stderrDone;
    return { code: status.code, killed, stderr };
  } finally {
    clearInterval(timer);
    interrupt.signal.removeEventListener("abort", onInterrupt);
    release(entry);
  }
}
