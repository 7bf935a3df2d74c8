/**
 * `streamprof stability`: the memory stability test. Streams at 1 kHz on
 * every busy CPU for a long time, samples memory and event counts every few
 * seconds, prints the series, and fails on growth beyond the stated bounds
 * or on any drop.
 *
 * Each sample first forces a full garbage collection, so the heap figure is
 * the live heap, not wherever the GC saw-tooth happens to be. Bounds,
 * measured from the first sample (taken after one interval of warm-up, so
 * start-up allocation is not counted as growth):
 * - the live V8 heap may not exceed the first sample by more than 1 MB;
 * - anonymous RSS (what a leak in V8, the allocator or the WASM memory
 *   grows) may not exceed the first sample by more than 4 MB. File-backed
 *   RSS (the Deno binary's code paged in as new paths run, the ring's
 *   pages) is printed but not bounded: it is not allocation;
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
import v8 from "node:v8";
import vm from "node:vm";
import { parseDuration, parsePositiveInt } from "../common/args.ts";
import { ExitCode } from "../common/errors.ts";
import { formatMB } from "../common/format.ts";
import { interruptSignal, sleep } from "../common/signals.ts";
import { describeEnvironment } from "../common/environment.ts";
import { startBusyLoad } from "../profiler/busy_load.ts";
import { ProfilerSession } from "../profiler/session.ts";
import { formatTable } from "../report/table.ts";

/** Allowed growth of the live V8 heap over the run. */
export const HEAP_GROWTH_BOUND = 1_000_000;
/** Allowed growth of the process's anonymous RSS over the run. */
export const ANON_RSS_GROWTH_BOUND = 4_000_000;

/**
 * A function that forces a full garbage collection: V8's gc(), exposed at
 * run time through node:v8 (no command-line flag needed). Undefined if the
 * runtime refuses.
 */
function fullGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc : undefined;
  } catch {
    return undefined;
  }
}

/** Anonymous and file-backed resident memory of this process, in bytes. */
export function residentBreakdown(): { anon: number; file: number } {
  const s = Deno.readTextFileSync("/proc/self/status");
  const kb = (k: string) =>
    Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}

/** Usage text of `stability`. */
export const STABILITY_HELP = `Usage: streamprof stability [options]

Streams at --freq on every CPU (kept busy) for --duration, samples V8 heap,
RSS, WASM memory and event counts every --interval, prints the series, and
fails (exit 1) on live-heap growth > 1 MB (a full GC precedes each sample),
anonymous RSS growth > 4 MB, any change of the WASM memory, or any drop.

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
  /** Live V8 heap (after a full GC when available). */
  heapUsed: number;
  rss: number;
  rssAnon: number;
  rssFile: number;
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
  const gc = fullGc();
  if (!gc) {
    console.error(
      "stability: cannot force GC here: heap figures include garbage",
    );
  }
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
      gc?.();
      const m = Deno.memoryUsage();
      const r = residentBreakdown();
      const s: StabilitySample = {
        elapsedS: (now - t0) / 1000,
        events: session.reader.totals.events,
        drops: session.counters().reserveFailed,
        heapUsed: m.heapUsed,
        rss: m.rss,
        rssAnon: r.anon,
        rssFile: r.file,
        wasmBytes: session.parser.memory.buffer.byteLength,
        cpuPercent: ((used.user + used.system) / 1000) / (now - last) * 100,
      };
      last = now;
      samples.push(s);
      console.error(
        `  ${
          s.elapsedS.toFixed(0)
        } s: ${s.events} events, ${s.drops} drops, heap ${
          formatMB(s.heapUsed)
        }, rss ${formatMB(s.rss)}`,
      );
    }
  } finally {
    const report = session ? await session.stop() : undefined;
    await load.stop();
    if (report) {
      const problems: string[] = [...report.reconciliation.problems];
      if (samples.length < 2) {
        problems.push("fewer than 2 samples: run longer than two intervals");
      } else {
        const first = samples[0];
        const maxHeap = Math.max(...samples.map((s) => s.heapUsed));
        const maxAnon = Math.max(...samples.map((s) => s.rssAnon));
        if (maxHeap - first.heapUsed > HEAP_GROWTH_BOUND) {
          problems.push(
            `live V8 heap grew ${formatMB(maxHeap - first.heapUsed)} (> ${
              formatMB(HEAP_GROWTH_BOUND)
            })`,
          );
        }
        if (maxAnon - first.rssAnon > ANON_RSS_GROWTH_BOUND) {
          problems.push(
            `anonymous RSS grew ${formatMB(maxAnon - first.rssAnon)} (> ${
              formatMB(ANON_RSS_GROWTH_BOUND)
            })`,
          );
        }
        if (samples.some((s) => s.wasmBytes !== first.wasmBytes)) {
          problems.push("WASM memory changed size");
        }
      }
      console.log(formatTable(
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
        ],
        samples.map((s) => [
          s.elapsedS.toFixed(0),
          String(s.events),
          String(s.drops),
          formatMB(s.heapUsed),
          formatMB(s.rss),
          formatMB(s.rssAnon),
          formatMB(s.rssFile),
          formatMB(s.wasmBytes),
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
            {
              environment: env,
              freq,
              forcedGc: gc !== undefined,
              bounds: {
                liveHeapGrowthBytes: HEAP_GROWTH_BOUND,
                anonRssGrowthBytes: ANON_RSS_GROWTH_BOUND,
              },
              samples,
              report,
              problems,
              pass,
            },
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
