/**
 * Runs the guest command in one VM, or on the host for comparison. A VM run
 * has three parts: {@link prepareVm} (fetch, build, accelerator, run
 * folder), {@link bootVm} (QEMU with its console watched and its time
 * limits), and {@link judgeVmRun} (pass or fail from what the guest
 * reported, a pure function).
 *
 * @module
 */
import { formatBytes } from "../common/format.ts";
import { interruptSignal } from "../common/signals.ts";
import { type Log, planVm } from "./artifacts.ts";
import { vmCacheRoot } from "./cache.ts";
import {
  CHECK_IDS,
  type CheckId,
  isSuiteReport,
  type SuiteReport,
} from "./guest_checks.ts";
import { ensureFixtures } from "./fixtures.ts";
import { MissingToolError } from "./errors.ts";
import { haveCommand } from "./exec.ts";
import { pumpLines } from "./lines.ts";
import {
  type GuestReport,
  parseConsole,
  type QemuOutcome,
  stageOf,
  verdict,
} from "./guest_report.ts";
import {
  ensureBootFiles,
  MARK,
  shellQuote,
  type VmImages,
} from "./initramfs.ts";
import {
  type Accel,
  chooseAccel,
  guestShares,
  qemuArgs,
  runQemu,
  type Share,
} from "./qemu.ts";
import { type Arch, ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/**
 * The suite run in each guest and on the host (guest_suite.ts): the
 * real-kernel tests, validate, a short stability run, the symbolized
 * profile; `checks` narrows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { suiteCommand } from "./run_vm.ts";
 * assert.equal(suiteCommand(["validate"]), "deno run -A lib/vm/guest_suite.ts --checks validate --duration \"$TEST_DURATION\"");
 * ```
 */
export function suiteCommand(checks: readonly CheckId[] = CHECK_IDS): string {
  return `deno run -A lib/vm/guest_suite.ts --checks ${
    checks.join(",")
  } --duration "$TEST_DURATION"`;
}

/** Built-in smoke test: Deno runs, libbpf loads, the ringbuf probe says 1. */
export const SMOKE_CMD = "deno run -A lib/vm/guest_smoke.ts";

/** The project root (two levels above this file). */
export const PROJECT_ROOT = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
).replace(/\/$/, "");

/** Options of {@link runVm} and {@link runHost}. */
export interface RunOptions {
  /** Shell command run from the project root; `$RESULTS` is the results folder. */
  guestCmd: string;
  /** Exported as `$TEST_DURATION` (e.g. `5s`). */
  duration: string;
  /** Whole-run limit once QEMU started, seconds. */
  timeoutS: number;
  /** Limit to reach `/init`, seconds. */
  bootTimeoutS: number;
  accel: "auto" | Accel;
  /** `--kernel-version`: boot exactly this kernel package version. */
  kernelVersion?: string;
  /** Fetch the archive metadata again even if it is recent. */
  refresh?: boolean;
  /** Build the test programs for the host run (default true). */
  fixtures?: boolean;
  /** Host folders shared into the guest at the same path (`--share`). */
  shares?: { path: string; writable: boolean }[];
  /** Cache root (default {@link vmCacheRoot}). */
  root?: string;
  /** Folder shared as the guest's project (default {@link PROJECT_ROOT}). */
  projectDir?: string;
  log?: Log;
  /** Print every console line (default: only the guest command's output). */
  verbose?: boolean;
  /** Print the guest command's output live (default true). */
  showOutput?: boolean;
  /** Receives each output line of the guest command (default: the log). */
  onOutput?: (line: string) => void;
}

/** Times measured for one run, seconds. */
export interface RunTimes {
  /** Fetching, checking and (when needed) building the boot files. */
  setup?: number;
  /** Host wall clock from starting QEMU to `/init` running. */
  qemuToInit?: number;
  /** Guest uptime when `/init` started (kernel boot only). */
  guestBootToInit?: number;
  /** Guest command duration (guest clock). */
  command?: number;
  /** Host wall clock from starting QEMU to its exit. */
  qemu?: number;
  /** Everything, host wall clock. */
  total: number;
}

/**
 * How a run ended: it passed, it failed, it could not run (the machine
 * lacks something: an {@link EnvironmentError}), or a stop signal cut it.
 */
export type RunOutcome = "pass" | "fail" | "cannot-run" | "interrupted";

