// @ts-check
/**
 * The live view's decoder: parser.wasm, the same module the profiler walks
 * the kernel's ring with, driven through its raw exports (no TypeScript
 * wrapper, so the page needs no build step). The export and constant names
 * are those of `MODULE_ABI` in lib/parser/layout.ts (with `EVENT_SIZE`),
 * which the server hands to the page, so the two never drift.
 *
 * A chunk of ring buffer records (as the server forwards them) is copied
 * into the module's input area and walked with the batch and aggregation
 * sinks: the walker decodes and counts every event, interns every distinct
 * stack and aggregates samples by (pid, tid, cpu, user stack, kernel
 * stack) in WASM memory. JavaScript sees each event only for the
 * samples-per-second chart (its timestamp), and the tables once per read.
 *
 * @example
 * ```js
 * import assert from "node:assert";
 * import { EVENT_SIZE, MODULE_ABI } from "../../parser/layout.ts";
 * import { referenceEncodeSamples } from "../../parser/reference_decoder.ts";
 * import { RecordWalker } from "./record_walker.js";
 * const wasm = await Deno.readFile(new URL("../../../parser-wasm/build/parser.wasm", import.meta.url));
 * const walker = await RecordWalker.create(wasm, { ...MODULE_ABI, EVENT_SIZE });
 * const event = { timestampNs: 5n, pid: 7, tid: 7, userStackId: 0, kernelStackId: 0, cpu: 1, flags: 0 };
 * const r = walker.walk(referenceEncodeSamples([{ event, user: [0x401000n], kernel: [] }]));
 * assert.equal(r.events, 1);
 * const seen = [];
 * walker.forEachAggregate((a) => seen.push([a.pid, a.samples, walker.stackHex(a.userStack)]));
 * assert.deepEqual(seen, [[7, 1, ["401000"]]]);
 * ```
 * @module
 */

/**
 * The module interface constants (lib/parser/layout.ts MODULE_ABI, and
 * EVENT_SIZE).
 * @typedef {Record<string, number>} ModuleAbi
 */

/**
 * What one chunk held.
 * @typedef {{
 *   events: number,
 *   discarded: number,
 *   malformed: number,
 *   undecoded: number,
 *   walks: number,
 *   tableCuts: number,
 * }} ChunkResult
 */

/**
 * One aggregation entry.
 * @typedef {{ pid: number, tid: number, cpu: number, userStack: number, kernelStack: number, samples: number }} AggregateEntry
 */

