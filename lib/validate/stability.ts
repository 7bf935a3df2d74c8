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
 * assert.match(v.problems[0], /fewer than 4 samples/);
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
 * The fewest samples a run takes and its verdict judges: two of warm-up
 * (see {@link growthAfterWarmUp}) and two after it, so memory is always
 * compared between samples of the settled process. A short run on a slow
 * machine goes on past its duration until it has them (a 10 s run in a TCG
 * guest sharing two cores with two others took 2 samples in 13 s, the
 * first as its load was starting, and measured that start as growth).
 */
export const MIN_SAMPLES = 4;
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
    // has the MIN_SAMPLES a verdict needs, one interval apart.
    let lastAt = 0;
    for (
      let k = 1;
      (lastAt < o.durationMs || samples.length < MIN_SAMPLES) &&
      !o.signal?.aborted;
      k++
    ) {
      // Past the duration (too few samples yet), one more interval each.
      const due = k * o.intervalMs <= o.durationMs
        ? k * o.intervalMs
        : lastAt < o.durationMs
        ? o.durationMs
        : lastAt + o.intervalMs;
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
 * How much a memory series grew after its warm-up: the peak of the samples
 * after the first quarter (rounded up, and at least the first two samples
 * of three or more) over the peak of that quarter. A process settles in its
 * first minutes (allocator arenas, code space, the caches filling:
 * measured, 24 to 32 MB of anonymous RSS in the first 4.5 minutes of a
 * 10-minute run, then flat; in a 10 s run in a TCG guest, +3.6 MB between
 * the first sample, taken as the load started, and the second), and that
 * is not a leak; memory that keeps growing still shows, as the growth over
 * the rest of the run. With two samples it is simply the second minus the
 * first (the verdict asks for {@link MIN_SAMPLES}, so it never judges that
 * alone). A run of a few samples judges little: the long run is the proof.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { growthAfterWarmUp } from "./stability.ts";
 * assert.equal(growthAfterWarmUp([10, 14, 12, 13, 13, 12, 13, 14]), 0);
 * assert.equal(growthAfterWarmUp([10, 11, 12, 13, 14, 15, 16, 17]), 6);
 * ```
 */
export function growthAfterWarmUp(series: readonly number[]): number {
  if (series.length < 2) return 0;
  // The first sample is always part of it: it is taken while the process
  // and its load are still starting (in a TCG guest, 544 events in its
  // first 5 s, 2,700 in the next 3), so with three samples or more the
  // warm-up holds at least two.
  const warm = Math.max(
    Math.ceil(series.length / 4),
    Math.min(2, series.length - 1),
  );
  const before = Math.max(...series.slice(0, warm));
  const after = Math.max(...series.slice(warm));
  return Math.max(0, after - before);
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
  if (samples.length < MIN_SAMPLES) {
    problems.push(
      `fewer than ${MIN_SAMPLES} samples (${samples.length}): memory is judged after a warm-up of two`,
    );
  } else {
    const first = samples[0];
    const heap = growthAfterWarmUp(samples.map((s) => s.heapUsed));
    const anon = growthAfterWarmUp(samples.map((s) => s.rssAnon));
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
