/**
 * The `test` command of the VM runner (`deno task test:vm`): its options
 * parsed into a {@link TestPlan}, the plan run (guests prepared in turn and
 * booted `--jobs` at a time, then the host), the exit code decided from the
 * outcomes, and the report rendered and written.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  parseBytes,
  parseDuration,
  parsePositiveInt,
  parsePositiveNumber,
} from "../common/args.ts";
import {
  EnvironmentError,
  ExitCode,
  type ExitCodeValue,
  UsageError,
} from "../common/errors.ts";
import { checkWritable, writeOutputs } from "../common/output_file.ts";
import { interruptSignal } from "../common/signals.ts";
import { CHECK_IDS, type CheckId } from "./guest_checks.ts";
import { shellQuote } from "./initramfs.ts";
import { renderResultsTable } from "./results_table.ts";
import {
  bootAndJudge,
  type PreparedVm,
  prepareVm,
  PROJECT_ROOT,
  runHost,
  type RunOptions,
  SMOKE_CMD,
  suiteCommand,
  type VmRunResult,
} from "./run_vm.ts";
import { matrixCounts, matrixJUnit, matrixTable } from "./suite_report.ts";
import { loadVmTable, selectVms, type VmSpec, type VmTable } from "./vms.ts";

/**
 * Guests booted at once by default. Measured here (2 cores shared with
 * other work, TCG, the whole suite, TEST_DURATION=3s, six VMs and the
 * host): 1 at once 767 s, 2 at once 582 s, 3 at once 502 s. A guest spends
 * much of the suite waiting (sampling durations, timers, 9p), so three
 * overlap well; the memory they take (3 x 1.5 GiB) is there. See
 * lib/vm/README.md.
 */
export const DEFAULT_JOBS = 3;

/** Usage of `test`. */
export const TEST_HELP =
  `Usage: deno task test:vm <vm|all|host> [options] [-- command [args...]]

Boots the VM(s) under QEMU (KVM when a probe boot of the guest's kernel
under KVM runs to its end, else TCG) with the project shared read-only
over 9p (a writable overlay on top) and runs, as root from the project root:

  by default, the suite (lib/vm/guest_suite.ts): the real-kernel tests of
  tests/kernel, validate at 1 and 10 kHz, a short stability run and the
  symbolized-profile check; one table, a row per check, a column per VM;
  after --, any command: its output is printed and, for one VM, the exit
  status is the command's.

'all' is every row of lib/vm/vms.json plus the host; 'host' the host only.
Each row names a kernel line; it is resolved to the newest package of that
line in the row's suites from Debian's signed metadata (gpgv, checksums).

Options:
  --checks LIST      only these checks: ${CHECK_IDS.join(",")}
  --duration TIME    TEST_DURATION for validate and stability (default
                     $TEST_DURATION or 5s)
  --kernel-version V boot exactly this kernel package version (one VM)
  --refresh          fetch the archive metadata again (default: when a
                     day old)
  --share DIR[:rw]   make DIR visible in the guest at the same path
                     (read-only unless :rw); repeatable
  --cpus N           vCPUs (default: the row's)
  --memory SIZE      guest memory, e.g. 2G or 1536M; a plain number is MiB
  --jobs N           guests running at once (default ${DEFAULT_JOBS})
  --guest-cmd SH     a shell command line to run instead of the suite
  --smoke            Deno starts, libbpf loads, the ringbuf probe says 1
  --timeout SEC      limit per VM once QEMU started (default 900 + 10 x
                     duration)
  --boot-timeout SEC limit to reach the guest's init (default 120)
  --accel A          auto, kvm or tcg
  --host / --no-host run on the host too (default only for 'all')
  --full             also every metric of the runs' JSON
  --json FILE        results as JSON (default out/vm-results.json)
  --junit FILE       JUnit XML (default out/vm-results.xml)
  -v, --verbose      print the whole guest console
  -q, --quiet        do not print the guests' output (after --: print
                     only the command's output, no progress)
  -h, --help         this text

Exit codes: 0 every run passed, 1 a run failed (or Ctrl-C stopped it), 2
usage error, 3 cannot run (QEMU missing, download failed), 70 a bug; after
-- with one VM, the command's own exit status once the guest ran it.`;

const log = (line: string) => console.error(line);

/** What `test` was asked to do, every option checked. */
export interface TestPlan {
  table: VmTable;
  vms: VmSpec[];
  withHost: boolean;
  run: RunOptions;
  /** `-- command...`: print its output, return its status (one VM). */
  command: boolean;
  jobs: number;
  full: boolean;
  jsonPath: string;
  junitPath: string;
}