/** Result of one VM (or host) run. */
export interface VmRunResult {
  vm: string;
  arch: Arch;
  /** Kernel: guest `uname -r` when known, else the package version. */
  kernel: string;
  /** The Debian package the row's kernel line resolved to, and its version. */
  kernelPackage?: string;
  kernelVersion?: string;
  /** CPUs and memory the guest had. */
  cpus?: number;
  memoryMiB?: number;
  pass: boolean;
  outcome: RunOutcome;
  reason: string;
  accel?: Accel | "host";
  /** Why that accelerator (KVM probe verdict, foreign arch...). */
  accelReason?: string;
  unameR?: string;
  unameM?: string;
  exitCode?: number;
  times: RunTimes;
  resultsDir: string;
  consoleLog?: string;
  /** Parsed `suite.json` (else `validate.json`, `smoke.json`) of the run. */
  json?: unknown;
  /** The guest suite's report, when it ran. */
  suite?: SuiteReport;
  /** Last console lines (on failure). */
  lastLines: string[];
  /** Guest kernel log tail (on failure). */
  dmesg: string[];
}

/**
 * `/results/guest.env` for the guest's `/init`: the command and its
 * environment as exported shell variables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { guestEnv } from "./run_vm.ts";
 * assert.equal(
 *   guestEnv({ GUEST_CMD: "echo hi", TEST_DURATION: "5" }),
 *   "GUEST_CMD='echo hi'\nTEST_DURATION='5'\nexport GUEST_CMD TEST_DURATION\n",
 * );
 * ```
 */
export function guestEnv(vars: Record<string, string>): string {
  const names = Object.keys(vars);
  for (const n of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) {
      throw new Error(`bad variable name ${n}`);
    }
  }
  return names.map((n) => `${n}=${shellQuote(vars[n])}\n`).join("") +
    `export ${names.join(" ")}\n`;
}

async function readResultJson(dir: string): Promise<unknown> {
  for (const f of ["suite.json", "validate.json", "smoke.json"]) {
    try {
      return JSON.parse(await Deno.readTextFile(`${dir}/${f}`));
    } catch { /* next */ }
  }
  return undefined;
}

/** Milliseconds to seconds, rounded to 10 ms. */
const toSeconds = (ms: number) => Math.round(ms / 10) / 100;

/** A VM ready to boot: its boot files, accelerator and QEMU command line. */
export interface PreparedVm {
  vm: VmSpec;
  images: VmImages;
  kernelPackage: string;
  kernelVersion: string;
  accel: Accel;
  accelReason: string;
  bin: string;
  args: string[];
  resultsDir: string;
  consoleLog: string;
  /** Seconds spent fetching, checking and building the boot files. */
  setupSeconds: number;
}

/**
 * Fetches and builds what `vm` boots, chooses the accelerator, and writes a
 * fresh run folder (`runs/<vm>/`: guest.env, qemu.cmd). Throws an
 * EnvironmentError when the machine cannot run it (QEMU missing, a download
 * failed).
 */
export async function prepareVm(
  table: VmTable,
  vm: VmSpec,
  options: RunOptions,
): Promise<PreparedVm> {
  const t0 = performance.now();
  const root = options.root ?? vmCacheRoot();
  const log = options.log ?? ((l: string) => console.error(l));
  const projectDir = options.projectDir ?? PROJECT_ROOT;
  const arch = ARCHES[vm.arch];
  if (!(await haveCommand(arch.qemu))) {
    throw new MissingToolError(
      arch.qemu,
      vm.arch === "arm64" ? "qemu-system-arm" : "qemu-system-x86",
    );
  }
  const plan = (await planVm(table, vm, {
    root,
    log,
    kernelVersion: options.kernelVersion,
    refresh: options.refresh,
  }))!;
  const { images } = await ensureBootFiles(table, plan, {
    root,
    log,
    projectRoot: projectDir,
  });
  // After the fetch: a kernel the mirror lacks moves to the next newest.
  log(
    `  ${vm.name}: kernel ${vm.kernel.line} is ${plan.kernel.package} ${plan.kernel.version} (${plan.kernel.suite}${
      plan.kernel.pinned ? ", pinned" : ""
    })`,
  );
  const fixtures = await ensureFixtures(vm.arch, {
    root,
    projectRoot: projectDir,
    log,
  });
  const shares = vmShares(fixtures.dir, options.shares ?? []);
  const t1 = performance.now();
  const choice = await chooseAccel(vm, options.accel, {
    kernel: images.kernel,
    sha256: images.sha256.kernel,
    memoFile: `${root}/kvm-probe.json`,
  });
  log(`  ${vm.name}: ${choice.why}`);
  const resultsDir = `${root}/runs/${vm.name}`;
  const [bin, args] = qemuArgs(vm, {
    accel: choice.accel,
    kernel: images.kernel,
    initramfs: images.initramfs,
    projectDir,
    resultsDir,
    shares,
  });
  await writeRunFolder(resultsDir, {
    GUEST_CMD: options.guestCmd,
    TEST_DURATION: options.duration,
    RESULTS: "/results",
    FIXTURES: "/fixtures",
    SHARES: guestShares(shares),
    ACCEL: choice.accel,
  }, [bin, ...args]);
  log(
    `  boot ${vm.name}: ${bin} (${choice.accel}, ${vm.cpus} CPUs, ${vm.memoryMiB} MiB), kernel ${images.kernelRelease}, initramfs ${
      formatBytes((await Deno.stat(images.initramfs)).size)
    }`,
  );
  return {
    vm,
    images,
    kernelPackage: plan.kernel.package,
    kernelVersion: plan.kernel.version,
    accel: choice.accel,
    accelReason: choice.why,
    bin,
    args,
    resultsDir,
    consoleLog: `${resultsDir}/console.log`,
    setupSeconds: toSeconds(t1 - t0),
  };
}

