/**
 * QEMU: command line, accelerator choice, and a supervised run that captures
 * the serial console, enforces timeouts and never leaves a QEMU behind
 * (killed on timeout, on Ctrl-C/SIGTERM and on any error).
 *
 * @module
 */
import { ARCHES, type VmSpec } from "./vms.ts";

/** Accelerator for a guest. */
export type Accel = "kvm" | "tcg";

/** Inputs of {@link qemuArgs}. */
export interface QemuArgsOptions {
  accel: Accel;
  kernel: string;
  initramfs: string;
  /** Host folder shared read-only as 9p tag `project`. */
  projectDir: string;
  /** Host folder shared writable as 9p tag `results`. */
  resultsDir: string;
  /** Extra kernel command line words. */
  extraCmdline?: string[];
}

/**
 * Kernel command line for a guest.
 *
 * @example
 * ```ts
 * kernelCmdline("arm64"); // "console=ttyAMA0 panic=-1 quiet rdinit=/init ..."
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
 * QEMU binary and arguments to boot a VM with the serial console on stdout.
 *
 * @example
 * ```ts
 * import { findVm, loadVmTable } from "./vms.ts";
 * const vm = findVm(await loadVmTable(), "default");
 * const [bin, args] = qemuArgs(vm, { accel: "tcg", kernel: "k", initramfs: "i", projectDir: "/p", resultsDir: "/r" });
 * bin; // "qemu-system-aarch64"
 * args.includes("virt"); // true
 * ```
 */
export function qemuArgs(
  vm: VmSpec,
  o: QemuArgsOptions,
): [string, string[]] {
  const a = ARCHES[vm.arch];
  const machine = vm.arch === "arm64" ? ["-M", "virt"] : ["-M", "pc"];
  const cpu = o.accel === "kvm"
    ? "host"
    : vm.arch === "arm64"
    ? "max,pauth-impdef=on"
    : "max";
  const fsdev = (id: string, path: string, ro: boolean) => [
    "-fsdev",
    `local,id=${id},path=${path},security_model=none,multidevs=remap${
      ro ? ",readonly=on" : ""
    }`,
    "-device",
    `virtio-9p-pci,fsdev=${id},mount_tag=${id}`,
  ];
  return [a.qemu, [
    ...machine,
    "-accel",
    o.accel,
    "-cpu",
    cpu,
    "-smp",
    String(vm.cpus),
    "-m",
    `${vm.memoryMiB}M`,
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
    "-kernel",
    o.kernel,
    "-initrd",
    o.initramfs,
    "-append",
    kernelCmdline(vm.arch, o.extraCmdline),
    ...fsdev("project", o.projectDir, true),
    ...fsdev("results", o.resultsDir, false),
    "-device",
    "virtio-rng-pci",
  ]];
}

let kvmProbe: Promise<boolean> | undefined;

/**
 * Whether KVM can run an x86_64 guest here: `/dev/kvm` opens and QEMU starts
 * a `-cpu host` machine with it. (Some hosts expose a /dev/kvm that QEMU
 * cannot use; the probe catches that.) Cached per process.
 *
 * @example
 * ```ts
 * await kvmWorks(); // false on hosts without hardware virtualisation
 * ```
 */
export function kvmWorks(): Promise<boolean> {
  kvmProbe ??= (async () => {
    try {
      const f = await Deno.open("/dev/kvm", { read: true, write: true });
      f.close();
    } catch {
      return false;
    }
    try {
      const child = new Deno.Command("qemu-system-x86_64", {
        args: [
          "-accel",
          "kvm",
          "-cpu",
          "host",
          "-nodefaults",
          "-display",
          "none",
          "-S",
          "-qmp",
          "stdio",
        ],
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(
        new TextEncoder().encode(
          '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
        ),
      );
      await w.close();
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const st = await child.status;
      clearTimeout(timer);
      return st.success;
    } catch {
      return false;
    }
  })();
  return kvmProbe;
}

/**
 * The accelerator for a VM: KVM when requested or auto-detected (guest arch
 * equals the host's and {@link kvmWorks}), else TCG.
 *
 * @example
 * ```ts
 * import { findVm, loadVmTable } from "./vms.ts";
 * const vm = findVm(await loadVmTable(), "default");
 * await chooseAccel(vm, "auto"); // "tcg" here
 * ```
 */
export async function chooseAccel(
  vm: VmSpec,
  want: "auto" | Accel,
): Promise<Accel> {
  if (want !== "auto") return want;
  const hostArch = Deno.build.arch === "aarch64" ? "arm64" : "x86_64";
  if (vm.arch !== hostArch) return "tcg";
  return (await kvmWorks()) ? "kvm" : "tcg";
}

/** Options of {@link runQemu}. */
export interface RunQemuOptions {
  bin: string;
  args: string[];
  /** Called for every console line (without the newline). */
  onLine: (line: string) => void;
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

const live = new Set<Live>();
let signalsInstalled = false;

function release(l: Live) {
  l.stdin.close().catch(() => {});
}

function installSignals() {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    try {
      Deno.addSignalListener(sig, () => {
        for (const l of live) release(l);
        console.error(`\nvm: ${sig}: stopping QEMU`);
        // Exiting closes the wrappers' stdin: their watchers kill QEMU.
        Deno.exit(130);
      });
    } catch { /* signal not supported here */ }
  }
}

/**
 * Runs QEMU (under {@link QEMU_WRAPPER}), streaming its serial console line
 * by line, and kills it when `check` returns a reason. Ctrl-C/SIGTERM kill
 * every QEMU started here and exit 130; if this process dies, QEMU dies too.
 *
 * @example
 * ```ts ignore
 * // bin, args: from qemuArgs
 * const res = await runQemu({ bin, args, onLine: console.log, check: () => undefined });
 * res.code; // 0
 * ```
 */
export async function runQemu(o: RunQemuOptions): Promise<RunQemuResult> {
  installSignals();
  const child = new Deno.Command("sh", {
    args: ["-c", QEMU_WRAPPER, "sh", o.bin, ...o.args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const entry: Live = { child, stdin: child.stdin.getWriter() };
  live.add(entry);
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
  const timer = setInterval(() => {
    const r = o.check();
    if (r) stop(r);
  }, 1000);
  const stderrP = new Response(child.stderr).text();
  try {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of child.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        o.onLine(buf.slice(0, nl).replace(/\r$/, ""));
        buf = buf.slice(nl + 1);
      }
      const r = o.check();
      if (r) stop(r);
    }
    if (buf) o.onLine(buf);
    const status = await child.status;
    return { code: status.code, killed, stderr: await stderrP };
  } finally {
    clearInterval(timer);
    release(entry);
    live.delete(entry);
  }
}
