/**
 * The memory stability run: stream at 1 kHz on every busy CPU for a long
 * time, cut the profile every interval as a continuous profiler does, and
 * sample memory, events and lost stacks per interval. The run and its
 * verdict are separate: {@link runStability} measures, the pure
 * {@link stabilityVerdict} judges, the command renders.
 *
 * The load is the fixture program's "paths" mode by default: thousands of
 * distinct call paths on every CPU, so the stack tables, the profile and
 * the symbol caches are exercised as a real workload would.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { stabilityVerdict } from "./stability.ts";
 * const v = stabilityVerdict({ samples: [], interrupted: false, reconciliation: { ok: true, problems: [] } });
 * assert.equal(v.pass, false);
 * assert.match(v.problems[0], /0 samples, 0 after the warm-up/);
 * ```
 * @module
 */
import process from "node:process";
import {
  describeEnvironment,
  type EnvironmentInfo,
} from "../common/environment.ts";
import { EnvironmentError } from "../common/errors.ts";
import { fullGc, residentBreakdown } from "../common/memory.ts";
import { formatMB } from "../common/format.ts";
import { sleep } from "../common/signals.ts";
import {
  type BusyLoad,
  startBusyLoad,
  watchedCommand,
} from "../profiler/busy_load.ts";
import type { Reconciliation } from "../profiler/reconcile.ts";
import { ProfilerSession, type SessionReport } from "../profiler/session.ts";

/** Allowed growth of the live V8 heap after the warm-up (each sample after a full GC; see growthAfterWarmUp). */
export const HEAP_GROWTH_BOUND = 1_000_000;
/** Allowed growth of the process's anonymous RSS after the warm-up (see growthAfterWarmUp). */
export const ANON_RSS_GROWTH_BOUND = 4_000_000;
/**
 * Seconds of streaming that are always warm-up (see {@link warmUpCount}).
 * Measured in arm64 TCG guests: anonymous RSS steps up 2-3.5 MB once,
 * between 4 and 10 s, then stays flat (the runtime settling, with the live
 * heap flat), which a verdict after two samples of warm-up judged as growth.
 */
export const WARM_UP_S = 10;
/**
 * Samples after the warm-up that a verdict needs, and a run takes: a short
 * run, or one whose cuts are slow, goes on past its duration an interval at
 * a time until it has them (see {@link enoughSamples}).
 */
export const JUDGED_SAMPLES = 2;
/** Allowed share of samples that lost a stack, in every interval: 0.1%. */
export const LOST_STACK_RATE_BOUND = 0.001;

/** The fixture program with thousands of distinct call paths. */
export const PATHS_FIXTURE = new URL(
  "../../tests/fixtures/build/hotspots",
  import.meta.url,
).pathname;

/** What keeps the CPUs busy. */
export type StabilityLoad = "paths" | "busy" | "none";

/** Options of a stability run. */
export interface StabilityOptions {
  durationMs: number;
  intervalMs: number;
  frequency: number;
  /** Default "paths" (the fixture), "busy" (shell loops), "none". */
  load?: StabilityLoad;
  /** The paths fixture (default {@link PATHS_FIXTURE}). */
  fixture?: string;
  signal?: AbortSignal;
  onSample?: (s: StabilitySample) => void;
  onStart?: (cpus: number) => void;
}

/** One interval of the series. */
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
  /** Samples with frames in this interval. */
  intervalSamples: number;
  /** Stacks lost (faults) in this interval. */
  intervalLostStacks: number;
  /** intervalLostStacks / intervalSamples (0 for no samples). */
  lostStackRate: number;
  /** Distinct stacks of this interval's profile. */
  distinctStacks: number;
}

/** What a run measured. */
export interface StabilityRun {
  environment: EnvironmentInfo;
  frequency: number;
  load: StabilityLoad;
  forcedGc: boolean;
  samples: StabilitySample[];
  durationMs: number;
  /** How long it ran before it ended. */
  ranMs: number;
  interrupted: boolean;
  report: Omit<SessionReport, "profile">;
}