/**
 * The folders a guest mounts besides the project and its results: its
 * arch's test programs at `/fixtures`, then each `--share` at its own path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmShares } from "./run_vm.ts";
 * assert.deepEqual(vmShares("/c/fixtures/arm64", [{ path: "/src", writable: true }]), [
 *   { tag: "fixtures", hostPath: "/c/fixtures/arm64", guestPath: "/fixtures", readonly: true },
 *   { tag: "share0", hostPath: "/src", guestPath: "/src", readonly: false },
 * ]);
 * ```
 */
export function vmShares(
  fixturesDir: string,
  shares: { path: string; writable: boolean }[],
): Share[] {
  return [
    {
      tag: "fixtures",
      hostPath: fixturesDir,
      guestPath: "/fixtures",
      readonly: true,
    },
    ...shares.map((s, i) => ({
      tag: `share${i}`,
      hostPath: s.path,
      guestPath: s.path,
      readonly: !s.writable,
    })),
  ];
}

/** A fresh run folder: `guest.env` for the guest, `qemu.cmd` for people. */
async function writeRunFolder(
  dir: string,
  env: Record<string, string>,
  command: string[],
): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/guest.env`, guestEnv(env));
  await Deno.writeTextFile(
    `${dir}/qemu.cmd`,
    command.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : shellQuote(a))
      .join(" ") + "\n",
  );
}

/** What a boot left: the console and how QEMU ended, with times. */
export interface BootRecord {
  lines: string[];
  report: GuestReport;
  outcome: QemuOutcome;
  /** Host seconds from QEMU start to `/init`, and to QEMU's exit. */
  qemuToInit?: number;
  qemuSeconds: number;
}

/**
 * Boots a prepared VM and watches its console until the guest is done, a
 * time limit passes, or a stop signal arrives; the console is kept in
 * `console.log` of the run folder.
 */
export async function bootVm(
  prepared: PreparedVm,
  options: RunOptions,
): Promise<BootRecord> {
  const log = options.log ?? ((l: string) => console.error(l));
  const name = prepared.vm.name;
  const logFile = await Deno.open(prepared.consoleLog, {
    write: true,
    create: true,
    truncate: true,
  });
  const lines: string[] = [];
  let report: GuestReport = parseConsole([]);
  const qemuStart = performance.now();
  let initAt: number | undefined;
  let doneAt: number | undefined;
  let inCommand = false;
  const encoder = new TextEncoder();
  const showOutput = options.showOutput ?? true;
  let timedOut: { seconds: number; stage: string } | undefined;
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 5000) lines.splice(0, 1000);
    logFile.writeSync(encoder.encode(line + "\n"));
    const isMark = line.includes(MARK + " ");
    if (isMark) {
      report = parseConsole(lines);
      if (report.bootToInit !== undefined && initAt === undefined) {
        initAt = performance.now();
        log(
          `  ${name}: init after ${
            report.bootToInit.toFixed(2)
          } s guest uptime, ${toSeconds(initAt - qemuStart)} s wall`,
        );
      }
      if (line.includes(`${MARK} start`)) inCommand = true;
      if (line.includes(`${MARK} end`)) inCommand = false;
      if (report.done && doneAt === undefined) doneAt = performance.now();
    }
    if (options.verbose) log(`  [${name}] ${line}`);
    else if (showOutput && inCommand && !isMark) {
      (options.onOutput ?? ((l: string) => log(`  ${name} | ${l}`)))(line);
    }
  };
  const check = () => {
    const now = performance.now();
    const elapsed = (now - qemuStart) / 1000;
    if (doneAt !== undefined && now - doneAt > 10_000) return "exit-grace";
    if (initAt === undefined && elapsed > options.bootTimeoutS) {
      timedOut = { seconds: options.bootTimeoutS, stage: stageOf(report) };
      return "timeout";
    }
    if (elapsed > options.timeoutS) {
      timedOut = { seconds: options.timeoutS, stage: stageOf(report) };
      return "timeout";
    }
    return undefined;
  };
  let qemuEnd: number;
  let result;
  try {
    result = await runQemu({
      bin: prepared.bin,
      args: prepared.args,
      onLine,
      check,
    });
  } finally {
    logFile.close();
    qemuEnd = performance.now();
  }
  if (result.stderr.trim()) {
    await Deno.writeTextFile(
      `${prepared.resultsDir}/qemu.stderr`,
      result.stderr,
    );
  }
  return {
    lines,
    report: parseConsole(lines),
    outcome: {
      code: result.code,
      stderr: result.stderr,
      timedOut,
      interrupted: result.killed === "interrupted",
    },
    qemuToInit: initAt !== undefined
      ? toSeconds(initAt - qemuStart)
      : undefined,
    qemuSeconds: toSeconds(qemuEnd - qemuStart),
  };
}

/**
 * The verdict of a VM run: the guest's own report and how QEMU ended
 * ({@link verdict}), and the guest's `uname -m` must be the arch's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConsole } from "./guest_report.ts";
 * import { judgeVmRun } from "./run_vm.ts";
 * const report = parseConsole([
 *   "@@streamprof boot-to-init 1.2", "@@streamprof uname-m x86_64",
 *   "@@streamprof exit 0", "@@streamprof done",
 * ]);
 * assert.deepEqual(judgeVmRun(report, { code: 0 }, "arm64"), {
 *   pass: false,
 *   outcome: "fail",
 *   reason: "guest uname -m is x86_64, expected aarch64",
 * });
 * assert.equal(judgeVmRun(report, { code: 0 }, "x86_64").outcome, "pass");
 * assert.equal(judgeVmRun(report, { code: null, interrupted: true }, "x86_64").outcome, "interrupted");
 * ```
 */
