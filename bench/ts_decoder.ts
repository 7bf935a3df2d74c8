/**
 * A tight TypeScript decoder of BPF ring buffer records: the baseline the
 * WASM parser is judged against (`deno task bench`, and the `ts-dataview`
 * row of `bench:e2e`'s decode section).
 *
 * It does the same work as the WASM walker without tables (header checks,
 * every field read, per-CPU counts and out-of-order detection, records
 * with frames validated and their stacks classified, decoded events written
 * to a preallocated batch, with the frame counts or the `StackId` sentinels
 * as stack ids) with DataView reads and no allocation per call, and it is
 * written on its own: it takes only the format's and the module's constants
 * from lib/parser/layout.ts, by name, and calls nothing of lib/parser (a
 * baseline must not share code with what it measures).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { MODULE_ABI } from "../lib/parser/layout.ts";
 * import { TsDecoder } from "./ts_decoder.ts";
 * const bytes = new Uint8Array(40);
 * const view = new DataView(bytes.buffer);
 * view.setUint32(0, 32, true); // a committed 32-byte event record
 * view.setUint32(8 + 24, 3, true); // on CPU 3
 * const decoder = new TsDecoder(16);
 * assert.equal(decoder.walk(view, 0, bytes.byteLength), 40);
 * assert.equal(decoder.events, 1);
 * assert.equal(decoder.stop, MODULE_ABI.STOP_END);
 * assert.equal(decoder.out[6], 3);
 * ```
 * @module
 */
import {
  BUSY_BIT,
  DISCARD_BIT,
  EVENT_OFFSETS as O,
  EVENT_SIZE,
  EventFlags,
  MODULE_ABI as M,
  RECORD_HEADER_SIZE,
  STACK_DEPTH,
  StackId,
} from "../lib/parser/layout.ts";

/** CPUs the per-CPU tables cover, as in the WASM module. */
const MAX_CPUS = M.MAX_CPUS;
/** The `len` bits of a record header that are not its length. */
const HEADER_BITS = (BUSY_BIT | DISCARD_BIT) >>> 0;
/** Events written to `out`, 32-bit words each. */
const OUT_WORDS = EVENT_SIZE / 4;

/** What became of one kind of stack in the last walk (counts). */
export interface TsStackOutcomes {
  resolved: number;
  truncated: number;
  empty: number;
  fault: number;
}

/**
 * The DataView decoder. `walk` decodes one batch; the statistics of that
 * walk are in the public fields afterwards, the events in `out`.
 */
export class TsDecoder {
  readonly cpuCount = new Uint32Array(MAX_CPUS);
  readonly cpuOutOfOrder = new Uint32Array(MAX_CPUS);
  readonly lastTsLow = new Uint32Array(MAX_CPUS);
  readonly lastTsHigh = new Uint32Array(MAX_CPUS);
  readonly touched = new Uint32Array(MAX_CPUS);
  /** Decoded events, 8 words each: tsLo, tsHi, pid, tid, u, k, cpu, flags. */
  readonly out: Int32Array;
  touchedCount = 0;
  events = 0;
  discarded = 0;
  malformed = 0;
  outOfOrder = 0;
  badCpu = 0;
  /** Events whose record carried no frames. */
  noFrames = 0;
  readonly userStacks: TsStackOutcomes = {
    resolved: 0,
    truncated: 0,
    empty: 0,
    fault: 0,
  };
  readonly kernelStacks: TsStackOutcomes = {
    resolved: 0,
    truncated: 0,
    empty: 0,
    fault: 0,
  };
  userFrames = 0;
  kernelFrames = 0;
  /** Why the last walk stopped: a `MODULE_ABI.STOP_*` value. */
  stop: number = M.STOP_END;

  constructor(readonly batchCapacity: number) {
    this.out = new Int32Array(batchCapacity * OUT_WORDS);
  }

  /** Forgets the per-CPU last timestamps. */
  resetStream(): void {
    this.lastTsLow.fill(0);
    this.lastTsHigh.fill(0);
  }

