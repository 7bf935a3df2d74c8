/**
 * Entry point of the VM runner:
 * `deno run -A lib/vm/main.ts test <name|all>` (`deno task test:vm`),
 * `... list` (`deno task vm:list`) and `... fetch <name|all>`, dispatched by
 * lib/common/command.ts's {@link runProgram}: errors become exit codes by
 * their type (2 usage, 3 environment, 70 a bug).
 *
 * @example
 * ```sh
 * deno run -A lib/vm/main.ts test default --smoke
 * deno run -A lib/vm/main.ts test all --json out/vm.json --junit out/vm.xml
 * deno run -A lib/vm/main.ts list
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseDuration, parsePositiveNumber } from "../common/args.ts";
import { type Program, runProgram } from "../common/command.ts";
import {
  EnvironmentError,
  ExitCode,
  type ExitCodeValue,
  UsageError,
} from "../common/errors.ts";
import { formatBytes } from "../common/format.ts";
import { checkWritable, writeOutputs } from "../common/output_file.ts";
import { interruptSignal } from "../common/signals.ts";
import { type CacheStatus, cacheStatus } from "./artifacts.ts";
import { vmCacheRoot } from "./cache.ts";
import { type BuildState, buildState, ensureBootFiles } from "./initramfs.ts";
import { vmJUnit } from "./junit.ts";
import { chooseAccel } from "./qemu.ts";
import {
  columnLabel,
  renderResultsTable,
  type ResultColumn,
  resultsTable,
} from "./results_table.ts";
import {
  PROJECT_ROOT,
  runHost,
  type RunOptions,
  runVm,
  SMOKE_CMD,
  VALIDATE_CMD,
  type VmRunResult,
} from "./run_vm.ts";
import { findVm, loadVmTable, type VmSpec, type VmTable } from "./vms.ts";
import { validationTable } from "../validate/validation_report.ts";
import type { ValidationReport } from "../validate/run_validation.ts";

/** Usage of `test`. */
export const TEST_HELP = `Usage: deno task test:vm <vm|all> [options]

Boots each VM (one at a time) under QEMU, runs the guest command as root
from the project root (shared read-only over 9p, with a writable overlay),
and decides pass/fail from what the guest reports: its exit code, uname, and
the kernel log on failure. Artifacts are fetched and checked on first use.

Default guest command:
  ${VALIDATE_CMD}
(\$RESULTS is a writable 9p folder; \$TEST_DURATION comes from --duration).

Options:
  --guest-cmd CMD    shell command to run in the guest instead
  --smoke            run the built-in smoke test instead: Deno starts, libbpf
                     loads, libbpf's BPF_MAP_TYPE_RINGBUF probe returns 1
  --duration TIME    exported as TEST_DURATION (default \$TEST_DURATION or 5s)
  --timeout SEC      limit per VM once QEMU started (default 240 + 4 x duration)
  --boot-timeout SEC limit to reach the guest's init (default 120)
  --accel A          auto (KVM when a probe boot of the guest's kernel under
                     KVM runs to its end), kvm or tcg
  --host             also run the command on the host (default for 'all')
  --no-host          do not run it on the host
  --full             print every metric of the guests' JSON (flattened)
  --json FILE        write all results as JSON (default out/vm-results.json)
  --junit FILE       write JUnit XML (default out/vm-results.xml)
  -v, --verbose      print the whole guest console
  -q, --quiet        do not print the guest command's output
  -h, --help         this text

Exit codes: 0 every run passed, 1 a run failed (or Ctrl-C stopped it), 2
usage error, 3 cannot run (QEMU missing, download failed), 70 a bug.`;

/** Usage of `list`. */
export const LIST_HELP = `Usage: deno task vm:list [--json]

Lists the VMs of lib/vm/vms.json: arch, kernel package and version, CPUs,
memory, and whether their artifacts are in the cache (no download).

Options:
  --json      print the list as JSON
  -h, --help  this text`;

/** Usage of `fetch`. */
export const FETCH_HELP = `Usage: deno run -A lib/vm/main.ts fetch <vm|all>

Downloads, verifies and builds the kernel image and initramfs of the VM(s)
without booting them. A second run downloads nothing.

Options:
  -h, --help  this text`;

const log = (line: string) => console.error(line);

/** The VMs a name means: one row, or every row for `all`. */
function selectVms(table: VmTable, name: string | undefined): VmSpec[] {
  if (!name) throw new UsageError("name a VM or 'all'");
  return name === "all" ? table.vms : [findVm(table, name)];
}

/**
 * The cache column of `vm:list`: what is cached, damaged or missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCache } from "./main.ts";
 * const ok = { cached: true, missing: [], corrupt: [], bytes: 3 << 20 };
 * assert.equal(describeCache(ok), "yes, 3.0 MiB");
 * assert.equal(
 *   describeCache({ ...ok, cached: false, missing: ["a"], corrupt: ["b: sha256 differs"] }),
 *   "1 damaged, 1 to fetch (fetched on the next run)",
 * );
 * ```
 */