/** Starts the paths fixture with one thread per CPU, bounded in time. */
function startPathsLoad(
  fixture: string,
  cpus: number,
  seconds: number,
): BusyLoad {
  try {
    Deno.statSync(fixture);
  } catch {
    throw new EnvironmentError(`the stability fixture ${fixture} is missing`, {
      hint:
        "build it with 'make -C tests/fixtures' (part of make setup), or pass --load busy",
    });
  }
  // Under a watching shell: the fixture dies with us even on SIGKILL.
  const [sh, ...shArgs] = watchedCommand([
    fixture,
    "--mode",
    "paths",
    "--threads",
    String(cpus),
    "--seconds",
    String(seconds),
  ]);
  const child = new Deno.Command(sh, {
    args: shArgs,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped: Promise<void> | null = null;
  return {
    pids: [child.pid],
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM"); // the watcher kills the fixture, then exits
        } catch { /* gone */ }
        await child.status;
      })();
      return stopped;
    },
  };
}

export { residentBreakdown };

/** Runs the series. Throws only for environment errors. */
export async function runStability(o: StabilityOptions): Promise<StabilityRun> {
  const environment = describeEnvironment();
  const gc = fullGc();
  const loadKind = o.load ?? "paths";
  const load = loadKind === "none"
    ? null
    : loadKind === "busy"
    ? startBusyLoad(environment.onlineCpus)
    : startPathsLoad(
      o.fixture ?? PATHS_FIXTURE,
      environment.onlineCpus,
      Math.ceil(o.durationMs / 1000) + 30,
    );
  const samples: StabilitySample[] = [];
  let session: ProfilerSession | undefined;
  // The run's clock starts when the session streams: loading and verifying
  // the program took seconds in a loaded TCG guest, and the first interval
  // must measure streaming, not start-up.
  let t0 = performance.now();
  try {
    session = await ProfilerSession.start({ frequency: o.frequency });
    t0 = performance.now();
    o.onStart?.(session.cpus.length);
    let cpu = process.cpuUsage();
    let last = t0;
    let prevWithFrames = 0;
    let prevLost = 0;
    // Samples fall on fixed deadlines (t0 + k intervals), so the time a
    // cut takes does not push the next one later: on a slow machine (a TCG
    // guest sharing two cores with two others took its first sample of a
    // 10 s run at 9 s) a run still gets its samples, late ones at once. The
    // run goes on until a sample has been taken at the end of the duration
    // (the last interval is measured too, however long a cut took) and it
    // has the samples a verdict needs (enoughSamples), one interval apart.
    let lastAt = 0;
    for (
      let k = 1;
      !runDone(samples.map((s) => s.elapsedS), lastAt, o.durationMs) &&
      !o.signal?.aborted;
      k++
    ) {
      const due = nextDue(k, o.intervalMs, o.durationMs, lastAt);
      const wait = due - (performance.now() - t0);
      if (wait > 0) await sleep(wait, o.signal);
      // The interval ends: its profile is cut, as a continuous profiler
      // ships one per interval (and memory must not grow with the run).
      const interval = session.takeProfile();
      const now = performance.now();
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      gc?.();
      const m = Deno.memoryUsage();
      const r = residentBreakdown();
      const t = session.reader.totals;
      const withFrames = t.events - t.noFrames;
      const lost = t.userStacks.fault + t.kernelStacks.fault;
      const dSamples = withFrames - prevWithFrames;
      const dLost = lost - prevLost;
      prevWithFrames = withFrames;
      prevLost = lost;
      const s: StabilitySample = {
        elapsedS: (now - t0) / 1000,
        events: t.events,
        drops: session.counters().reserveFailed,
        heapUsed: m.heapUsed,
        rss: m.rss,
        rssAnon: r.anon,
        rssFile: r.file,
        wasmBytes: session.parser.memory.buffer.byteLength,
        cpuPercent: ((used.user + used.system) / 1000) / (now - last) * 100,
        intervalSamples: dSamples,
        intervalLostStacks: dLost,
        lostStackRate: dSamples ? dLost / dSamples : 0,
        distinctStacks: interval.stackCount,
      };
      last = now;
      lastAt = now - t0;
      samples.push(s);
      o.onSample?.(s);
    }
  } finally {
    const report = session ? await session.stop() : undefined;
    await load?.stop();
    if (report) {
      const { profile: _, ...rest } = report;
      // deno-lint-ignore no-unsafe-finally
      return {
        environment,
        frequency: o.frequency,
        load: loadKind,
        forcedGc: gc !== undefined,
        samples,
        durationMs: o.durationMs,
        ranMs: performance.now() - t0,
        interrupted: o.signal?.aborted ?? false,
        report: rest,
      };
    }
  }
  throw new Error("stability: the session did not start");
}