  /** Walks [base, base + len) of `view`; returns bytes consumed. */
  walk(view: DataView, base: number, len: number): number {
    const { cpuCount, cpuOutOfOrder, lastTsLow, lastTsHigh, touched, out } =
      this;
    for (let i = 0; i < this.touchedCount; i++) {
      cpuCount[touched[i]] = 0;
      cpuOutOfOrder[touched[i]] = 0;
    }
    const us = this.userStacks, ks = this.kernelStacks;
    us.resolved =
      us.truncated =
      us.empty =
      us.fault =
        0;
    ks.resolved =
      ks.truncated =
      ks.empty =
      ks.fault =
        0;
    const cap = this.batchCapacity;
    let touchedCount = 0, events = 0, discarded = 0, short = 0, long = 0;
    let pastEnd = 0, outOfOrder = 0, badCpu = 0, written = 0, noFrames = 0;
    let userFrames = 0, kernelFrames = 0;
    let stop: number = M.STOP_END;
    let off = 0;
    while (len - off >= RECORD_HEADER_SIZE) {
      // The module's record checks, written again here on purpose: a
      // baseline shares no code with what it measures.
      const at = base + off;
      const header = view.getUint32(at, true);
      if (header & BUSY_BIT) {
        stop = M.STOP_BUSY;
        break;
      }
      const recordLength = (header & ~HEADER_BITS) >>> 0;
      const total = (recordLength + RECORD_HEADER_SIZE + 7) & ~7;
      if (total > len - off) {
        pastEnd++;
        stop = M.STOP_PAST_END;
        break;
      }
      if (header & DISCARD_BIT) {
        discarded++;
        off += total;
        continue;
      }
      if (recordLength < EVENT_SIZE) {
        short++;
        off += total;
        continue;
      }
      const e = at + RECORD_HEADER_SIZE;
      const flags = view.getUint32(e + O.flags, true);
      let userStack = view.getInt32(e + O.userStackId, true);
      let kernelStack = view.getInt32(e + O.kernelStackId, true);
      if ((flags & EventFlags.FRAMES) === 0) {
        if (recordLength !== EVENT_SIZE) {
          long++;
          off += total;
          continue;
        }
        if (written === cap) {
          stop = M.STOP_BATCH_FULL;
          break;
        }
        noFrames++;
      } else {
        // A record with frames: exactly the length its counts say.
        const nu = userStack > 0 ? userStack : 0;
        const nk = kernelStack > 0 ? kernelStack : 0;
        if (nu > STACK_DEPTH || nk > STACK_DEPTH) {
          long++;
          off += total;
          continue;
        }
        const want = EVENT_SIZE + 8 * (nu + nk);
        if (recordLength !== want) {
          if (recordLength < want) short++;
          else long++;
          off += total;
          continue;
        }
        if (written === cap) {
          stop = M.STOP_BATCH_FULL;
          break;
        }
        // Without tables the ids handed on are the counts (or why none).
        // Written out for each kind: one shared function, inlined by V8,
        // measured ~30% slower per record with frames.
        if (userStack < 0) {
          us.fault++;
          userStack = StackId.FAULT;
        } else if (nu === 0) {
          us.empty++;
          userStack = StackId.EMPTY;
        } else if (flags & EventFlags.USER_TRUNCATED) us.truncated++;
        else us.resolved++;
        if (kernelStack < 0) {
          ks.fault++;
          kernelStack = StackId.FAULT;
        } else if (nk === 0) {
          ks.empty++;
          kernelStack = StackId.EMPTY;
        } else if (flags & EventFlags.KERNEL_TRUNCATED) ks.truncated++;
        else ks.resolved++;
        userFrames += nu;
        kernelFrames += nk;
      }
      const tsLo = view.getUint32(e + O.timestampNs, true);
      const tsHi = view.getUint32(e + O.timestampNs + 4, true);
      const pid = view.getInt32(e + O.pid, true);
      const tid = view.getInt32(e + O.tid, true);
      const cpu = view.getUint32(e + O.cpu, true);
      if (cpu < MAX_CPUS) {
        const n = cpuCount[cpu];
        if (n === 0) touched[touchedCount++] = cpu;
        cpuCount[cpu] = n + 1;
        const hi = lastTsHigh[cpu];
        if (tsHi < hi || (tsHi === hi && tsLo < lastTsLow[cpu])) {
          outOfOrder++;
          cpuOutOfOrder[cpu]++;
        }
        lastTsLow[cpu] = tsLo;
        lastTsHigh[cpu] = tsHi;
      } else {
        badCpu++;
      }
      const o = written * OUT_WORDS;
      out[o] = tsLo;
      out[o + 1] = tsHi;
      out[o + 2] = pid;
      out[o + 3] = tid;
      out[o + 4] = userStack;
      out[o + 5] = kernelStack;
      out[o + 6] = cpu;
      out[o + 7] = flags;
      written++;
      events++;
      off += total;
    }
    if (stop === M.STOP_END && off !== len) {
      pastEnd++;
      stop = M.STOP_PAST_END;
    }
    this.touchedCount = touchedCount;
    this.events = events;
    this.discarded = discarded;
    this.malformed = short + long + pastEnd;
    this.outOfOrder = outOfOrder;
    this.badCpu = badCpu;
    this.noFrames = noFrames;
    this.userFrames = userFrames;
    this.kernelFrames = kernelFrames;
    this.stop = stop;
    return off;
  }
}
