/**
 * Entry point of the VM runner:
 * `deno run -A lib/vm/main.ts test <name|all>` (`deno task test:vm`),
 * `... list` (`deno task vm:list`) and `... fetch <name|all>`.
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
import {
  cacheStatus,
  ensureVmArtifacts,
  formatBytes,
  vmCacheRoot,
} from "./artifacts.ts";
import { vmJUnit } from "./junit.ts";
import { chooseAccel } from "./qemu.ts";
import {
  columnLabel,
  formatTable,
  type ResultColumn,
  resultsTable,
} from "./results_table.ts";
import {
  PROJECT_ROOT,
  runHost,
  runVm,
  SMOKE_CMD,
  VALIDATE_CMD,
  type VmRunResult,
} from "./run_vm.ts";
import { findVm, loadVmTable, type VmSpec, type VmTable } from "./vms.ts";
import { validationTable } from "../validate/validation_report.ts";
import type { ValidationReport } from "../validate/run_validation.ts";

/** Exit codes. */
export const Exit = { OK: 0, FAIL: 1, USAGE: 2, CANNOT_RUN: 3 } as const;

/** Top-level usage. */
export const MAIN_HELP = `Usage: deno run -A lib/vm/main.ts <command> [options]

Runs the validation suite inside QEMU guests with real Debian kernels.

Commands:
  test <vm|all>   boot the VM(s), run the suite, print a results table
  list            the VMs of lib/vm/vms.json and whether they are cached
  fetch <vm|all>  download and build a VM's artifacts without booting it

Run '<command> --help' for its options. Tasks: deno task test:vm <vm>,
deno task vm:list. Cache: \${XDG_CACHE_HOME:-~/.cache}/streamprof/vm
(override with STREAMPROF_VM_CACHE).`;

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
  --accel A          auto (KVM when it works for the guest arch), kvm or tcg
  --host             also run the command on the host (default for 'all')
  --no-host          do not run it on the host
  --full             print every metric of the guests' JSON (flattened)
  --json FILE        write all results as JSON (default out/vm-results.json)
  --junit FILE       write JUnit XML (default out/vm-results.xml)
  -v, --verbose      print the whole guest console
  -q, --quiet        do not print the guest command's output
  -h, --help         this text

Exit codes: 0 every run passed, 1 a run failed, 2 usage error, 3 cannot run
(QEMU missing, download failed).`;

/** Usage of `list`. */
export const LIST_HELP = `Usage: deno task vm:list [--json]

Lists the VMs of lib/vm/vms.json: arch, kernel package and version, CPUs,
memory, and whether their artifacts are in the cache (no download).

Options:
  --json      print the list as JSON
  -h, --help  this text`;

/** Usage of `fetch`. */
export const FETCH_HELP = `Usage: deno run -A lib/vm/main.ts fetch <vm|all>

Downloads (private apt configuration, npm), verifies and builds the kernel
image and initramfs of the VM(s) without booting them. A second run
downloads nothing.

Options:
  -h, --help  this text`;

function selectVms(table: VmTable, name: string | undefined): VmSpec[] {
  if (!name) throw new UsageError("name a VM or 'all'");
  return name === "all" ? table.vms : [findVm(table, name)];
}

class UsageError extends Error {}

function durationSeconds(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) {
    throw new UsageError(`invalid --duration "${text}" (e.g. 5s, 500ms, 2m)`);
  }
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? "s"]!;
  return Number(m[1]) * mult;
}

function posNumber(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${what} must be a positive number of seconds`);
  }
  return n;
}

const log = (l: string) => console.error(l);

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
    return Exit.OK;
  }
  const table = await loadVmTable();
  const root = vmCacheRoot();
  const rows = [];
  for (const vm of table.vms) {
    const st = await cacheStatus(table, vm, root);
    let built = false;
    try {
      await Deno.stat(`${root}/build/${vm.name}/initramfs.cpio`);
      built = true;
    } catch { /* not built */ }
    rows.push({ vm, st, built });
  }
  if (values.json) {
    console.log(JSON.stringify(
      rows.map(({ vm, st, built }) => ({
        ...vm,
        cached: st.cached,
        cachedBytes: st.bytes,
        missing: st.missing,
        built,
      })),
      null,
      2,
    ));
    return Exit.OK;
  }
  const accels: string[] = [];
  for (const { vm } of rows) {
    accels.push((await chooseAccel(vm, "auto")).accel);
  }
  console.log(formatTable({
    header: [
      "vm",
      "arch",
      "kernel (Debian package)",
      "cpus",
      "memory",
      "accel",
      "cached",
    ],
    rows: rows.map(({ vm, st, built }, i) => [
      vm.name,
      vm.arch,
      `${vm.kernel.package} ${vm.kernel.version} (${vm.kernel.suite})`,
      String(vm.cpus),
      `${vm.memoryMiB} MiB`,
      accels[i],
      st.cached
        ? `yes, ${formatBytes(st.bytes)}${built ? ", built" : ""}`
        : `no (${st.missing.length} to fetch)`,
    ]),
  }, 80));
  console.log(`\ncache: ${root}\nguest Deno ${table.deno}`);
  return Exit.OK;
}

