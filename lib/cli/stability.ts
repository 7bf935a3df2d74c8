/**
 * `streamprof stability`: the memory stability test. Streams at 1 kHz on
 * every busy CPU for a long time, samples memory and event counts every few
 * seconds, prints the series, and fails on growth beyond the stated bounds
 * or on any drop.
 *
 * Bounds, measured from the first sample (taken after one interval of
 * warm-up, so start-up allocation is not counted as growth):
 * - V8 heap used may not exceed the first sample by more than 4 MB
 *   (garbage collection makes it a saw-tooth; a leak climbs past any bound);
 * - RSS may not exceed the first sample by more than 8 MB;
 * - the WASM memory laid out by the parser may not change at all;
 * - zero drops and exact reconciliation.
 *
 * @example
 * ```sh
 * deno task stability --duration 5m --json out/stability.json
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import {
  ExitCode,
  interruptSignal,
  mb,
  parseDuration,
  parsePositiveInt,
  sleep,
} from "./args.ts";
import { describeEnvironment } from "./environment.ts";
import { startBusyLoad } from "../profiler/busy_load.ts";
import { ProfilerSession } from "../profiler/session.ts";
import { formatTable } from "../report/table.ts";

/** Allowed growth of the V8 heap over the run. */
export const HEAP_GROWTH_BOUND = 4_000_000;
/** Allowed growth of the process RSS over the run. */
export const RSS_GROWTH_BOUND = 8_000_000;

/** Usage text of `stability`. */
export const STABILITY_HELP = `Usage: streamprof stability [options]

Streams at --freq on every CPU (kept busy) for --duration, samples V8 heap,
RSS, WASM memory and event counts every --interval, prints the series, and
fails (exit 1) on heap growth > 4 MB, RSS growth > 8 MB, any change of the
WASM memory, or any drop.

Options:
  --duration TIME   default $TEST_DURATION or 5m
  --interval TIME   sampling interval (default 5s)
  --freq HZ         default 1000
  --json FILE       write the series and verdict as JSON
  -h, --help        this text`;

/** One sample of the series. */
export interface StabilitySample {
  elapsedS: number;
  events: number;
  drops: number;
  heapUsed: number;
  rss: number;
  wasmBytes: number;
  cpuPercent: number;
}

/** Runs `stability`; returns the exit code. */
export async function stabilityCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string" },
      interval: { type: "string" },
      freq: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(STABILITY_HELP);
    return ExitCode.OK;
  }
  const durationMs = parseDuration(
    values.duration ?? Deno.env.get("TEST_DURATION") ?? "5m",
    "--duration",
  );
  const intervalMs = parseDuration(values.interval ?? "5s", "--interval");
  const freq = values.freq ? parsePositiveInt(values.freq, "--freq") : 1000;
  const env = describeEnvironment();
  const interrupt = interruptSignal();
  const load = startBusyLoad(env.onlineCpus);
  const samples: StabilitySample[] = [];
  let session: ProfilerSession | undefined;
  try {
    session = await ProfilerSession.start({ frequency: freq });
    console.error(
      `stability: ${freq} Hz on ${session.cpus.length} CPUs for ${
        durationMs / 1000
      } s, a sample every ${intervalMs / 1000} s`,
    );
    const t0 = performance.now();
    let cpu = process.cpuUsage();
    let last = t0;
    while (performance.now() - t0 < durationMs && !interrupt.signal.aborted) {
      await sleep(
        Math.min(intervalMs, durationMs - (performance.now() - t0)),
        interrupt.signal,
      );
      const now = performance.now();
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      const m = Deno.memoryUsage();
      const s: StabilitySample = {
        elapsedS: (now - t0) / 1000,
        events: session.reader.totals.events,
        drops: session.counters().reserveFailed,
        heapUsed: m.heapUsed,
        rss: m.rss,
        wasmBytes: session.parser.memory.buffer.byteLength,
        cpuPercent: ((used.user + used.system) / 1000) / (now - last) * 100,
      };
      last = now;
      samples.push(s);
      console.error(
        `  ${
          s.elapsedS.toFixed(0)
        } s: ${s.events} events, ${s.drops} drops, heap ${
          mb(s.heapUsed)
        }, rss ${mb(s.rss)}`,
      );
    }
  } finally {
    const report = session ? await session.stop() : undefined;
    await load.stop();
    interrupt.dispose();
    if (report) {
      const problems: string[] = [...report.reconciliation.problems];
      if (samples.length < 2) {
        problems.push("fewer than 2 samples: run longer than two intervals");
      } else {
        const first = samples[0];
        const maxHeap = Math.max(...samples.map((s) => s.heapUsed));
        const maxRss = Math.max(...samples.map((s) => s.rss));
        if (maxHeap - first.heapUsed > HEAP_GROWTH_BOUND) {
          problems.push(
            `V8 heap grew ${mb(maxHeap - first.heapUsed)} (> ${
              mb(HEAP_GROWTH_BOUND)
            })`,
          );
        }
        if (maxRss - first.rss > RSS_GROWTH_BOUND) {
          problems.push(
            `RSS grew ${mb(maxRss - first.rss)} (> ${mb(RSS_GROWTH_BOUND)})`,
          );
        }
        if (samples.some((s) => s.wasmBytes !== first.wasmBytes)) {
          problems.push("WASM memory changed size");
        }
      }
      console.log(formatTable(
        ["elapsed s", "events", "drops", "heap", "rss", "wasm", "cpu %"],
        samples.map((s) => [
          s.elapsedS.toFixed(0),
          String(s.events),
          String(s.drops),
          mb(s.heapUsed),
          mb(s.rss),
          mb(s.wasmBytes),
          s.cpuPercent.toFixed(2),
        ]),
      ));
      console.log(report.reconciliation.line);
      const pass = problems.length === 0;
      console.log(
        `stability: ${pass ? "PASS" : "FAIL: " + problems.join("; ")}`,
      );
      if (values.json) {
        await Deno.writeTextFile(
          values.json,
          JSON.stringify(
            { environment: env, freq, samples, report, problems, pass },
            null,
            2,
          ) + "\n",
        );
      }
      // deno-lint-ignore no-unsafe-finally
      return pass ? ExitCode.OK : ExitCode.FAILED;
    }
  }
  return ExitCode.ENVIRONMENT;
}
