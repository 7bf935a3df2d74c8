/**
 * A tight TypeScript decoder of BPF ring buffer records: the baseline the
 * WASM parser is judged against (`deno task bench`, and the `ts-dataview`
 * row of `bench:e2e`'s decode section).
 *
 * It does the same work as the WASM walker (header checks, every field
 * read, per-CPU counts and out-of-order detection, decoded events written
 * to a preallocated batch) with DataView reads and no allocation per call,
 * and it is written on its own, calling nothing of lib/parser: a baseline
 * must not share code with what it measures.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { STOP_END, TsDecoder } from "./ts_decoder.ts";
 * const bytes = new Uint8Array(40);
 * const view = new DataView(bytes.buffer);
 * view.setUint32(0, 32, true); // a committed 32-byte event record
 * view.setUint32(8 + 24, 3, true); // on CPU 3
 * const decoder = new TsDecoder(16);
 * assert.equal(decoder.walk(view, 0, bytes.byteLength), 40);
 * assert.equal(decoder.events, 1);
 * assert.equal(decoder.stop, STOP_END);
 * assert.equal(decoder.out[6], 3);
 * ```
 * @module
 */
import { EVENT_SIZE } from "../lib/parser/layout.ts";

/** CPUs the per-CPU tables cover, as in the WASM module. */
const MAX_CPUS = 1024;

/** Stop reasons, numbered as the WASM module numbers them. */
export const STOP_END = 0,
  STOP_BUSY = 1,
  STOP_PAST_END = 2,
  STOP_BATCH_FULL = 3;

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
  stop = STOP_END;

  constructor(readonly batchCapacity: number) {
    this.out = new Int32Array(batchCapacity * 8);
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
    const cap = this.batchCapacity;
    let touchedCount = 0, events = 0, discarded = 0, short = 0, long = 0;
    let pastEnd = 0, outOfOrder = 0, badCpu = 0, written = 0;
    let stop = STOP_END;
    let off = 0;
    while (len - off >= 8) {
      const at = base + off;
      const header = view.getUint32(at, true);
      if (header & 0x80000000) {
        stop = STOP_BUSY;
        break;
      }
      const recordLength = header & 0x3fffffff;
      const total = (recordLength + 15) & ~7;
      if (total > len - off) {
        pastEnd++;
        stop = STOP_PAST_END;
        break;
      }
      if (header & 0x40000000) {
        discarded++;
        off += total;
        continue;
      }
      if (recordLength !== EVENT_SIZE) {
        if (recordLength < EVENT_SIZE) short++;
        else long++;
        off += total;
        continue;
      }
      if (written === cap) {
        stop = STOP_BATCH_FULL;
        break;
      }
      const e = at + 8;
      const tsLo = view.getUint32(e, true);
      const tsHi = view.getUint32(e + 4, true);
      const pid = view.getInt32(e + 8, true);
      const tid = view.getInt32(e + 12, true);
      const userStack = view.getInt32(e + 16, true);
      const kernelStack = view.getInt32(e + 20, true);
      const cpu = view.getUint32(e + 24, true);
      const flags = view.getUint32(e + 28, true);
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
      const o = written << 3;
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
    if (stop === STOP_END && off !== len) {
      pastEnd++;
      stop = STOP_PAST_END;
    }
    this.touchedCount = touchedCount;
    this.events = events;
    this.discarded = discarded;
    this.malformed = short + long + pastEnd;
    this.outOfOrder = outOfOrder;
    this.badCpu = badCpu;
    this.stop = stop;
    return off;
  }
}
