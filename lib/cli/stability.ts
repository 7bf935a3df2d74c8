/**
 * `streamprof stability`: the memory stability test, as a command. Streams
 * at 1 kHz on every busy CPU (the fixture with thousands of distinct call
 * paths), cuts the profile every interval as a continuous profiler does,
 * prints the series, and fails on growth beyond the stated bounds, on any
 * drop, or on a lost-stack rate of 0.1% or more in any interval.
 *
 * Each sample first forces a full garbage collection, so the heap figure is
 * the live heap, not wherever the GC saw-tooth happens to be. The clock
 * starts when the session streams. Memory is judged after the warm-up (the
 * first quarter of the samples, at least two, and the first 10 s; see
 * warmUpCount), so start-up allocation is not counted as growth, and a run
 * goes past its duration until it has two samples after it:
 * - the live V8 heap may not grow by more than 1 MB;
 * - anonymous RSS (what a leak in V8, the allocator or the WASM memory
 *   grows) may not grow by more than 4 MB. File-backed RSS (the Deno
 *   binary's code paged in as new paths run, the ring's pages) is printed
 *   but not bounded: it is not allocation;
 * - the WASM memory laid out by the parser may not change at all;
 * - lost stacks under 0.1% of the samples of every interval;
 * - zero drops and exact reconciliation.
 *
 * @example
 * ```sh
 * deno task stability --duration 10m --json out/stability.json
 * ```
 * @module
 */
import {
  parseDuration,
  parsePositiveInt,
  testDuration,
} from "../common/args.ts";
import { ExitCode, UsageError } from "../common/errors.ts";
import { formatCount, formatMB } from "../common/format.ts";
import { optionsHelp, parseOptions } from "../common/options.ts";
import { checkWritable, writeOutputs } from "../common/output_file.ts";
import { interruptSignal } from "../common/signals.ts";
import { formatTable } from "../report/table.ts";
import {
  ANON_RSS_GROWTH_BOUND,
  HEAP_GROWTH_BOUND,
  JUDGED_SAMPLES,
  LOST_STACK_RATE_BOUND,
  memoryGrowth,
  plannedSampleTimes,
  runStability,
  type StabilityLoad,
  type StabilityRun,
  stabilityVerdict,
  WARM_UP_S,
} from "../validate/stability.ts";

/** The options of `stability`, with their defaults. */
export const STABILITY_OPTIONS = {
  duration: {
    type: "string",
    value: "TIME",
    help: "how long to stream (default $TEST_DURATION, else 5m)",
  },
  interval: {
    type: "string",
    value: "TIME",
    help: "sampling and profile-cut interval",
    default: "5s",
  },
  freq: {
    type: "string",
    value: "HZ",
    help: "samples per second per CPU",
    default: "1000",
  },
  load: {
    type: "string",
    value: "KIND",
    help:
      "paths (the fixture: thousands of distinct call paths), busy (shell loops) or none",
    default: "paths",
  },
  json: {
    type: "string",
    value: "FILE",
    help: "write the series and verdict as JSON",
  },
} as const;

/** Usage text of `stability`. */
export const STABILITY_HELP = `Usage: streamprof stability [options]

Streams at --freq on every CPU (kept busy by --load) for --duration and cuts
the profile every --interval, on fixed deadlines (a slow cut makes the next
one come at once). The clock starts when the session streams; the run ends
with a sample at the end of the duration. The warm-up is the first quarter
of the samples (rounded up), at least two, and all of the first ${WARM_UP_S} s;
memory is judged on the samples after it, and a run goes on an interval at a
time past its duration until it has ${JUDGED_SAMPLES} of them. Each cut samples V8 heap,
RSS, WASM memory, events and lost stacks; the series is printed. It fails
(exit 1) on live-heap growth > ${
  HEAP_GROWTH_BOUND / 1e6
} MB (a full GC precedes each sample)
or anonymous RSS growth > ${
  ANON_RSS_GROWTH_BOUND / 1e6
} MB after the warm-up (the peak of the
samples after it over the warm-up's peak), any change of the WASM memory,
any drop, or lost stacks at ${
  LOST_STACK_RATE_BOUND * 100
}% or more of an interval's samples.

Options:
${optionsHelp(STABILITY_OPTIONS)}

Signals: Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT stop the run in order:
the series so far is printed and written, with how far it got, and the run
FAILS (exit 1): an interrupted stability run proves nothing. The load dies
with this process even when it is killed with SIGKILL.

Exit codes: 0 pass, 1 a bound exceeded, a drop, a mismatch or interrupted,
2 usage error, 3 the environment cannot run it, 70 an internal error.`;