export function describeCache(status: CacheStatus): string {
  if (status.cached) return `yes, ${formatBytes(status.bytes)}`;
  const parts = [];
  if (status.corrupt.length) parts.push(`${status.corrupt.length} damaged`);
  if (status.missing.length) parts.push(`${status.missing.length} to fetch`);
  return `${parts.join(", ")} (fetched on the next run)`;
}

/**
 * The build column of `vm:list`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeBuildState } from "./main.ts";
 * assert.equal(describeBuildState({ bytes: 0 }), "no");
 * assert.equal(describeBuildState({ bytes: 0, problem: "the inputs changed" }), "stale: the inputs changed (rebuilt on the next run)");
 * ```
 */
export function describeBuildState(state: BuildState): string {
  if (state.images) return `yes, ${formatBytes(state.bytes)}`;
  if (state.problem) return `stale: ${state.problem} (rebuilt on the next run)`;
  return "no";
}

async function listCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(LIST_HELP);
    return ExitCode.OK;
  }
  const table = await loadVmTable();
  const root = vmCacheRoot();
  const rows = [];
  for (const vm of table.vms) {
    const status = await cacheStatus(table, vm, root);
    const build = await buildState(root, vm.name);
    rows.push({ vm, status, build, accel: await chooseAccel(vm, "auto") });
  }
  if (values.json) {
    console.log(JSON.stringify(
      rows.map(({ vm, status, build }) => ({
        ...vm,
        cached: status.cached,
        cachedBytes: status.bytes,
        missing: status.missing,
        damaged: status.corrupt,
        manifestProblem: status.manifestProblem,
        built: build.images !== undefined,
        buildProblem: build.problem,
      })),
      null,
      2,
    ));
    return ExitCode.OK;
  }
  console.log(renderResultsTable({
    header: [
      "vm",
      "arch",
      "kernel (Debian package)",
      "cpus",
      "memory",
      "accel",
      "cached",
      "built",
    ],
    rows: rows.map(({ vm, status, build, accel }) => [
      vm.name,
      vm.arch,
      `${vm.kernel.package} ${vm.kernel.version} (${vm.kernel.suite})`,
      String(vm.cpus),
      `${vm.memoryMiB} MiB`,
      accel.accel,
      describeCache(status),
      describeBuildState(build),
    ]),
  }, 80));
  const problem = rows.find((r) => r.status.manifestProblem)?.status
    .manifestProblem;
  if (problem) console.log(`\nwarning: ${problem}: nothing counts as cached`);
  for (const { vm, status } of rows) {
    for (const c of status.corrupt) console.log(`damaged (${vm.name}): ${c}`);
  }
  console.log(`\ncache: ${root}\nguest Deno ${table.deno}`);
  return ExitCode.OK;
}