export function judgeVmRun(
  report: GuestReport,
  outcome: QemuOutcome,
  arch: Arch,
): { pass: boolean; outcome: RunOutcome; reason: string } {
  const v = verdict(report, outcome);
  if (outcome.interrupted) {
    return { pass: false, outcome: "interrupted", reason: v.reason };
  }
  if (v.pass && report.unameM && report.unameM !== ARCHES[arch].uname) {
    return {
      pass: false,
      outcome: "fail",
      reason: `guest uname -m is ${report.unameM}, expected ${
        ARCHES[arch].uname
      }`,
    };
  }
  return { pass: v.pass, outcome: v.pass ? "pass" : "fail", reason: v.reason };
}

/**
 * Fetches, builds and boots one VM, runs the guest command in it and returns
 * the verdict with timings. Never throws for guest failures (they are
 * results); throws an EnvironmentError for setup problems the caller should
 * report (missing QEMU, download failure).
 *
 * @example
 * ```ts ignore
 * // ignored: boots a VM, which needs the VM cache (about 1 GB) and QEMU.
 * const r = await runVm(table, findVm(table, "default"), {
 *   guestCmd: SMOKE_CMD, duration: "5s", timeoutS: 300, bootTimeoutS: 120, accel: "auto",
 * });
 * assert.equal(r.unameM, "aarch64");
 * ```
 */
export async function runVm(
  table: VmTable,
  vm: VmSpec,
  options: RunOptions,
): Promise<VmRunResult> {
  const t0 = performance.now();
  const prepared = await prepareVm(table, vm, options);
  return await bootAndJudge(prepared, options, t0);
}

/**
 * Boots a prepared VM, judges the run and gathers its result; `t0` is when
 * its preparation started (for the total wall time).
 */
export async function bootAndJudge(
  prepared: PreparedVm,
  options: RunOptions,
  t0: number,
): Promise<VmRunResult> {
  const vm = prepared.vm;
  const boot = await bootVm(prepared, options);
  const judged = judgeVmRun(boot.report, boot.outcome, vm.arch);
  const r = boot.report;
  const json = await readResultJson(prepared.resultsDir);
  return {
    vm: vm.name,
    arch: vm.arch,
    kernel: r.unameR ?? prepared.images.kernelRelease,
    kernelPackage: prepared.kernelPackage,
    kernelVersion: prepared.kernelVersion,
    cpus: vm.cpus,
    memoryMiB: vm.memoryMiB,
    ...judged,
    accel: prepared.accel,
    accelReason: prepared.accelReason,
    unameR: r.unameR,
    unameM: r.unameM,
    exitCode: r.exitCode,
    times: {
      setup: prepared.setupSeconds,
      qemuToInit: boot.qemuToInit,
      guestBootToInit: r.bootToInit,
      command: r.start !== undefined && r.end !== undefined
        ? Math.round((r.end - r.start) * 100) / 100
        : undefined,
      qemu: boot.qemuSeconds,
      total: toSeconds(performance.now() - t0),
    },
    resultsDir: prepared.resultsDir,
    consoleLog: prepared.consoleLog,
    json,
    suite: isSuiteReport(json) ? json : undefined,
    lastLines: judged.pass ? [] : boot.lines.slice(-40),
    dmesg: r.dmesg,
  };
}