/** The series as a table. */
export function renderStability(run: StabilityRun): string {
  return formatTable(
    [
      "elapsed s",
      "events",
      "drops",
      "live heap",
      "rss",
      "rss anon",
      "rss file",
      "wasm",
      "cpu %",
      "stacks",
      "lost %",
    ],
    run.samples.map((s) => [
      s.elapsedS.toFixed(0),
      formatCount(s.events),
      String(s.drops),
      formatMB(s.heapUsed),
      formatMB(s.rss),
      formatMB(s.rssAnon),
      formatMB(s.rssFile),
      formatMB(s.wasmBytes),
      s.cpuPercent.toFixed(2),
      formatCount(s.distinctStacks),
      (s.lostStackRate * 100).toFixed(3),
    ]),
  );
}

/** Runs `stability`; returns the exit code. */
export async function stabilityCommand(args: string[]): Promise<number> {
  const v = parseOptions(STABILITY_OPTIONS, args);
  if (v.help) {
    console.log(STABILITY_HELP);
    return ExitCode.OK;
  }
  const durationMs = testDuration(v.duration, "5m");
  const intervalMs = parseDuration(v.interval, "--interval");
  const frequency = parsePositiveInt(v.freq, "--freq");
  if (!["paths", "busy", "none"].includes(v.load)) {
    throw new UsageError(`--load must be paths, busy or none, got "${v.load}"`);
  }
  if (v.json) checkWritable(v.json, "--json");
  // When a short run goes past its duration to have samples after the
  // warm-up: say it up front.
  const planned = plannedSampleTimes(durationMs, intervalMs);
  const longer = planned.at(-1)! * 1000 > durationMs
    ? ` (${JUDGED_SAMPLES} samples after the warm-up: about ${
      planned.at(-1)
    } s)`
    : "";
  const interrupt = interruptSignal();
  const run = await runStability({
    durationMs,
    intervalMs,
    frequency,
    load: v.load as StabilityLoad,
    signal: interrupt.signal,
    onStart: (cpus) =>
      console.error(
        `stability: ${frequency} Hz on ${cpus} CPUs (load: ${v.load}) for ${
          durationMs / 1000
        } s, a sample and a profile cut every ${intervalMs / 1000} s${longer}`,
      ),
    onSample: (s) =>
      console.error(
        `  ${
          s.elapsedS.toFixed(0)
        } s: ${s.events} events, ${s.drops} drops, heap ${
          formatMB(s.heapUsed)
        }, rss ${formatMB(s.rss)}, ${s.distinctStacks} stacks, lost ${
          (s.lostStackRate * 100).toFixed(3)
        }%`,
      ),
  });
  const verdict = stabilityVerdict({
    samples: run.samples,
    interrupted: run.interrupted,
    reconciliation: run.report.reconciliation,
  });
  console.log(renderStability(run));
  console.log(run.report.reconciliation.line);
  if (run.report.reconciliation.stackLine) {
    console.log(run.report.reconciliation.stackLine);
  }
  const growth = memoryGrowth(run.samples);
  const errors = v.json
    ? await writeOutputs([{
      what: "--json",
      path: v.json,
      data: () =>
        JSON.stringify(
          {
            ...run,
            bounds: {
              liveHeapGrowthBytes: HEAP_GROWTH_BOUND,
              anonRssGrowthBytes: ANON_RSS_GROWTH_BOUND,
              lostStackRate: LOST_STACK_RATE_BOUND,
            },
            // What the bounds were held to: the growth after the warm-up.
            warmUpSamples: growth.warmUpSamples,
            growthAfterWarmUp: {
              liveHeapBytes: growth.liveHeapBytes,
              anonRssBytes: growth.anonRssBytes,
            },
            problems: verdict.problems,
            pass: verdict.pass,
          },
          null,
          2,
        ) + "\n",
    }])
    : [];
  const word = verdict.pass
    ? "PASS"
    : run.interrupted
    ? `INTERRUPTED after ${(run.ranMs / 1000).toFixed(0)} of ${
      durationMs / 1000
    } s`
    : "FAIL";
  console.log(
    `stability: ${word}${
      verdict.pass ? "" : ": " + verdict.problems.join("; ")
    }`,
  );
  for (const e of errors) console.error(`stability: ${e}`);
  if (!verdict.pass) return ExitCode.FAILED;
  return errors.length ? ExitCode.ENVIRONMENT : ExitCode.OK;
}
