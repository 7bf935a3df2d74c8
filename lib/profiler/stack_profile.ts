/**
 * The samples of a profile, aggregated by (pid, tid, cpu, user stack,
 * kernel stack), with every distinct stack kept once.
 *
 * The WASM parser aggregates on the hot path into tables that hold one
 * interval (until they fill, or the host cuts them); `absorb()` reads those
 * tables out, once per cut, and merges them here: stacks are re-interned by
 * their frames, so an id here stays valid for the whole profile, and no
 * sample is counted twice or lost across cuts. Only this step allocates,
 * per distinct key and stack, never per sample.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProfileParser } from "../parser/wasm_parser.ts";
 * import { referenceEncodeSamples } from "../parser/reference_decoder.ts";
 * import { StackProfile } from "./stack_profile.ts";
 * const parser = await ProfileParser.create();
 * const event = { timestampNs: 1n, pid: 7, tid: 7, userStackId: 0,
 *   kernelStackId: 0, cpu: 0, flags: 0 };
 * const bytes = referenceEncodeSamples([
 *   { event, user: [0x401000n, 0x401100n], kernel: [] },
 *   { event, user: [0x401000n, 0x401100n], kernel: [] },
 * ]);
 * parser.walk(bytes, { toAggregate: true });
 * const profile = new StackProfile();
 * profile.absorb(parser);
 * assert.equal(profile.totalSamples, 2);
 * assert.equal(profile.samples.length, 1);
 * assert.deepEqual([...profile.stack(profile.samples[0].userStack).frames], [0x401000n, 0x401100n]);
 * ```
 * @module
 */
import { StackId } from "../parser/layout.ts";
import type { ProfileParser } from "../parser/wasm_parser.ts";

/** One distinct stack. */
export interface Stack {
  /** The process whose address space the frames are in; -1 for kernel. */
  pid: number;
  /** Instruction pointers, innermost first. */
  frames: BigUint64Array;
}

/** One aggregated key and its sample count. */
export interface SampleCount {
  pid: number;
  tid: number;
  cpu: number;
  /** A stack id of this profile, or a negative {@link StackId} sentinel. */
  userStack: number;
  /** A stack id of this profile, or a negative {@link StackId} sentinel. */
  kernelStack: number;
  samples: number;
}

/** Per-sample timeline entries (for time-ordered outputs such as speedscope). */
export interface Timeline {
  /** ns since boot of each sample. */
  timestamps: Float64Array;
  tids: Int32Array;
  pids: Int32Array;
  /** Profile stack ids (or sentinels), like SampleCount's. */
  userStacks: Int32Array;
  kernelStacks: Int32Array;
  /** Entries in use. */
  length: number;
}

function hexKey(pid: number, frames: BigUint64Array): string {
  let s = `${pid}`;
  for (let i = 0; i < frames.length; i++) s += "," + frames[i].toString(16);
  return s;
}

/** Options of a {@link StackProfile}. */
export interface StackProfileOptions {
  /** Keep every sample's time, thread and stacks, in order (default false). */
  timeline?: boolean;
}

/** The aggregated samples and distinct stacks of one profile. */
export class StackProfile {
  readonly #stacks: Stack[] = [];
  readonly #stackIds = new Map<string, number>();
  readonly #keys = new Map<string, SampleCount>();
  #total = 0;
  #cuts = 0;
  readonly #timelineOn: boolean;
  #timeline: Timeline | null = null;
  /** Timeline entries recorded since the last absorb (their ids are the parser's). */
  #pendingFrom = 0;