/** Walks record chunks with parser.wasm. */
export class RecordWalker {
  /**
   * Compiles and lays out the module: `inputBytes` is the largest chunk
   * accepted, the tables hold `stacks` distinct stacks, `frames` frames and
   * `aggregates` keys between reads.
   * @param {BufferSource | WebAssembly.Module} wasm
   * @param {ModuleAbi} abi
   * @param {{ inputBytes?: number, batch?: number, stacks?: number, frames?: number, aggregates?: number }} [o]
   */
  static async create(wasm, abi, o = {}) {
    const module = wasm instanceof WebAssembly.Module
      ? wasm
      : await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, {});
    return new RecordWalker(
      /** @type {Record<string, any>} */ (instance.exports),
      abi,
      o,
    );
  }

  /**
   * @param {Record<string, any>} x the module's exports
   * @param {ModuleAbi} abi
   * @param {{ inputBytes?: number, batch?: number, stacks?: number, frames?: number, aggregates?: number }} o
   */
  constructor(x, abi, o) {
    this.x = x;
    this.abi = abi;
    for (
      const k of ["STATS_WORDS", "ST_EVENTS", "AGG_ENTRY_SIZE", "EVENT_SIZE"]
    ) {
      if (typeof abi[k] !== "number") {
        throw new Error(`the module ABI lacks ${k}`);
      }
    }
    this.inputBytes = o.inputBytes ?? (1 << 20);
    this.batch = o.batch ?? 8192;
    let rc = x.initTables(
      o.stacks ?? 16384,
      o.frames ?? 262144,
      o.aggregates ?? 16384,
    );
    if (rc !== 0) throw new Error(`parser initTables failed (${rc})`);
    rc = x.init(1, this.batch, this.inputBytes, 0, 65536);
    if (rc !== 0) throw new Error(`parser init failed (${rc})`);
    const buf = x.memory.buffer; // fixed size from here on
    this.u8 = new Uint8Array(buf);
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.stats = new Uint32Array(buf, x.statsPtr() >>> 0, abi.STATS_WORDS);
    this.inputAt = x.inputPtr() >>> 0;
    this.batchAt = x.batchPtr() >>> 0;
    /** Called with each event's timestamp in ns since boot (a number). @type {((ns: number) => void) | null} */
    this.onTimestamp = null;
    /** Called when the tables are full, before they are cut: read them. @type {(() => void) | null} */
    this.onTablesFull = null;
  }

  /**
   * Decodes one chunk of whole records. Everything the walker consumed is
   * counted; bytes it could not walk (a malformed or cut record) are
   * `undecoded`.
   * @param {Uint8Array} bytes
   * @returns {ChunkResult}
   */
  walk(bytes) {
    if (bytes.byteLength > this.inputBytes) {
      throw new RangeError(
        `chunk of ${bytes.byteLength} bytes exceeds the input area of ${this.inputBytes}`,
      );
    }
    const x = this.x, a = this.abi, s = this.stats;
    this.u8.set(bytes, this.inputAt);
    /** @type {ChunkResult} */
    const r = {
      events: 0,
      discarded: 0,
      malformed: 0,
      undecoded: 0,
      walks: 0,
      tableCuts: 0,
    };
    let at = this.inputAt;
    let left = bytes.byteLength;
    const sinks = a.SINK_BATCH | a.SINK_AGGREGATE;
    while (left > 0) {
      const n = x.walk(at, left, sinks) >>> 0;
      r.walks++;
      r.events += s[a.ST_EVENTS];
      r.discarded += s[a.ST_DISCARDED];
      r.malformed += s[a.ST_MALFORMED];
      const written = s[a.ST_BATCH_WRITTEN];
      if (this.onTimestamp) {
        const base = this.batchAt >>> 2;
        for (let i = 0; i < written; i++) {
          const w = base + i * (a.EVENT_SIZE >>> 2);
          this.onTimestamp(this.u32[w + 1] * 0x100000000 + this.u32[w]);
        }
      }
      at += n;
      left -= n;
      const stop = s[a.ST_STOP];
      if (stop === a.STOP_TABLES_FULL) {
        r.tableCuts++;
        this.onTablesFull?.();
        x.cutTables();
        continue;
      }
      if (stop === a.STOP_BATCH_FULL) continue;
      if (n === 0 || stop === a.STOP_BUSY || stop === a.STOP_PAST_END) break;
    }
    r.undecoded = left;
    return r;
  }

  /**
   * Calls `fn` with every aggregation entry since the last cut.
   * @param {(entry: AggregateEntry) => void} fn
   */
  forEachAggregate(fn) {
    const x = this.x, a = this.abi;
    const n = x.aggCount() >>> 0;
    const base = (x.aggEntries() >>> 0) >>> 2;
    const w = a.AGG_ENTRY_SIZE / 4;
    for (let i = 0; i < n; i++) {
      const e = base + i * w;
      fn({
        pid: this.i32[e + a.AG_PID / 4],
        tid: this.i32[e + a.AG_TID / 4],
        cpu: this.u32[e + a.AG_CPU / 4],
        userStack: this.i32[e + a.AG_USER_STACK / 4],
        kernelStack: this.i32[e + a.AG_KERNEL_STACK / 4],
        samples: this.u32[e + a.AG_SAMPLES / 4],
      });
    }
  }

  /**
   * The frames of stack `id` (innermost first) as lowercase hex strings
   * without leading zeros; [] for a sentinel (negative) id.
   * @param {number} id
   * @returns {string[]}
   */
  stackHex(id) {
    if (id < 0) return [];
    const x = this.x, a = this.abi;
    if (id >= (x.stackCount() >>> 0)) {
      throw new RangeError(`stack ${id} is not in the table`);
    }
    const e = ((x.stackEntries() >>> 0) + id * a.STACK_ENTRY_SIZE) >>> 2;
    const first = this.u32[e + a.SE_FIRST / 4];
    const count = this.u32[e + a.SE_FRAMES / 4];
    const w = ((x.framesPtr() >>> 0) >>> 2) + first * 2;
    /** @type {string[]} */
    const out = new Array(count);
    for (let i = 0; i < count; i++) {
      const lo = this.u32[w + 2 * i], hi = this.u32[w + 2 * i + 1];
      out[i] = hi === 0
        ? lo.toString(16)
        : hi.toString(16) + lo.toString(16).padStart(8, "0");
    }
    return out;
  }

  /** Empties the tables (stack ids given out before are void). */
  cut() {
    this.x.cutTables();
  }
}