/**
 * `--memory`: a size with a unit, or a plain number of MiB; at least 256
 * MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMemoryMiB } from "./test_command.ts";
 * assert.equal(parseMemoryMiB("2G"), 2048);
 * assert.equal(parseMemoryMiB("1536"), 1536);
 * assert.throws(() => parseMemoryMiB("100M"), /--memory must be/);
 * ```
 */
export function parseMemoryMiB(text: string): number {
  const bytes = /^\s*\d+\s*$/.test(text)
    ? parsePositiveInt(text, "--memory") * 2 ** 20
    : parseBytes(text, "--memory", { min: 256 * 2 ** 20, max: 2 ** 40 });
  if (bytes < 256 * 2 ** 20 || bytes % 2 ** 20 !== 0) {
    throw new UsageError(
      `--memory must be a whole number of MiB, at least 256 MiB, got "${text}"`,
    );
  }
  return bytes / 2 ** 20;
}

/**
 * `--share DIR[:rw]`: an existing folder (made absolute) without spaces or
 * colons in its path.
 */
export function parseShare(text: string): { path: string; writable: boolean } {
  const writable = text.endsWith(":rw");
  const raw = writable ? text.slice(0, -3) : text.replace(/:ro$/, "");
  if (raw.trim() === "") throw new UsageError("--share needs a folder");
  const path = raw.startsWith("/") ? raw : `${Deno.cwd()}/${raw}`;
  const clean = path.replace(/\/+$/, "").replace(/\/\.(?=\/|$)/g, "") || "/";
  if (/[\s:,]/.test(clean)) {
    throw new UsageError(
      `--share ${text}: the path must not contain spaces, colons or commas`,
    );
  }
  try {
    if (!Deno.statSync(clean).isDirectory) throw new Error("not a folder");
  } catch (err) {
    throw new UsageError(
      `--share ${text}: ${clean} is not a folder (${(err as Error).message})`,
    );
  }
  if (["/", "/proc", "/sys", "/dev"].includes(clean)) {
    throw new UsageError(`--share ${clean}: not that folder`);
  }
  return { path: clean, writable };
}

