/**
 * A resolved profile in speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json), for
 * https://www.speedscope.app or `speedscope FILE` offline.
 *
 * One "sampled" profile per thread, the frames shared between them. The
 * samples come from the profile's timeline (every sample with its
 * timestamp, in time order), so speedscope's "Time Order" view is a real
 * time axis: each sample weighs one sampling period (1e9 / frequency ns,
 * as pprof's cpu/nanoseconds), and the time a thread was not sampled
 * (off CPU, or another thread ran) is an empty stack weighing the gap.
 * Every thread's axis starts at the profile's first sample, so threads
 * line up. Frames are named as folded stacks name them (kernel `_[k]`,
 * JIT `_[j]`); `file` is the source file with `--lines`, else the module.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { speedscopeStacks, toSpeedscope } from "./speedscope.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const doc = toSpeedscope(exampleProfile());
 * assert.equal(doc.$schema, "https://www.speedscope.app/file-format-schema.json");
 * assert.equal(doc.profiles.length, 1);
 * assert.deepEqual(speedscopeStacks(doc), new Map([
 *   ["app;main;work;spin", 3],
 *   ["app;main;work;write;ksys_write_[k]", 1],
 * ]));
 * ```
 * @module
 */
import { frameLabel, type ResolvedProfile } from "../profile/model.ts";
import { samplingPeriodNs } from "./pprof.ts";

/** speedscope's schema URL, which its importer checks. */
export const SPEEDSCOPE_SCHEMA =
  "https://www.speedscope.app/file-format-schema.json";

/** A frame of speedscope's shared table. */
export interface SpeedscopeFrame {
  name: string;
  file?: string;
  line?: number;
}

/** One thread's samples. */
export interface SpeedscopeSampled {
  type: "sampled";
  name: string;
  unit: "nanoseconds";
  startValue: number;
  endValue: number;
  /** Stacks of frame indexes, root first. */
  samples: number[][];
  weights: number[];
}

/** A speedscope file. */
export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  name: string;
  exporter: string;
  activeProfileIndex: number;
  shared: { frames: SpeedscopeFrame[] };
  profiles: SpeedscopeSampled[];
}

/** The profile name of a thread, which {@link speedscopeStacks} reads back. */
function threadTitle(thread: string, pid: number, tid: number): string {
  return `${thread} (pid ${pid}, tid ${tid})`;
}
const TITLE = /^(.*) \(pid (-?\d+), tid (-?\d+)\)$/;

/**
 * The speedscope document of `p`. Needs the timeline (`runProfile` with
 * `timeline: true`) for time order; without one, each thread's aggregated
 * stacks follow one another (and the name says so).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { toSpeedscope } from "./speedscope.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const t = toSpeedscope(exampleProfile()).profiles[0];
 * // spin, write, a gap of one period, then spin twice (merged: one entry).
 * assert.deepEqual(t.weights, [10101010, 10101010, 10101010, 20202020]);
 * assert.equal(t.samples[2].length, 0);
 * assert.equal(t.endValue, 50505050);
 * ```
 */
