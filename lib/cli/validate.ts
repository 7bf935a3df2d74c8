/**
 * `streamprof validate`: the ring-buffer validation, as a command.
 *
 * @example
 * ```sh
 * deno task validate --rates 1000,10000 --duration 5s --json out/validate.json
 * ```
 * @module
 */
import { parseBytes, parseRates, testDuration } from "../common/args.ts";
import { ExitCode } from "../common/errors.ts";
import { optionsHelp, parseOptions } from "../common/options.ts";
import { checkWritable, writeOutputs } from "../common/output_file.ts";
import { interruptSignal } from "../common/signals.ts";
import { MAX_RING_BYTES } from "../bpf/profiler_object.ts";
import {
  DEFAULT_RATES,
  MEMORY_BOUND_BYTES,
  runValidation,
  type ValidationReport,
} from "../validate/run_validation.ts";
import {
  validationJUnit,
  validationTable,
} from "../validate/validation_report.ts";

/** The options of `validate`, with their defaults. */
export const VALIDATE_OPTIONS = {
  rates: {
    type: "string",
    value: "LIST",
    help: "sampling rates in Hz per CPU",
    default: DEFAULT_RATES.join(","),
  },
  duration: {
    type: "string",
    value: "TIME",
    help: "streaming time per rate (default $TEST_DURATION, else 10s)",
  },
  "ring-bytes": {
    type: "string",
    value: "SIZE",
    help: "ring buffer size, a power of two from 4K to 1G",
    default: "8M",
  },
  "no-load": { type: "boolean", help: "do not start the busy-loop load" },
  json: { type: "string", value: "FILE", help: "write the report as JSON" },
  junit: { type: "string", value: "FILE", help: "write JUnit XML" },
  check: {
    type: "boolean",
    help: "only check the environment (same as 'doctor')",
  },
} as const;

/** Usage text of `validate`. */
export const VALIDATE_HELP = `Usage: streamprof validate [options]

For each rate, keep every CPU busy, stream CPU samples and their stacks
through the BPF ring buffer for the test duration, and check that nothing is
lost: kernel-side submitted = consumed, drops = reserve failures = 0, every
sample's stacks accounted for, memory (V8 heap + WASM + ring) under
${
  MEMORY_BOUND_BYTES / 1e6
} MB. Prints the summary table; exits 1 on any drop or mismatch.

Options:
${optionsHelp(VALIDATE_OPTIONS)}

A rate the kernel refuses (above kernel.perf_event_max_sample_rate) is a
failed row with the reason; the other rates still run and are reported.

Signals: Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT stop the run in order:
the rate in progress is cut short, everything is detached, the table, the
JSON and the JUnit files are written, and the run FAILS (exit 1): an
interrupted validation proves nothing. The busy loops die with this process
even when it is killed with SIGKILL.

Exit codes: 0 pass, 1 drops/mismatch/over the memory bound/interrupted,
2 usage error, 3 the environment cannot run it (privileges, kernel, BPF
object), 70 an internal error.
Environment: TEST_DURATION (default duration), STREAMPROF_BPF_PATH (or
ANTIMETAL_BPF_PATH: the folder of profiler.bpf.o).`;

/** The verdict word and exit code of a report. */
export function validateVerdict(
  report: ValidationReport,
): { word: string; code: number } {
  if (report.pass) return { word: "PASS", code: ExitCode.OK };
  if (report.aborted) return { word: "ABORTED", code: ExitCode.ENVIRONMENT };
  if (report.interrupted) return { word: "INTERRUPTED", code: ExitCode.FAILED };
  return { word: "FAIL", code: ExitCode.FAILED };
}

/** Runs `validate` with command-line arguments; returns the exit code. */
export async function validateCommand(args: string[]): Promise<number> {
  const v = parseOptions(VALIDATE_OPTIONS, args);
  if (v.help) {
    console.log(VALIDATE_HELP);
    return ExitCode.OK;
  }
  if (v.check) {
    const { doctorCommand } = await import("./doctor.ts");
    return doctorCommand(v.json ? ["--json", v.json] : []);
  }
  const rates = parseRates(v.rates);
  const durationMs = testDuration(v.duration, "10s");
  const ringBytes = parseBytes(v["ring-bytes"], "--ring-bytes", {
    powerOfTwo: true,
    min: 4096,
    max: MAX_RING_BYTES,
  });
  // Outputs checked, then the stop signal, then the runner: as every command
  // starts (stability.ts too), each with its own options; no shared logic.
  if (v.json) checkWritable(v.json, "--json");
  if (v.junit) checkWritable(v.junit, "--junit");
  const interrupt = interruptSignal();
  const report = await runValidation({
    rates,
    durationMs,
    ringBytes,
    load: !v["no-load"],
    signal: interrupt.signal,
    onProgress: (l) => console.error(l),
  });
  const columns = [{ label: `host ${report.environment.label}`, report }];
  console.log(validationTable(columns));
  const errors = await writeOutputs([
    ...(v.json
      ? [{
        what: "--json",
        path: v.json,
        data: () => JSON.stringify(report, null, 2) + "\n",
      }]
      : []),
    ...(v.junit
      ? [{
        what: "--junit",
        path: v.junit,
        data: () => validationJUnit("streamprof validate", columns),
      }]
      : []),
  ]);
  const verdict = validateVerdict(report);
  console.log(
    `validate: ${verdict.word}: ${
      report.rows.filter((r) => r.pass).length
    } of ${rates.length} rates passed${
      report.interrupted
        ? ` (interrupted by ${interrupt.signalName() ?? "a stop signal"})`
        : ""
    }${report.aborted ? ` (ended: ${report.aborted})` : ""}`,
  );
  for (const e of errors) console.error(`validate: ${e}`);
  if (errors.length && verdict.code === ExitCode.OK) {
    return ExitCode.ENVIRONMENT;
  }
  return verdict.code;
}