/**
 * When sample `k` (from 1) is due, in ms of streaming: every interval up to
 * the duration, then one at its end, then (while the run still lacks the
 * samples a verdict needs) an interval after the last one taken.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { nextDue } from "./stability.ts";
 * assert.equal(nextDue(3, 2000, 5000, 4000), 5000);
 * assert.equal(nextDue(4, 2000, 5000, 5300), 7300);
 * ```
 */
export function nextDue(
  k: number,
  intervalMs: number,
  durationMs: number,
  lastAtMs: number,
): number {
  if (k * intervalMs <= durationMs) return k * intervalMs;
  return lastAtMs < durationMs ? durationMs : lastAtMs + intervalMs;
}

/** Whether a run whose samples fell at `timesS` (last at lastAtMs) is done. */
function runDone(timesS: number[], lastAtMs: number, durationMs: number) {
  return lastAtMs >= durationMs && enoughSamples(timesS);
}

/**
 * The seconds at which a run of this duration and interval takes its
 * samples when nothing is late: what the command announces up front.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { plannedSampleTimes } from "./stability.ts";
 * // 10 s at 2 s: five samples within the first 10 s (all warm-up), two more.
 * assert.deepEqual(plannedSampleTimes(10_000, 2_000), [2, 4, 6, 8, 10, 12, 14]);
 * assert.equal(plannedSampleTimes(600_000, 30_000).length, 20);
 * ```
 */
export function plannedSampleTimes(
  durationMs: number,
  intervalMs: number,
): number[] {
  const times: number[] = [];
  let lastAt = 0;
  for (let k = 1; !runDone(times, lastAt, durationMs); k++) {
    lastAt = nextDue(k, intervalMs, durationMs, lastAt);
    times.push(lastAt / 1000);
  }
  return times;
}

/**
 * How many of a run's first samples are warm-up: the first quarter
 * (rounded up), at least the first two of three or more, and, given the
 * samples' times, every one of the first {@link WARM_UP_S} seconds. A
 * process settles in its first minutes (allocator arenas, code space, the
 * caches filling: measured, 24 to 32 MB of anonymous RSS in the first 4.5
 * minutes of a 10-minute run, then flat; in TCG guests a step of 2-3.5 MB
 * between 4 and 10 s), and that is not a leak.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { warmUpCount } from "./stability.ts";
 * assert.equal(warmUpCount(20), 5);
 * assert.equal(warmUpCount(5), 2);
 * assert.equal(warmUpCount(7, [2, 4, 6, 8, 10, 12, 14]), 5);
 * ```
 */
export function warmUpCount(n: number, elapsedS?: readonly number[]): number {
  if (n < 2) return 0;
  let warm = Math.max(Math.ceil(n / 4), Math.min(2, n - 1));
  if (elapsedS) {
    let early = 0;
    while (early < n && elapsedS[early] <= WARM_UP_S) early++;
    warm = Math.max(warm, early);
  }
  return warm;
}

/**
 * Whether samples taken at `elapsedS` give a verdict something to judge:
 * {@link JUDGED_SAMPLES} after the warm-up.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { enoughSamples } from "./stability.ts";
 * assert.equal(enoughSamples([30, 60, 90, 120]), true);
 * assert.equal(enoughSamples([2, 4, 6, 8, 10, 12]), false);
 * ```
 */
export function enoughSamples(elapsedS: readonly number[]): boolean {
  const n = elapsedS.length;
  return n >= 2 && n - warmUpCount(n, elapsedS) >= JUDGED_SAMPLES;
}

/**
 * How much a memory series grew after its warm-up ({@link warmUpCount}):
 * the peak of the samples after it over the peak of the warm-up. Memory
 * that keeps growing still shows, as the growth over the rest of the run.
 * With two samples (and no times) it is simply the second minus the first;
 * 0 when nothing follows the warm-up (the verdict then asks for more). A
 * run of a few samples judges little: the long run is the proof.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { growthAfterWarmUp } from "./stability.ts";
 * assert.equal(growthAfterWarmUp([10, 14, 12, 13, 13, 12, 13, 14]), 0);
 * assert.equal(growthAfterWarmUp([10, 11, 12, 13, 14, 15, 16, 17]), 6);
 * // With times: the step at 6 s is warm-up; after 10 s it is flat.
 * assert.equal(growthAfterWarmUp([19, 20, 23, 23, 23, 23, 24], [2, 4, 6, 8, 10, 12, 14]), 1);
 * ```
 */