export function toSpeedscope(p: ResolvedProfile): SpeedscopeFile {
  const period = samplingPeriodNs(p.meta.frequencyHz) || 1;
  const frames: SpeedscopeFrame[] = p.frames.map((f) => {
    const out: SpeedscopeFrame = {
      name: frameLabel(f),
      file: f.file ?? f.module,
    };
    if (f.line !== undefined) out.line = f.line;
    return out;
  });
  // Names of each thread, from the aggregated samples.
  const names = new Map<number, { thread: string; pid: number }>();
  for (const s of p.samples) names.set(s.tid, { thread: s.thread, pid: s.pid });

  interface Track {
    pid: number;
    tid: number;
    cursor: number;
    samples: number[][];
    weights: number[];
    count: number;
    /** Whether the last entry is a sample (not a gap) that a repeat may extend. */
    lastKey: string | null;
  }
  const tracks = new Map<number, Track>();
  const track = (pid: number, tid: number): Track => {
    let t = tracks.get(tid);
    if (!t) {
      t = {
        pid,
        tid,
        cursor: 0,
        samples: [],
        weights: [],
        count: 0,
        lastKey: null,
      };
      tracks.set(tid, t);
    }
    return t;
  };
  const add = (t: Track, at: number, stack: number[], count: number) => {
    if (at > t.cursor) {
      t.samples.push([]);
      t.weights.push(at - t.cursor);
      t.cursor = at;
      t.lastKey = null;
    }
    const key = stack.join(",");
    if (key === t.lastKey) {
      t.weights[t.weights.length - 1] += count * period;
    } else {
      t.samples.push([...stack].reverse());
      t.weights.push(count * period);
      t.lastKey = key;
    }
    t.cursor += count * period;
    t.count += count;
  };
  const timed = p.timeline !== undefined;
  if (p.timeline) {
    const order = p.timeline.map((_, i) => i);
    order.sort((a, b) => p.timeline![a].offsetNs - p.timeline![b].offsetNs);
    for (const i of order) {
      const s = p.timeline[i];
      add(track(s.pid, s.tid), Math.max(0, s.offsetNs), s.stack, 1);
    }
  } else {
    for (const s of p.samples) {
      const t = track(s.pid, s.tid);
      add(t, t.cursor, s.stack, s.count);
    }
  }
  const profiles = [...tracks.values()]
    .sort((a, b) => b.count - a.count || a.tid - b.tid)
    .map((t): SpeedscopeSampled => ({
      type: "sampled",
      name: threadTitle(
        names.get(t.tid)?.thread ?? `[tid ${t.tid}]`,
        t.pid,
        t.tid,
      ),
      unit: "nanoseconds",
      startValue: 0,
      endValue: t.cursor,
      samples: t.samples,
      weights: t.weights,
    }));
  return {
    $schema: SPEEDSCOPE_SCHEMA,
    name: `streamprof: ${p.meta.host} (${p.meta.kernel}, ${p.meta.arch}), ${
      (p.meta.durationNs / 1e9).toFixed(1)
    } s at ${p.meta.frequencyHz} Hz, ${p.totalSamples} samples${
      timed ? "" : " (aggregated: no timeline)"
    }`,
    exporter: "streamprof",
    activeProfileIndex: 0,
    shared: { frames },
    profiles,
  };
}

/**
 * A speedscope document back as folded-style stacks,
 * `thread;root;...;leaf` -> samples (weight / period), skipping the gaps:
 * for checking it describes the same samples as the other outputs.
 * `periodNs` defaults to the period of the rate the document's name
 * states (`... at 99 Hz ...`, as {@link toSpeedscope} writes it).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { speedscopeStacks, toSpeedscope } from "./speedscope.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const back = speedscopeStacks(toSpeedscope(exampleProfile()));
 * assert.equal(back.get("app;main;work;spin"), 3);
 * ```
 */
export function speedscopeStacks(
  doc: SpeedscopeFile,
  periodNs?: number,
): Map<string, number> {
  if (periodNs === undefined) {
    const hz = / at (\d+) Hz/.exec(doc.name);
    if (!hz) throw new Error(`no sampling rate in the name "${doc.name}"`);
    periodNs = samplingPeriodNs(Number(hz[1])) || 1;
  }
  const out = new Map<string, number>();
  const labels = doc.shared.frames.map((f) => f.name.replaceAll(";", ":"));
  for (const prof of doc.profiles) {
    const m = TITLE.exec(prof.name);
    const thread = (m ? m[1] : prof.name).replaceAll(";", ":").replaceAll(
      " ",
      "_",
    );
    prof.samples.forEach((stack, i) => {
      if (stack.length === 0) return;
      const n = prof.weights[i] / periodNs!;
      if (!Number.isInteger(n)) {
        throw new Error(
          `${prof.name}: sample ${i} weighs ${
            prof.weights[i]
          } ns, not a whole number of ${periodNs} ns periods`,
        );
      }
      const key = [thread, ...stack.map((f) => labels[f])].join(";");
      out.set(key, (out.get(key) ?? 0) + n);
    });
  }
  return out;
}