/** The options of `test`, for node:util parseArgs. */
const TEST_OPTIONS = {
  "guest-cmd": { type: "string" },
  smoke: { type: "boolean" },
  checks: { type: "string" },
  duration: { type: "string" },
  "kernel-version": { type: "string" },
  refresh: { type: "boolean" },
  share: { type: "string", multiple: true },
  cpus: { type: "string" },
  memory: { type: "string" },
  jobs: { type: "string" },
  timeout: { type: "string" },
  "boot-timeout": { type: "string" },
  accel: { type: "string" },
  host: { type: "boolean" },
  "no-host": { type: "boolean" },
  full: { type: "boolean" },
  json: { type: "string" },
  junit: { type: "string" },
  verbose: { type: "boolean", short: "v" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/** The parsed option values of `test`. */
type TestValues = ReturnType<
  typeof parseArgs<{ options: typeof TEST_OPTIONS; allowPositionals: true }>
>["values"];

/**
 * `--checks a,b`: known check names, in the order given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseChecks } from "./test_command.ts";
 * assert.deepEqual(parseChecks("validate, stability"), ["validate", "stability"]);
 * assert.throws(() => parseChecks("validate,nope"), /unknown check "nope"/);
 * ```
 */
export function parseChecks(text: string | undefined): CheckId[] {
  if (text === undefined) return [...CHECK_IDS];
  const checks = text.split(",").map((s) => s.trim());
  for (const c of checks) {
    if (!(CHECK_IDS as readonly string[]).includes(c)) {
      throw new UsageError(
        `--checks: unknown check "${c}" (checks: ${CHECK_IDS.join(", ")})`,
      );
    }
  }
  return checks as CheckId[];
}

/**
 * What the guests run: the smoke test, `-- command...` (each argument
 * quoted), `--guest-cmd`, or the suite; more than one is a UsageError.
 */
function guestCommand(
  values: TestValues,
  command: string[] | undefined,
): string {
  const modes = [
    values.smoke ? "--smoke" : "",
    values["guest-cmd"] !== undefined ? "--guest-cmd" : "",
    command !== undefined ? "-- command" : "",
    values.checks !== undefined ? "--checks" : "",
  ].filter(Boolean);
  if (modes.length > 1) {
    throw new UsageError(`${modes.join(" and ")} exclude each other`);
  }
  if (command !== undefined && command.length === 0) {
    throw new UsageError("-- needs a command after it");
  }
  const cmd = values.smoke
    ? SMOKE_CMD
    : command !== undefined
    ? command.map(shellQuote).join(" ")
    : values["guest-cmd"] ?? suiteCommand(parseChecks(values.checks));
  if (cmd.trim() === "") {
    throw new UsageError("--guest-cmd needs a command, got an empty string");
  }
  return cmd;
}

/** The rows with `--cpus` and `--memory` applied. */
function withOverrides(vms: VmSpec[], values: TestValues): VmSpec[] {
  let out = vms;
  if (values.cpus !== undefined) {
    const cpus = parsePositiveInt(values.cpus, "--cpus", 64);
    out = out.map((vm) => ({ ...vm, cpus }));
  }
  if (values.memory !== undefined) {
    const memoryMiB = parseMemoryMiB(values.memory);
    out = out.map((vm) => ({ ...vm, memoryMiB }));
  }
  return out;
}

/** `--kernel-version`: one VM, a Debian version. */
function kernelVersionOf(
  values: TestValues,
  vms: VmSpec[],
): string | undefined {
  const v = values["kernel-version"];
  if (v === undefined) return undefined;
  if (vms.length !== 1) {
    throw new UsageError("--kernel-version pins the kernel of one VM");
  }
  if (!/^[0-9][A-Za-z0-9.+~:-]*$/.test(v)) {
    throw new UsageError(`--kernel-version ${v}: not a Debian version`);
  }
  return v;
}

/** `--json` and `--junit`, defaulting to out/, checked for writability. */
async function outputPaths(
  values: TestValues,
): Promise<{ jsonPath: string; junitPath: string }> {
  if (values.json === undefined || values.junit === undefined) {
    await Deno.mkdir(`${PROJECT_ROOT}/out`, { recursive: true });
  }
  const jsonPath = values.json ?? `${PROJECT_ROOT}/out/vm-results.json`;
  const junitPath = values.junit ?? `${PROJECT_ROOT}/out/vm-results.xml`;
  checkWritable(jsonPath, "--json");
  checkWritable(junitPath, "--junit");
  return { jsonPath, junitPath };
}

/** TEST_DURATION (from --duration or the environment), text and ms. */
function durationOf(values: TestValues): { text: string; ms: number } {
  const fromEnv = values.duration === undefined &&
    Deno.env.get("TEST_DURATION") !== undefined;
  const text = values.duration ?? Deno.env.get("TEST_DURATION") ?? "5s";
  return {
    text,
    ms: parseDuration(text, fromEnv ? "TEST_DURATION" : "--duration"),
  };
}

/**
 * Parses `test`'s arguments into a plan, or `"help"`. Every mistake is a
 * UsageError thrown before anything boots; the output paths are checked
 * for writability up front.
 */
export async function parseTestArgs(
  argv: string[],
): Promise<TestPlan | "help"> {
  const dashes = argv.indexOf("--");
  const command = dashes < 0 ? undefined : argv.slice(dashes + 1);
  const { values, positionals } = parseArgs({
    args: dashes < 0 ? argv : argv.slice(0, dashes),
    allowPositionals: true,
    options: TEST_OPTIONS,
  });
  if (values.help) return "help";
  const guestCmd = guestCommand(values, command);
  const accel = values.accel ?? "auto";
  if (accel !== "auto" && accel !== "kvm" && accel !== "tcg") {
    throw new UsageError("--accel must be auto, kvm or tcg");
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `one VM name, 'all' or 'host', got ${positionals.join(" ")}`,
    );
  }
  const table = await loadVmTable();
  const target = positionals[0];
  const vms = withOverrides(selectVms(table, target), values);
  const duration = durationOf(values);
  const quietCommand = command !== undefined && values.quiet;
  return {
    table,
    vms,
    withHost: target === "host" ||
      (values["no-host"] ? false : values.host ?? target === "all"),
    run: {
      guestCmd,
      duration: duration.text,
      timeoutS: values.timeout === undefined
        ? 900 + 10 * duration.ms / 1000
        : parsePositiveNumber(values.timeout, "--timeout"),
      bootTimeoutS: values["boot-timeout"] === undefined
        ? 120
        : parsePositiveNumber(values["boot-timeout"], "--boot-timeout"),
      accel,
      kernelVersion: kernelVersionOf(values, vms),
      refresh: values.refresh,
      shares: (values.share ?? []).map(parseShare),
      verbose: values.verbose,
      // After --, the output is what was asked for: -q drops the progress.
      showOutput: command !== undefined || !values.quiet,
      log: quietCommand ? () => {} : log,
    },
    command: command !== undefined,
    jobs: values.jobs === undefined
      ? DEFAULT_JOBS
      : parsePositiveInt(values.jobs, "--jobs", 16),
    full: values.full ?? false,
    ...await outputPaths(values),
  };
}

/** A result for a VM that could not run or was never started. */
function notRun(
  vm: VmSpec,
  outcome: "cannot-run" | "interrupted",
  message: string,
): VmRunResult {
  return {
    vm: vm.name,
    arch: vm.arch,
    kernel: vm.kernel.line,
    pass: false,
    outcome,
    reason: outcome === "cannot-run"
      ? `cannot run: ${message.split("\n")[0]}`
      : message,
    times: { total: 0 },
    resultsDir: "",
    lastLines: message.split("\n"),
    dmesg: [],
  };
}

/** The verdict line of one run, with the failing checks by name. */
function verdictLine(r: VmRunResult): string {
  const failed =
    r.suite?.checks.filter((c) => c.status === "fail").map((c) => c.id) ?? [];
  const what = failed.length ? `failed: ${failed.join(", ")}; ` : "";
  return `${r.vm}: ${r.pass ? "PASS" : "FAIL"} (${what}${r.reason}) in ${
    r.times.total.toFixed(1)
  } s`;
}

/** Prints a run's verdict and, on failure, its console and kernel log. */
function logVmResult(r: VmRunResult): void {
  log(verdictLine(r));
  if (r.pass || r.outcome !== "fail") return;
  if (!r.suite) {
    log(`  last console lines (${r.consoleLog}):`);
    for (const l of r.lastLines.slice(-20)) log(`  > ${l}`);
  }
  if (r.dmesg.length) {
    log(`  guest kernel log (tail; all of it in ${r.resultsDir}/dmesg.txt):`);
    for (const l of r.dmesg.slice(-20)) log(`  dmesg> ${l}`);
  }
}

/** Runs `tasks` with at most `limit` of them at once, results in order. */
async function pooled<T>(
  tasks: (() => Promise<T>)[],
  limit: number,
): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, worker),
  );
  return out;
}