async function fetchCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(FETCH_HELP);
    return Exit.OK;
  }
  const table = await loadVmTable();
  const { buildVmImages } = await import("./initramfs.ts");
  for (const vm of selectVms(table, positionals[0])) {
    const t0 = performance.now();
    log(`${vm.name}: ${vm.description}`);
    const art = await ensureVmArtifacts(table, vm, { log });
    const img = await buildVmImages(table, vm, art, {
      root: vmCacheRoot(),
      log,
    });
    log(
      `${vm.name}: ready (kernel ${img.kernelRelease}) in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
  }
  return Exit.OK;
}

/** Runner facts shown as the first rows of the results table. */
function facts(r: VmRunResult): ResultColumn["facts"] {
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

async function testCommand(args: string[]): Promise<number> {
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
  if (values.help) {
    console.log(TEST_HELP);
    return Exit.OK;
  }
  if (values.smoke && values["guest-cmd"]) {
    throw new UsageError("--smoke and --guest-cmd exclude each other");
  }
  const accel = values.accel ?? "auto";
  if (!["auto", "kvm", "tcg"].includes(accel)) {
    throw new UsageError("--accel must be auto, kvm or tcg");
  }
  const table = await loadVmTable();
  const vms = selectVms(table, positionals[0]);
  if (positionals.length > 1) {
    throw new UsageError(`one VM name or 'all', got ${positionals.join(" ")}`);
  }
  const durationText = values.duration ?? Deno.env.get("TEST_DURATION") ?? "5s";
  const duration = durationSeconds(durationText);
  const guestCmd = values.smoke
    ? SMOKE_CMD
    : values["guest-cmd"] ?? VALIDATE_CMD;
  if (guestCmd === VALIDATE_CMD) {
    try {
      await Deno.stat(`${PROJECT_ROOT}/cli.ts`);
    } catch {
      throw new UsageError(
        "cli.ts is not in the project yet: pass --smoke or --guest-cmd CMD",
      );
    }
  }
  const withHost = values["no-host"]
    ? false
    : values.host ?? positionals[0] === "all";
  const opts = {
    guestCmd,
    duration: durationText,
    timeoutS: posNumber(values.timeout, "--timeout") ?? 240 + 4 * duration,
    bootTimeoutS: posNumber(values["boot-timeout"], "--boot-timeout") ?? 120,
    accel: accel as "auto" | "kvm" | "tcg",
    verbose: values.verbose,
    showOutput: !values.quiet,
    log,
  };

  const results: VmRunResult[] = [];
  const t0 = performance.now();
  for (const vm of vms) {
    log(`${vm.name}: ${vm.description}`);
    try {
      const r = await runVm(table, vm, opts);
      results.push(r);
      log(
        `${vm.name}: ${r.pass ? "PASS" : "FAIL"} (${r.reason}) in ${
          r.times.total.toFixed(1)
        } s`,
      );
      if (!r.pass) {
        log(`  last console lines (${r.consoleLog}):`);
        for (const l of r.lastLines.slice(-20)) log(`  > ${l}`);
        if (r.dmesg.length) {
          log("  guest kernel log (tail):");
          for (const l of r.dmesg.slice(-20)) log(`  dmesg> ${l}`);
        }
      }
    } catch (e) {
      // Setup problems (QEMU missing, download failure) are results too,
      // so 'all' goes on and the table shows them.
      const msg = (e as Error).message;
      log(`${vm.name}: CANNOT RUN: ${msg}`);
      results.push({
        vm: vm.name,
        arch: vm.arch,
        kernel: vm.kernel.version,
        pass: false,
        reason: `cannot run: ${msg.split("\n")[0]}`,
        times: { total: 0 },
        resultsDir: "",
        lastLines: msg.split("\n"),
        dmesg: [],
      });
    }
  }
  if (withHost) {
    log("host: the same command on this machine");
    const r = await runHost(opts);
    log(`host: ${r.pass ? "PASS" : "FAIL"} (${r.reason})`);
    results.push(r);
  }

  const columns: ResultColumn[] = results.map((r) => ({
    vm: r.vm,
    arch: r.arch,
    kernel: r.unameR ?? r.kernel,
    json: r.json,
    facts: facts(r),
  }));
  const table2 = resultsTable(columns);
  console.log("\n" + formatTable(printedTable(columns, values.full ?? false)));
  if (!values.full && columns.some((c) => isValidationReport(c.json))) {
    console.log(
      "\n" + validationTable(columns.map((c, i) => ({
        label: columnLabel(c),
        report: isValidationReport(c.json) ? c.json : undefined,
        error: isValidationReport(c.json) ? undefined : results[i].reason,
      }))),
    );
  }
  const jsonPath = values.json ?? `${PROJECT_ROOT}/out/vm-results.json`;
  const junitPath = values.junit ?? `${PROJECT_ROOT}/out/vm-results.xml`;
  const pass = results.every((r) => r.pass);
  await writeOut(
    jsonPath,
    JSON.stringify(
      {
        tool: "streamprof test:vm",
        guestCmd,
        duration: durationText,
        pass,
        totalSeconds: Math.round((performance.now() - t0) / 10) / 100,
        results,
        table: table2,
      },
      null,
      2,
    ) + "\n",
  );
  const runs = [];
  for (const r of results) {
    let guestXml: string | undefined;
    if (r.resultsDir) {
      try {
        guestXml = await Deno.readTextFile(`${r.resultsDir}/validate.xml`);
      } catch { /* none */ }
    }
    runs.push({
      vm: r.vm,
      arch: r.arch,
      kernel: r.unameR ?? r.kernel,
      pass: r.pass,
      reason: r.reason,
      timeSeconds: r.times.total,
      output: [...r.lastLines, ...r.dmesg].join("\n") || undefined,
      guestXml,
    });
  }
  await writeOut(junitPath, vmJUnit(runs));
  log(`\nresults: ${jsonPath}, ${junitPath}`);
  log(
    `${results.filter((r) => r.pass).length} passed, ${
      results.filter((r) => !r.pass).length
    } failed (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  if (results.some((r) => r.reason.startsWith("cannot run"))) {
    return Exit.CANNOT_RUN;
  }
  return pass ? Exit.OK : Exit.FAIL;
}

/** True for the JSON that `cli.ts validate --json` writes. */
function isValidationReport(j: unknown): j is ValidationReport {
  return typeof j === "object" && j !== null &&
    (j as { tool?: unknown }).tool === "streamprof validate" &&
    Array.isArray((j as { rows?: unknown }).rows);
}

/**
 * What to print: runner facts, plus the flattened guest JSON unless it is a
 * validation report (shown by its own summary table) and `--full` is off.
 */
function printedTable(columns: ResultColumn[], full: boolean) {
  return resultsTable(columns.map((c) => ({
    ...c,
    json: full || !isValidationReport(c.json) ? c.json : undefined,
  })));
}

async function writeOut(path: string, text: string) {
  const dir = path.split("/").slice(0, -1).join("/");
  if (dir) await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(path, text);
}

/**
 * Runs a command line; returns the exit code.
 *
 * @example
 * ```ts
 * await main(["list"]); // 0
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case "test":
        return await testCommand(rest);
      case "list":
        return await listCommand(rest);
      case "fetch":
        return await fetchCommand(rest);
      case undefined:
      case "-h":
      case "--help":
      case "help":
        console.log(MAIN_HELP);
        return cmd === undefined ? Exit.USAGE : Exit.OK;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    const err = e as Error;
    if (
      e instanceof UsageError || err.name === "TypeError" &&
        /ERR_PARSE_ARGS/.test((e as { code?: string }).code ?? "")
    ) {
      console.error(`vm: ${err.message}\n(run with --help)`);
      return Exit.USAGE;
    }
    if (/unknown VM/.test(err.message)) {
      console.error(`vm: ${err.message}`);
      return Exit.USAGE;
    }
    console.error(`vm: ${err.message}`);
    return Exit.CANNOT_RUN;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