/**
 * Runs the same command on the host (the "host" column of the results
 * table), from the project root, with the running Deno first on PATH. A
 * stop signal kills it (outcome `interrupted`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runHost } from "./run_vm.ts";
 * const root = await Deno.makeTempDir();
 * const r = await runHost({
 *   guestCmd: "echo $TEST_DURATION > $RESULTS/d.txt", duration: "3s",
 *   timeoutS: 30, bootTimeoutS: 0, accel: "auto", root, log: () => {}, fixtures: false,
 * });
 * assert.equal(r.outcome, "pass");
 * assert.equal(await Deno.readTextFile(`${root}/runs/host/d.txt`), "3s\n");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function runHost(options: RunOptions): Promise<VmRunResult> {
  const t0 = performance.now();
  const root = options.root ?? vmCacheRoot();
  const log = options.log ?? ((l: string) => console.error(l));
  const projectDir = options.projectDir ?? PROJECT_ROOT;
  const resultsDir = `${root}/runs/host`;
  await Deno.remove(resultsDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(resultsDir, { recursive: true });
  const arch: Arch = Deno.build.arch === "aarch64" ? "arm64" : "x86_64";
  const fixtures = options.fixtures === false
    ? undefined
    : await ensureFixtures(
      arch,
      { root, projectRoot: projectDir, log },
    );
  log(`  host: ${options.guestCmd}`);
  const child = new Deno.Command("sh", {
    args: ["-c", options.guestCmd],
    cwd: projectDir,
    env: {
      TEST_DURATION: options.duration,
      RESULTS: resultsDir,
      ACCEL: "host",
      ...(fixtures ? { FIXTURES: fixtures.dir } : {}),
      // `deno` = the binary running this, whatever the PATH holds.
      PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:${
        Deno.env.get("PATH") ?? ""
      }`,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stopped: "timeout" | "interrupted" | undefined;
  const kill = (why: "timeout" | "interrupted") => {
    stopped ??= why;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  };
  const interrupt = interruptSignal();
  const onInterrupt = () => kill("interrupted");
  interrupt.signal.addEventListener("abort", onInterrupt, { once: true });
  if (interrupt.interrupted()) kill("interrupted");
  const timer = setTimeout(() => kill("timeout"), options.timeoutS * 1000);
  const lines: string[] = [];
  const show = options.showOutput ?? true;
  const emit = options.onOutput ?? ((x: string) => log(`  host | ${x}`));
  const outputLog = await Deno.open(`${resultsDir}/output.log`, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  const line = (l: string) => {
    lines.push(l);
    if (lines.length > 5000) lines.splice(0, 1000);
    outputLog.writeSync(encoder.encode(l + "\n"));
    if (show) emit(l);
  };
  const [status] = await Promise.all([
    child.status,
    pumpLines(child.stdout, line),
    pumpLines(child.stderr, line),
  ]);
  outputLog.close();
  clearTimeout(timer);
  interrupt.signal.removeEventListener("abort", onInterrupt);
  const json = await readResultJson(resultsDir);
  const pass = stopped === undefined && status.code === 0;
  return {
    vm: "host",
    arch,
    kernel: Deno.osRelease(),
    cpus: navigator.hardwareConcurrency,
    pass,
    outcome: pass ? "pass" : stopped === "interrupted" ? "interrupted" : "fail",
    reason: stopped === "timeout"
      ? `timeout after ${options.timeoutS} s`
      : stopped === "interrupted"
      ? "interrupted"
      : `command exited ${status.code}`,
    accel: "host",
    unameR: Deno.osRelease(),
    unameM: ARCHES[arch].uname,
    exitCode: status.code,
    times: { total: toSeconds(performance.now() - t0) },
    resultsDir,
    json,
    suite: isSuiteReport(json) ? json : undefined,
    lastLines: pass ? [] : lines.slice(-40),
    dmesg: [],
  };
}