/**
 * Runs the plan: each VM is prepared in turn (fetch, build; an
 * EnvironmentError becomes a "cannot run" result and the rest go on;
 * anything else is a bug and propagates) and booted in a pool of
 * `plan.jobs`; then the host. After a stop signal nothing new starts.
 */
export async function runTestPlan(plan: TestPlan): Promise<VmRunResult[]> {
  const interrupt = interruptSignal();
  const single = plan.vms.length + (plan.withHost ? 1 : 0) === 1;
  const output = (name: string) =>
    plan.command && single
      ? (line: string) => console.log(line)
      : plan.command
      ? (line: string) => console.log(`[${name}] ${line}`)
      : (line: string) => log(`  ${name} | ${line}`);
  const results: (VmRunResult | undefined)[] = plan.vms.map(() => undefined);
  const boots: (() => Promise<void>)[] = [];
  for (const [i, vm] of plan.vms.entries()) {
    if (interrupt.interrupted()) {
      results[i] = notRun(vm, "interrupted", "not started: interrupted");
      continue;
    }
    log(`${vm.name}: ${vm.description}`);
    const t0 = performance.now();
    let prepared: PreparedVm;
    const options = { ...plan.run, onOutput: output(vm.name) };
    try {
      prepared = await prepareVm(plan.table, vm, options);
    } catch (err) {
      if (!(err instanceof EnvironmentError)) throw err;
      log(`${vm.name}: CANNOT RUN: ${err.message}`);
      results[i] = notRun(vm, "cannot-run", err.message);
      continue;
    }
    // A VM's wall time is its preparation plus its boot, not the time it
    // waited for a free slot in the pool.
    const prepareMs = performance.now() - t0;
    boots.push(async () => {
      if (interrupt.interrupted()) {
        results[i] = notRun(vm, "interrupted", "not started: interrupted");
        return;
      }
      const r = await bootAndJudge(
        prepared,
        options,
        performance.now() - prepareMs,
      );
      results[i] = r;
      logVmResult(r);
    });
  }
  await pooled(boots, plan.jobs);
  const all = results as VmRunResult[];
  if (plan.withHost && !interrupt.interrupted()) {
    log("host: the same command on this machine");
    const r = await runHost({ ...plan.run, onOutput: output("host") });
    logVmResult(r);
    all.push(r);
  }
  return all;
}