  constructor(o: StackProfileOptions = {}) {
    this.#timelineOn = o.timeline ?? false;
    if (this.#timelineOn) {
      this.#timeline = {
        timestamps: new Float64Array(1024),
        tids: new Int32Array(1024),
        pids: new Int32Array(1024),
        userStacks: new Int32Array(1024),
        kernelStacks: new Int32Array(1024),
        length: 0,
      };
    }
  }

  /** Samples absorbed so far. */
  get totalSamples(): number {
    return this.#total;
  }
  /** Times the parser's tables were read out. */
  get cuts(): number {
    return this.#cuts;
  }
  /** Distinct stacks (user and kernel). */
  get stackCount(): number {
    return this.#stacks.length;
  }
  /** A stack by id (throws for a sentinel or unknown id). */
  stack(id: number): Stack {
    const s = this.#stacks[id];
    if (s === undefined) throw new RangeError(`no stack ${id} in the profile`);
    return s;
  }
  /** Every aggregated key (a new array; entries are live). */
  get samples(): SampleCount[] {
    return [...this.#keys.values()];
  }
  /** The timeline (null unless made with `timeline: true`). */
  get timeline(): Timeline | null {
    return this.#timeline;
  }

  /**
   * Records the last walk's batch in the timeline (call from the reader's
   * onBatch). Its stack ids are the parser's until the next absorb.
   */
  recordBatch(parser: ProfileParser): void {
    const t = this.#timeline;
    if (t === null) return;
    const n = parser.batchLength;
    if (t.length + n > t.tids.length) this.#grow(t.length + n);
    for (let i = 0; i < n; i++) {
      const j = t.length + i;
      t.timestamps[j] = parser.batchTimestamp(i);
      t.tids[j] = parser.batchTid(i);
      t.pids[j] = parser.batchPid(i);
      t.userStacks[j] = parser.batchUserStack(i);
      t.kernelStacks[j] = parser.batchKernelStack(i);
    }
    t.length += n;
  }

  #grow(need: number): void {
    const t = this.#timeline!;
    let cap = t.tids.length;
    while (cap < need) cap *= 2;
    const f = new Float64Array(cap);
    f.set(t.timestamps);
    t.timestamps = f;
    for (const k of ["tids", "pids", "userStacks", "kernelStacks"] as const) {
      const a = new Int32Array(cap);
      a.set(t[k]);
      t[k] = a;
    }
  }

  /** This profile's id for the parser's stack `id` (sentinels pass through). */
  #intern(
    parser: ProfileParser,
    id: number,
    memo: Map<number, number>,
  ): number {
    if (id < 0) return id;
    const known = memo.get(id);
    if (known !== undefined) return known;
    const frames = parser.stackFrames(id);
    const pid = parser.stackPid(id);
    const key = hexKey(pid, frames);
    let mine = this.#stackIds.get(key);
    if (mine === undefined) {
      mine = this.#stacks.length;
      this.#stacks.push({ pid, frames: frames.slice() });
      this.#stackIds.set(key, mine);
    }
    memo.set(id, mine);
    return mine;
  }

  /**
   * Merges the parser's aggregation table (and the timeline's pending ids)
   * into the profile. The caller cuts the parser's tables afterwards.
   */
  absorb(parser: ProfileParser): void {
    const memo = new Map<number, number>();
    for (const a of parser.readAggregates()) {
      const u = this.#intern(parser, a.userStack, memo);
      const k = this.#intern(parser, a.kernelStack, memo);
      const key = `${a.pid}/${a.tid}/${a.cpu}/${u}/${k}`;
      const have = this.#keys.get(key);
      if (have) have.samples += a.samples;
      else {
        this.#keys.set(key, {
          pid: a.pid,
          tid: a.tid,
          cpu: a.cpu,
          userStack: u,
          kernelStack: k,
          samples: a.samples,
        });
      }
      this.#total += a.samples;
    }
    const t = this.#timeline;
    if (t !== null) {
      for (let j = this.#pendingFrom; j < t.length; j++) {
        t.userStacks[j] = this.#intern(parser, t.userStacks[j], memo);
        t.kernelStacks[j] = this.#intern(parser, t.kernelStacks[j], memo);
      }
      this.#pendingFrom = t.length;
    }
    this.#cuts++;
  }

  /** Forgets every sample and stack (a new interval of the same profile). */
  clear(): void {
    this.#stacks.length = 0;
    this.#stackIds.clear();
    this.#keys.clear();
    this.#total = 0;
    if (this.#timeline) this.#timeline.length = 0;
    this.#pendingFrom = 0;
  }
}

/** Whether a stack field is a real stack (not a sentinel). */
export function hasStack(id: number): boolean {
  return id >= 0;
}

/** The sentinels, re-exported for users of the profile. */
export { StackId };