async function fetchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(FETCH_HELP);
    return ExitCode.OK;
  }
  const table = await loadVmTable();
  for (const vm of selectVms(table, positionals[0])) {
    const t0 = performance.now();
    log(`${vm.name}: ${vm.description}`);
    const { images } = await ensureBootFiles(table, vm, {
      root: vmCacheRoot(),
      log,
    });
    log(
      `${vm.name}: ready (kernel ${images.kernelRelease}) in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
  }
  return ExitCode.OK;
}

/** What `test` was asked to do, every option checked. */
export interface TestPlan {
  table: VmTable;
  vms: VmSpec[];
  withHost: boolean;
  run: RunOptions;
  full: boolean;
  jsonPath: string;
  junitPath: string;
}

/**
 * Parses `test`'s arguments into a plan, or `"help"`. Every mistake is a
 * UsageError thrown before anything boots; the output paths are checked
 * for writability up front.
 */
export async function parseTestArgs(
  args: string[],
): Promise<TestPlan | "help"> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "guest-cmd": { type: "string" },
      smoke: { type: "boolean" },
      duration: { type: "string" },
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
    },
  });
  if (values.help) return "help";
  if (values.smoke && values["guest-cmd"] !== undefined) {
    throw new UsageError("--smoke and --guest-cmd exclude each other");
  }
  const accel = values.accel ?? "auto";
  if (accel !== "auto" && accel !== "kvm" && accel !== "tcg") {
    throw new UsageError("--accel must be auto, kvm or tcg");
  }
  const table = await loadVmTable();
  const vms = selectVms(table, positionals[0]);
  if (positionals.length > 1) {
    throw new UsageError(`one VM name or 'all', got ${positionals.join(" ")}`);
  }
  const fromEnv = values.duration === undefined &&
    Deno.env.get("TEST_DURATION") !== undefined;
  const durationText = values.duration ?? Deno.env.get("TEST_DURATION") ??
    "5s";
  const durationMs = parseDuration(
    durationText,
    fromEnv ? "TEST_DURATION" : "--duration",
  );
  const guestCmd = values.smoke
    ? SMOKE_CMD
    : values["guest-cmd"] ?? VALIDATE_CMD;
  if (guestCmd.trim() === "") {
    throw new UsageError("--guest-cmd needs a command, got an empty string");
  }
  const timeoutS = values.timeout === undefined
    ? 240 + 4 * durationMs / 1000
    : parsePositiveNumber(values.timeout, "--timeout");
  const bootTimeoutS = values["boot-timeout"] === undefined
    ? 120
    : parsePositiveNumber(values["boot-timeout"], "--boot-timeout");
  if (values.json === undefined || values.junit === undefined) {
    await Deno.mkdir(`${PROJECT_ROOT}/out`, { recursive: true });
  }
  const jsonPath = values.json ?? `${PROJECT_ROOT}/out/vm-results.json`;
  const junitPath = values.junit ?? `${PROJECT_ROOT}/out/vm-results.xml`;
  checkWritable(jsonPath, "--json");
  checkWritable(junitPath, "--junit");
  return {
    table,
    vms,
    withHost: values["no-host"]
      ? false
      : values.host ?? positionals[0] === "all",
    run: {
      guestCmd,
      duration: durationText,
      timeoutS,
      bootTimeoutS,
      accel,
      verbose: values.verbose,
      showOutput: !values.quiet,
      log,
    },
    full: values.full ?? false,
    jsonPath,
    junitPath,
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
    kernel: vm.kernel.version,
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

/** Prints a VM's verdict line and, on failure, its console and kernel log. */
function logVmResult(r: VmRunResult): void {
  log(
    `${r.vm}: ${r.pass ? "PASS" : "FAIL"} (${r.reason}) in ${
      r.times.total.toFixed(1)
    } s`,
  );
  if (r.pass || r.outcome !== "fail") return;
  log(`  last console lines (${r.consoleLog}):`);
  for (const l of r.lastLines.slice(-20)) log(`  > ${l}`);
  if (r.dmesg.length) {
    log("  guest kernel log (tail):");
    for (const l of r.dmesg.slice(-20)) log(`  dmesg> ${l}`);
  }
}

/**
 * Runs the plan: each VM in turn (an EnvironmentError becomes a "cannot
 * run" result and the next VM goes on; anything else is a bug and
 * propagates), then the host. After a stop signal nothing new starts.
 */
export async function runTestPlan(plan: TestPlan): Promise<VmRunResult[]> {
  const interrupt = interruptSignal();
  const results: VmRunResult[] = [];
  for (const vm of plan.vms) {
    if (interrupt.interrupted()) {
      results.push(notRun(vm, "interrupted", "not started: interrupted"));
      continue;
    }
    log(`${vm.name}: ${vm.description}`);
    try {
      const r = await runVm(plan.table, vm, plan.run);
      results.push(r);
      logVmResult(r);
    } catch (err) {
      if (!(err instanceof EnvironmentError)) throw err;
      log(`${vm.name}: CANNOT RUN: ${err.message}`);
      results.push(notRun(vm, "cannot-run", err.message));
    }
  }
  if (plan.withHost && !interrupt.interrupted()) {
    log("host: the same command on this machine");
    const r = await runHost(plan.run);
    log(`host: ${r.pass ? "PASS" : "FAIL"} (${r.reason})`);
    results.push(r);
  }
  return results;
}

/**
 * The exit code of a `test` run: 3 when a VM could not run, else 1 when a
 * run failed or was interrupted, else 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { testExitCode } from "./main.ts";
 * assert.equal(testExitCode([{ outcome: "pass" }, { outcome: "pass" }]), 0);
 * assert.equal(testExitCode([{ outcome: "pass" }, { outcome: "interrupted" }]), 1);
 * assert.equal(testExitCode([{ outcome: "fail" }, { outcome: "cannot-run" }]), 3);
 * ```
 */
export function testExitCode(
  results: Pick<VmRunResult, "outcome">[],
): ExitCodeValue {
  if (results.some((r) => r.outcome === "cannot-run")) {
    return ExitCode.ENVIRONMENT;
  }
  return results.every((r) => r.outcome === "pass")
    ? ExitCode.OK
    : ExitCode.FAILED;
}

/** Runner facts shown as the first rows of the results table. */
function runnerFacts(r: VmRunResult): ResultColumn["facts"] {
  return {
    "result": r.pass ? "PASS" : `FAIL: ${r.reason}`,
    "uname -r": r.unameR,
    "uname -m": r.unameM,
    "exit code": r.exitCode,
    "accel": r.accel,
    "boot to init, guest clock (s)": r.times.guestBootToInit,
    "QEMU start to init, wall (s)": r.times.qemuToInit,
    "guest command (s)": r.times.command,
    "total wall (s)": r.times.total,
  };
}

/** True for the JSON that `cli.ts validate --json` writes. */
function isValidationReport(j: unknown): j is ValidationReport {
  return typeof j === "object" && j !== null &&
    (j as { tool?: unknown }).tool === "streamprof validate" &&
    Array.isArray((j as { rows?: unknown }).rows);
}

function resultColumns(results: VmRunResult[]): ResultColumn[] {
  return results.map((r) => ({
    vm: r.vm,
    arch: r.arch,
    kernel: r.unameR ?? r.kernel,
    json: r.json,
    facts: runnerFacts(r),
  }));
}

/**
 * The text report: runner facts (plus the flattened guest JSON unless it
 * is a validation report and `full` is off), then the validation summary
 * table when the guests ran `validate`.
 */
export function renderTestReport(
  results: VmRunResult[],
  full: boolean,
): string {
  const columns = resultColumns(results);
  const shown = columns.map((c) => ({
    ...c,
    json: full || !isValidationReport(c.json) ? c.json : undefined,
  }));
  const parts = [renderResultsTable(resultsTable(shown))];
  if (!full && columns.some((c) => isValidationReport(c.json))) {
    parts.push(validationTable(columns.map((c, i) => ({
      label: columnLabel(c),
      report: isValidationReport(c.json) ? c.json : undefined,
      error: isValidationReport(c.json) ? undefined : results[i].reason,
    }))));
  }
  return parts.join("\n\n");
}

/** Writes the JSON and JUnit files; returns the error lines of failures. */
async function writeTestOutputs(
  plan: TestPlan,
  results: VmRunResult[],
  totalSeconds: number,
): Promise<string[]> {
  const guestXml: (string | undefined)[] = [];
  for (const r of results) {
    let xml: string | undefined;
    if (r.resultsDir) {
      try {
        xml = await Deno.readTextFile(`${r.resultsDir}/validate.xml`);
      } catch { /* the guest wrote none */ }
    }
    guestXml.push(xml);
  }
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
            pass: results.every((r) => r.pass),
            totalSeconds,
            results,
            table: resultsTable(resultColumns(results)),
          },
          null,
          2,
        ) + "\n",
    },
    {
      what: "--junit",
      path: plan.junitPath,
      data: () =>
        vmJUnit(results.map((r, i) => ({
          vm: r.vm,
          arch: r.arch,
          kernel: r.unameR ?? r.kernel,
          pass: r.pass,
          reason: r.reason,
          timeSeconds: r.times.total,
          output: [...r.lastLines, ...r.dmesg].join("\n") || undefined,
          guestXml: guestXml[i],
        }))),
    },
  ]);
}