/**
 * The exit code of a `test` run: 3 when a VM could not run, else 1 when a
 * run failed or was interrupted, else 0. After `-- command` on one VM
 * that ran it to the end: the command's own exit status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { testExitCode } from "./test_command.ts";
 * assert.equal(testExitCode([{ outcome: "pass" }, { outcome: "pass" }]), 0);
 * assert.equal(testExitCode([{ outcome: "pass" }, { outcome: "interrupted" }]), 1);
 * assert.equal(testExitCode([{ outcome: "fail" }, { outcome: "cannot-run" }]), 3);
 * assert.equal(testExitCode([{ outcome: "fail", exitCode: 7 }], true), 7);
 * assert.equal(testExitCode([{ outcome: "fail", exitCode: 7 }]), 1);
 * ```
 */
export function testExitCode(
  results: Pick<VmRunResult, "outcome" | "exitCode">[],
  command = false,
): number {
  if (results.some((r) => r.outcome === "cannot-run")) {
    return ExitCode.ENVIRONMENT;
  }
  if (command && results.length === 1) {
    const r = results[0];
    if (r.outcome === "pass") return ExitCode.OK;
    if (r.outcome === "fail" && r.exitCode !== undefined) return r.exitCode;
  }
  const code: ExitCodeValue = results.every((r) => r.outcome === "pass")
    ? ExitCode.OK
    : ExitCode.FAILED;
  return code;
}

/** Writes the JSON and JUnit files; returns the error lines of failures. */
async function writeTestOutputs(
  plan: TestPlan,
  results: VmRunResult[],
  totalSeconds: number,
): Promise<string[]> {
  const guestXml: string[][] = [];
  for (const r of results) {
    const xml: string[] = [];
    for (const f of ["kernel-tests.xml", "validate.xml"]) {
      if (!r.resultsDir) continue;
      try {
        xml.push(await Deno.readTextFile(`${r.resultsDir}/${f}`));
      } catch { /* the guest wrote none */ }
    }
    guestXml.push(xml);
  }
  const counts = matrixCounts(results);
  return await writeOutputs([
    {
      what: "--json",
      path: plan.jsonPath,
      data: () =>
        JSON.stringify(
          {
            tool: "streamprof test:vm",
            guestCmd: plan.run.guestCmd,
            duration: plan.run.duration,
            jobs: plan.jobs,
            pass: results.every((r) => r.pass),
            counts,
            totalSeconds,
            results,
            table: matrixTable(results),
          },
          null,
          2,
        ) + "\n",
    },
    {
      what: "--junit",
      path: plan.junitPath,
      data: () =>
        matrixJUnit(results.map((r, i) => ({
          ...r,
          kernel: r.unameR ?? r.kernel,
          timeSeconds: r.times.total,
          guestXml: guestXml[i],
        }))),
    },
  ]);
}

export async function testCommand(args: string[]): Promise<number> {
  const plan = await parseTestArgs(args);
  if (plan === "help") {
    console.log(TEST_HELP);
    return ExitCode.OK;
  }
  const t0 = performance.now();
  const results = await runTestPlan(plan);
  const totalSeconds = Math.round((performance.now() - t0) / 10) / 100;
  const table = renderResultsTable(matrixTable(results, plan.full), 64);
  if (plan.command) log("\n" + table);
  else console.log("\n" + table);
  const writeErrors = await writeTestOutputs(plan, results, totalSeconds);
  for (const e of writeErrors) log(`vm test: ${e}`);
  log(`\nresults: ${plan.jsonPath}, ${plan.junitPath}`);
  log(
    `wall time: ${
      results.map((r) => `${r.vm} ${r.times.total.toFixed(1)} s`).join(", ")
    }; all ${totalSeconds.toFixed(1)} s (${plan.jobs} at once)`,
  );
  const counts = matrixCounts(results);
  log(
    `${counts.passed} passed, ${counts.failed} failed${
      counts.pending ? `, ${counts.pending} pending` : ""
    } (${totalSeconds.toFixed(1)} s)`,
  );
  const code = testExitCode(results, plan.command);
  return code === ExitCode.OK && writeErrors.length ? ExitCode.FAILED : code;
}
