/**
 * Runs the guest command in one VM (fetch → build → boot → verdict), or on
 * the host for comparison.
 *
 * @module
 */
import {
  ensureVmArtifacts,
  formatBytes,
  type Log,
  vmCacheRoot,
} from "./artifacts.ts";
import { haveCommand } from "./exec.ts";
import {
  type GuestReport,
  parseConsole,
  stageOf,
  verdict,
} from "./guest_report.ts";
import { buildVmImages, MARK, shellQuote } from "./initramfs.ts";
import { type Accel, chooseAccel, qemuArgs, runQemu } from "./qemu.ts";
import { type Arch, ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/** The validation suite, run from the project root (guest or host). */
export const VALIDATE_CMD =
  "deno run -A cli.ts validate --rates 1000,10000 --duration $TEST_DURATION --json $RESULTS/validate.json --junit $RESULTS/validate.xml";

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
  root?: string;
  projectDir?: string;
  log?: Log;
  /** Print every console line (default: only the guest command's output). */
  verbose?: boolean;
  /** Print the guest command's output live (default true). */
  showOutput?: boolean;
}

/** Times measured for one run, seconds. */
export interface RunTimes {
  /** Fetching and verifying artifacts. */
  fetch?: number;
  /** Building (or verifying the cached) kernel image and initramfs. */
  build?: number;
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

/** Result of one VM (or host) run. */
export interface VmRunResult {
  vm: string;
  arch: Arch;
  /** Kernel: guest `uname -r` when known, else the package version. */
  kernel: string;
  pass: boolean;
  reason: string;
  accel?: Accel | "host";
  unameR?: string;
  unameM?: string;
  exitCode?: number;
  times: RunTimes;
  resultsDir: string;
  consoleLog?: string;
  /** Parsed `validate.json` (else `smoke.json`) from the results folder. */
  json?: unknown;
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
 * guestEnv({ GUEST_CMD: "echo hi", TEST_DURATION: "5" });
 * // "GUEST_CMD='echo hi'\nTEST_DURATION='5'\nexport GUEST_CMD TEST_DURATION\n"
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
  for (const f of ["validate.json", "smoke.json"]) {
    try {
      return JSON.parse(await Deno.readTextFile(`${dir}/${f}`));
    } catch { /* next */ }
  }
  return undefined;
}

const secs = (ms: number) => Math.round(ms / 10) / 100;

/**
 * Fetches, builds and boots one VM, runs the guest command in it and returns
 * the verdict with timings. Never throws for guest failures (they are
 * results); throws only for setup problems the caller should report
 * (missing QEMU, download failure).
 *
 * @example
 * ```ts ignore
 * const r = await runVm(table, findVm(table, "default"), {
 *   guestCmd: SMOKE_CMD, duration: "5s", timeoutS: 300, bootTimeoutS: 120, accel: "auto",
 * });
 * r.pass; // true
 * r.unameM; // "aarch64"
 * ```
 */
export async function runVm(
  table: VmTable,
  vm: VmSpec,
  o: RunOptions,
): Promise<VmRunResult> {
  const t0 = performance.now();
  const root = o.root ?? vmCacheRoot();
  const log = o.log ?? ((l: string) => console.error(l));
  const projectDir = o.projectDir ?? PROJECT_ROOT;
  const arch = ARCHES[vm.arch];
  if (!(await haveCommand(arch.qemu))) {
    throw new Error(
      `${arch.qemu} not found: apt-get install ${
        vm.arch === "arm64" ? "qemu-system-arm" : "qemu-system-x86"
      }`,
    );
  }
  const art = await ensureVmArtifacts(table, vm, {
    root,
    log,
    projectRoot: projectDir,
  });
  const t1 = performance.now();
  const img = await buildVmImages(table, vm, art, { root, log });
  const t2 = performance.now();

  const resultsDir = `${root}/runs/${vm.name}`;
  await Deno.remove(resultsDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(resultsDir, { recursive: true });
  await Deno.writeTextFile(
    `${resultsDir}/guest.env`,
    guestEnv({
      GUEST_CMD: o.guestCmd,
      TEST_DURATION: o.duration,
      RESULTS: "/results",
    }),
  );
  const choice = await chooseAccel(vm, o.accel, {
    kernel: img.kernel,
    sha256: img.sha256.kernel,
    memoFile: `${root}/kvm-probe.json`,
  });
  const accel = choice.accel;
  log(`  ${vm.name}: ${choice.why}`);
  const [bin, args] = qemuArgs(vm, {
    accel,
    kernel: img.kernel,
    initramfs: img.initramfs,
    projectDir,
    resultsDir,
  });
  const consoleLog = `${resultsDir}/console.log`;
  const logFile = await Deno.open(consoleLog, {
    write: true,
    create: true,
    truncate: true,
  });
  log(
    `  boot ${vm.name}: ${bin} (${accel}, ${vm.cpus} CPUs, ${vm.memoryMiB} MiB), kernel ${img.kernelRelease}, initramfs ${
      formatBytes((await Deno.stat(img.initramfs)).size)
    }`,
  );
  await Deno.writeTextFile(
    `${resultsDir}/qemu.cmd`,
    [bin, ...args].map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : shellQuote(a))
      .join(" ") + "\n",
  );

  const lines: string[] = [];
  let report: GuestReport = parseConsole([]);
  const qStart = performance.now();
  let initAt: number | undefined;
  let doneAt: number | undefined;
  let inCommand = false;
  const enc = new TextEncoder();
  const showOutput = o.showOutput ?? true;
  let timedOut: { seconds: number; stage: string } | undefined;
  const res = await runQemu({
    bin,
    args,
    onLine: (line) => {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
      logFile.writeSync(enc.encode(line + "\n"));
      const isMark = line.includes(MARK + " ");
      if (isMark) {
        report = parseConsole(lines);
        if (report.bootToInit !== undefined && initAt === undefined) {
          initAt = performance.now();
          log(
            `  ${vm.name}: init after ${
              report.bootToInit.toFixed(2)
            } s guest uptime, ${secs(initAt - qStart)} s wall`,
          );
        }
        if (line.includes(`${MARK} start`)) inCommand = true;
        if (line.includes(`${MARK} end`)) inCommand = false;
        if (report.done && doneAt === undefined) doneAt = performance.now();
      }
      if (o.verbose) log(`  [${vm.name}] ${line}`);
      else if (showOutput && inCommand && !isMark) log(`  | ${line}`);
    },
    check: () => {
      const now = performance.now();
      const elapsed = (now - qStart) / 1000;
      if (doneAt !== undefined && now - doneAt > 10_000) return "exit-grace";
      if (initAt === undefined && elapsed > o.bootTimeoutS) {
        timedOut = { seconds: o.bootTimeoutS, stage: stageOf(report) };
        return "timeout";
      }
      if (elapsed > o.timeoutS) {
        timedOut = { seconds: o.timeoutS, stage: stageOf(report) };
        return "timeout";
      }
      return undefined;
    },
  });
  logFile.close();
  const qEnd = performance.now();
  report = parseConsole(lines);
  const v = verdict(report, {
    code: res.code,
    stderr: res.stderr,
    timedOut,
    interrupted: res.killed === "interrupted",
  });
  let reason = v.reason;
  let pass = v.pass;
  if (pass && report.unameM && report.unameM !== arch.uname) {
    pass = false;
    reason = `guest uname -m is ${report.unameM}, expected ${arch.uname}`;
  }
  if (res.stderr.trim()) {
    await Deno.writeTextFile(`${resultsDir}/qemu.stderr`, res.stderr);
  }
  const json = await readResultJson(resultsDir);
  return {
    vm: vm.name,
    arch: vm.arch,
    kernel: report.unameR ?? img.kernelRelease,
    pass,
    reason,
    accel,
    unameR: report.unameR,
    unameM: report.unameM,
    exitCode: report.exitCode,
    times: {
      fetch: secs(t1 - t0),
      build: secs(t2 - t1),
      qemuToInit: initAt !== undefined ? secs(initAt - qStart) : undefined,
      guestBootToInit: report.bootToInit,
      command: report.start !== undefined && report.end !== undefined
        ? Math.round((report.end - report.start) * 100) / 100
        : undefined,
      qemu: secs(qEnd - qStart),
      total: secs(qEnd - t0),
    },
    resultsDir,
    consoleLog,
    json,
    lastLines: pass ? [] : lines.slice(-40),
    dmesg: report.dmesg,
  };
}

/**
 * Runs the same command on the host (the "host" column of the results
 * table), from the project root, with the running Deno first on PATH.
 *
 * @example
 * ```ts ignore
 * const h = await runHost({ guestCmd: VALIDATE_CMD, duration: "5s", timeoutS: 300, bootTimeoutS: 0, accel: "auto" });
 * h.kernel; // "6.18.44-…"
 * ```
 */
export async function runHost(o: RunOptions): Promise<VmRunResult> {
  const t0 = performance.now();
  const root = o.root ?? vmCacheRoot();
  const log = o.log ?? ((l: string) => console.error(l));
  const projectDir = o.projectDir ?? PROJECT_ROOT;
  const resultsDir = `${root}/runs/host`;
  await Deno.remove(resultsDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(resultsDir, { recursive: true });
  const arch: Arch = Deno.build.arch === "aarch64" ? "arm64" : "x86_64";
  log(`  host: ${o.guestCmd}`);
  const child = new Deno.Command("sh", {
    args: ["-c", o.guestCmd],
    cwd: projectDir,
    env: {
      TEST_DURATION: o.duration,
      RESULTS: resultsDir,
      // `deno` = the binary running this, whatever the PATH holds.
      PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:${
        Deno.env.get("PATH") ?? ""
      }`,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, o.timeoutS * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  await Deno.writeTextFile(`${resultsDir}/output.log`, text);
  const lines = text.split("\n");
  if (o.showOutput ?? true) {
    for (const l of lines) if (l) log(`  | ${l}`);
  }
  const pass = !timedOut && out.code === 0;
  return {
    vm: "host",
    arch,
    kernel: Deno.osRelease(),
    pass,
    reason: timedOut
      ? `timeout after ${o.timeoutS} s`
      : `command exited ${out.code}`,
    accel: "host",
    unameR: Deno.osRelease(),
    unameM: ARCHES[arch].uname,
    exitCode: out.code,
    times: { total: secs(performance.now() - t0) },
    resultsDir,
    json: await readResultJson(resultsDir),
    lastLines: pass ? [] : lines.slice(-40),
    dmesg: [],
  };
}
