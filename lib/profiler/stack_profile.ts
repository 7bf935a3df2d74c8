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
import { EventFlags, StackId } from "../parser/layout.ts";
import type { Aggregate, ProfileParser } from "../parser/wasm_parser.ts";

/** One distinct stack. */
export interface Stack {
  /** The process whose address space the frames are in; -1 for kernel. */
  pid: number;
  /** Instruction pointers, innermost first. */
  frames: BigUint64Array;
}

/**
 * One aggregated key and its sample count: the parser's {@link Aggregate},
 * with stack ids of this profile (valid for its whole life, not until a
 * cut) or negative `StackId` sentinels.
 */
export type SampleCount = Aggregate;

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

/** Options of a {@link StackProfile}. */
export interface StackProfileOptions {
  /** Keep every sample's time, thread and stacks, in order (default false). */
  timeline?: boolean;
}

/** The aggregated samples and distinct stacks of one profile. */
export class StackProfile {
  // Every distinct stack's frames in one growing arena of u32 words (a
  // frame is its low then high half), found by a hash of (pid, frames):
  // copying a stack out costs no allocation of its own, and no string.
  #words = new Uint32Array(1 << 16);
  #used = 0;
  readonly #offset: number[] = [];
  readonly #length: number[] = [];
  readonly #pid: number[] = [];
  /** hash -> stack id, or ids when hashes collide (confirmed by content). */
  readonly #byHash = new Map<number, number | number[]>();
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
    return this.#offset.length;
  }
  /** A stack by id (throws for a sentinel or unknown id). */
  stack(id: number): Stack {
    if (!(id >= 0 && id < this.#offset.length)) {
      throw new RangeError(`no stack ${id} in the profile`);
    }
    return {
      pid: this.#pid[id],
      frames: new BigUint64Array(
        this.#words.buffer,
        this.#offset[id] * 4,
        this.#length[id],
      ),
    };
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
      // A record without frames is handed on with the kernel's raw stack
      // fields (0 with stacks off, an errno from the stress source), which
      // would read as stack 0 or a fault: it has no stacks.
      const frames = (parser.batchFlags(i) & EventFlags.FRAMES) !== 0;
      t.userStacks[j] = frames
        ? parser.batchUserStack(i)
        : StackId.NOT_COLLECTED;
      t.kernelStacks[j] = frames
        ? parser.batchKernelStack(i)
        : StackId.NOT_COLLECTED;
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

  /** Whether stored stack `mine` is (pid, the n frames at src in words). */
  #same(mine: number, pid: number, src: Uint32Array, at: number, n: number) {
    if (this.#pid[mine] !== pid || this.#length[mine] !== n) return false;
    const w = this.#words;
    const o = this.#offset[mine];
    for (let i = 0; i < 2 * n; i++) if (w[o + i] !== src[at + i]) return false;
    return true;
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
    const src = parser.memoryWords;
    const at = parser.stackWordOffset(id);
    const n = parser.stackLength(id);
    const pid = parser.stackPid(id);
    // The parser hashed (pid, frames) when it interned the stack: the same
    // stack has the same hash in every interval, so no second pass over the
    // frames here (a hit is still confirmed frame by frame).
    const h = parser.stackHash(id);
    const hit = this.#byHash.get(h);
    let mine = -1;
    if (typeof hit === "number") {
      if (this.#same(hit, pid, src, at, n)) mine = hit;
    } else if (hit !== undefined) {
      for (const c of hit) if (this.#same(c, pid, src, at, n)) mine = c;
    }
    if (mine < 0) {
      mine = this.#offset.length;
      if (this.#used + 2 * n > this.#words.length) {
        let cap = this.#words.length * 2;
        while (cap < this.#used + 2 * n) cap *= 2;
        const grown = new Uint32Array(cap);
        grown.set(this.#words.subarray(0, this.#used));
        this.#words = grown;
      }
      this.#words.set(src.subarray(at, at + 2 * n), this.#used);
      this.#offset.push(this.#used);
      this.#length.push(n);
      this.#pid.push(pid);
      this.#used += 2 * n;
      if (hit === undefined) this.#byHash.set(h, mine);
      else if (typeof hit === "number") this.#byHash.set(h, [hit, mine]);
      else hit.push(mine);
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
    this.#used = 0;
    this.#offset.length = 0;
    this.#length.length = 0;
    this.#pid.length = 0;
    this.#byHash.clear();
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
