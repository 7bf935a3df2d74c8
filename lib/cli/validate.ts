/**
 * `streamprof validate`: the ring-buffer validation, as a command.
 *
 * @example
 * ```sh
 * deno task validate --rates 1000,10000 --duration 5s --json out/validate.json
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { parseBytes, parseDuration, parseRates } from "../common/args.ts";
import { ExitCode } from "../common/errors.ts";
import { interruptSignal } from "../common/signals.ts";
import { runValidation } from "../validate/run_validation.ts";
import {
  validationJUnit,
  validationTable,
} from "../validate/validation_report.ts";

/** Usage text of `validate`. */
export const VALIDATE_HELP = `Usage: streamprof validate [options]

For each rate, keep every CPU busy, stream CPU samples through the BPF ring
buffer for the test duration, and check that nothing is lost: kernel-side
submitted = consumed, drops = reserve failures = 0, memory (V8 heap + WASM +
ring) under 20 MB. Prints the summary table; exits 1 on any drop or mismatch.

Options:
  --rates LIST      sampling rates in Hz per CPU (default 100,1000,10000)
  --duration TIME   streaming time per rate (default $TEST_DURATION or 10s)
  --ring-bytes SIZE ring buffer size, power of two (default 8M)
  --no-load         do not start the busy-loop load generator
  --json FILE       write the full report as JSON
  --junit FILE      write JUnit XML
  --check           only check the environment (same as 'doctor')
  -h, --help        this text

Exit codes: 0 pass, 1 drops/mismatch/over the memory bound, 2 usage error,
3 the environment cannot run it (privileges, kernel, BPF object).
Environment: TEST_DURATION (default duration), ANTIMETAL_BPF_PATH (folder of
profiler.bpf.o).`;

/** Runs `validate` with command-line arguments; returns the exit code. */
export async function validateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      rates: { type: "string" },
      duration: { type: "string" },
      "ring-bytes": { type: "string" },
      "no-load": { type: "boolean" },
      json: { type: "string" },
      junit: { type: "string" },
      check: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(VALIDATE_HELP);
    return ExitCode.OK;
  }
  if (values.check) {
    const { doctorCommand } = await import("./doctor.ts");
    return doctorCommand(values.json ? ["--json", values.json] : []);
  }
  const rates = values.rates ? parseRates(values.rates) : undefined;
  const durationMs = parseDuration(
    values.duration ?? Deno.env.get("TEST_DURATION") ?? "10s",
    "--duration",
  );
  const ringBytes = values["ring-bytes"]
    ? parseBytes(values["ring-bytes"], "--ring-bytes")
    : undefined;
  const interrupt = interruptSignal();
  try {
    const report = await runValidation({
      rates,
      durationMs,
      ringBytes,
      load: !values["no-load"],
      signal: interrupt.signal,
      onProgress: (l) => console.error(l),
    });
    const columns = [{ label: `host ${report.environment.label}`, report }];
    console.log(validationTable(columns));
    if (values.json) {
      await Deno.writeTextFile(
        values.json,
        JSON.stringify(report, null, 2) + "\n",
      );
    }
    if (values.junit) {
      await Deno.writeTextFile(
        values.junit,
        validationJUnit("streamprof validate", columns),
      );
    }
    const verdict = report.pass
      ? "PASS"
      : report.interrupted
      ? "INTERRUPTED"
      : "FAIL";
    console.log(
      `validate: ${verdict}: ${report.rows.filter((r) => r.pass).length} of ${
        rates?.length ?? 3
      } rates passed`,
    );
    return report.pass ? ExitCode.OK : ExitCode.FAILED;
  } finally {
    // The stop-signal listeners stay installed: see lib/common/signals.ts.
  }
}