export function growthAfterWarmUp(
  series: readonly number[],
  elapsedS?: readonly number[],
): number {
  const warm = warmUpCount(series.length, elapsedS);
  if (warm === 0 || warm >= series.length) return 0;
  const before = Math.max(...series.slice(0, warm));
  const after = Math.max(...series.slice(warm));
  return Math.max(0, after - before);
}

/** What a run's memory verdict is held to (the stability JSON gives it). */
export interface MemoryGrowth {
  /** Samples counted as warm-up ({@link warmUpCount}). */
  warmUpSamples: number;
  /** {@link growthAfterWarmUp} of the live V8 heap. */
  liveHeapBytes: number;
  /** {@link growthAfterWarmUp} of anonymous RSS. */
  anonRssBytes: number;
}

/**
 * The warm-up and the growth after it of a run's samples: what
 * {@link stabilityVerdict} holds to the bounds.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { memoryGrowth } from "./stability.ts";
 * const at = (elapsedS: number, rssAnon: number) => ({ elapsedS, rssAnon, heapUsed: 5e6 });
 * assert.deepEqual(
 *   memoryGrowth([at(30, 20e6), at(60, 21e6), at(90, 21.5e6), at(120, 21.2e6)]),
 *   { warmUpSamples: 2, liveHeapBytes: 0, anonRssBytes: 0.5e6 },
 * );
 * ```
 */
export function memoryGrowth(
  samples: readonly Pick<
    StabilitySample,
    "elapsedS" | "heapUsed" | "rssAnon"
  >[],
): MemoryGrowth {
  const times = samples.map((s) => s.elapsedS);
  return {
    warmUpSamples: warmUpCount(samples.length, times),
    liveHeapBytes: growthAfterWarmUp(samples.map((s) => s.heapUsed), times),
    anonRssBytes: growthAfterWarmUp(samples.map((s) => s.rssAnon), times),
  };
}

/** The verdict on a run: pure, from its samples and reconciliation. */
export function stabilityVerdict(
  run: {
    samples: StabilitySample[];
    interrupted: boolean;
    reconciliation: Pick<Reconciliation, "ok" | "problems">;
  },
): { pass: boolean; problems: string[] } {
  const problems: string[] = [...run.reconciliation.problems];
  const samples = run.samples;
  if (run.interrupted) {
    problems.push("interrupted by a stop signal before the end");
  }
  const times = samples.map((s) => s.elapsedS);
  if (!enoughSamples(times)) {
    const n = samples.length;
    problems.push(
      `${n} samples, ${
        n - memoryGrowth(samples).warmUpSamples
      } after the warm-up: memory is judged on ${JUDGED_SAMPLES} or more after it (the first quarter, at least two, and the first ${WARM_UP_S} s)`,
    );
  } else {
    const first = samples[0];
    const { liveHeapBytes: heap, anonRssBytes: anon } = memoryGrowth(samples);
    if (heap > HEAP_GROWTH_BOUND) {
      problems.push(
        `live V8 heap grew ${formatMB(heap)} after the warm-up (> ${
          formatMB(HEAP_GROWTH_BOUND)
        })`,
      );
    }
    if (anon > ANON_RSS_GROWTH_BOUND) {
      problems.push(
        `anonymous RSS grew ${formatMB(anon)} after the warm-up (> ${
          formatMB(ANON_RSS_GROWTH_BOUND)
        })`,
      );
    }
    if (samples.some((s) => s.wasmBytes !== first.wasmBytes)) {
      problems.push("WASM memory changed size");
    }
  }
  const over = samples.filter((s) => s.lostStackRate >= LOST_STACK_RATE_BOUND);
  if (over.length > 0) {
    problems.push(
      `lost-stack rate at or above ${
        (LOST_STACK_RATE_BOUND * 100).toFixed(1)
      }% in ${over.length} intervals (worst ${
        (Math.max(...over.map((s) => s.lostStackRate)) * 100).toFixed(3)
      }% at ${over[0].elapsedS.toFixed(0)} s)`,
    );
  }
  return { pass: problems.length === 0, problems };
}