async function testCommand(args: string[]): Promise<number> {
  const plan = await parseTestArgs(args);
  if (plan === "help") {
    console.log(TEST_HELP);
    return ExitCode.OK;
  }
  const t0 = performance.now();
  const results = await runTestPlan(plan);
  const totalSeconds = Math.round((performance.now() - t0) / 10) / 100;
  console.log("\n" + renderTestReport(results, plan.full));
  const writeErrors = await writeTestOutputs(plan, results, totalSeconds);
  for (const e of writeErrors) log(`vm test: ${e}`);
  log(`\nresults: ${plan.jsonPath}, ${plan.junitPath}`);
  const passed = results.filter((r) => r.pass).length;
  log(
    `${passed} passed, ${results.length - passed} failed (${
      totalSeconds.toFixed(1)
    } s)`,
  );
  const code = testExitCode(results);
  return code === ExitCode.OK && writeErrors.length ? ExitCode.FAILED : code;
}

/** The runner's commands, for lib/common/command.ts. */
export const VM_PROGRAM: Program = {
  name: "vm",
  summary:
    `Runs the suite inside QEMU guests with real Debian kernels. Tasks: deno task
test:vm <vm|all>, deno task vm:list; or deno run -A lib/vm/main.ts <command>.
Cache: \${XDG_CACHE_HOME:-~/.cache}/streamprof/vm (or STREAMPROF_VM_CACHE).`,
  commands: {
    test: {
      summary: "boot the VM(s), run the suite, print a results table",
      run: testCommand,
    },
    list: {
      summary: "the VMs of lib/vm/vms.json and whether they are cached",
      run: listCommand,
    },
    fetch: {
      summary: "download and build a VM's artifacts without booting it",
      run: fetchCommand,
    },
  },
};

/**
 * Runs a command line; returns the exit code (never throws).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./main.ts";
 * assert.equal(await main(["test", "nosuch-vm"]), 2);
 * ```
 */
export function main(args: string[]): Promise<number> {
  return runProgram(VM_PROGRAM, args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
