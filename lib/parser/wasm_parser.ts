/**
 * The TypeScript face of the WASM parser: walk ring buffer record streams,
 * decode and encode ProfileEvents, and keep an overwrite ring of recent
 * events, with no pointers or memory views in sight.
 *
 * Works in Deno and in browsers: it uses only `fetch` and `WebAssembly`
 * (and, for a file: URL in Deno, `Deno.readFile`: fetch would load Deno's
 * fetch and streams code, ~4 ms of every command's start-up).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProfileParser } from "./wasm_parser.ts";
 * const parser = await ProfileParser.create({ ringCapacity: 4 });
 * const bytes = parser.encodeRecords([{ timestampNs: 10n, pid: 7, tid: 7,
 *   userStackId: 1, kernelStackId: 2, cpu: 0, flags: 0 }]);
 * const stats = parser.walk(bytes, { toRing: true });
 * assert.equal(stats.events, 1);
 * assert.equal(parser.ring.snapshot()[0].pid, 7);
 * ```
 * @module
 */
import {
  EVENT_SIZE,
  MODULE_ABI as M,
  RECORD_SIZE,
  STACK_DEPTH,
} from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  type CpuBatchStats,
  type StackOutcomes,
  STOP_REASONS,
  type StopReason,
  type WalkStats,
} from "./walk_stats.ts";

/** Where the built module lives, relative to this file. */
export const DEFAULT_WASM_URL = new URL(
  "../../parser-wasm/build/parser.wasm",
  import.meta.url,
);

/** Options fixed when a parser is created (memory is laid out once). */
export interface ParserOptions {
  /** Events the overwrite ring keeps (default 65536). Any value >= 1. */
  ringCapacity?: number;
  /** Events one walk may return in the batch area (default 65536). */
  batchCapacity?: number;
  /** Bytes of record stream one `walk()` accepts (default 40 x batch). */
  inputBytes?: number;
  /**
   * Bytes of page-aligned space reserved for a host to mmap a BPF ring
   * buffer into (default 0). See `lib/bpf/ring_mapping.ts`.
   */
  mapBytes?: number;
  /** Alignment of that space (power of two, default 65536). */
  mapAlign?: number;
  /** The module: bytes, a compiled module, or a URL (default: the build). */
  wasm?: BufferSource | WebAssembly.Module | URL | string;
  /**
   * Sizes of the stack and aggregation tables (see {@link TableOptions}),
   * or `false` for none: then records with frames are still walked and
   * classified, but their stacks are not interned and nothing aggregates.
   */
  tables?: TableOptions | false;
}

/**
 * Sizes of the tables the walker interns stacks into and aggregates samples
 * in. Between two `cutTables()` calls they hold every distinct stack and
 * every distinct (pid, tid, cpu, user stack, kernel stack); a walk that
 * meets a record they cannot take stops before it ("tables-full") so the
 * host can read them out, cut, and walk on: nothing is ever dropped.
 */
export interface TableOptions {
  /** Distinct stacks held (default 16384). */
  stacks?: number;
  /** Frames held, over all stacks (default 262144: 2 MiB). */
  frames?: number;
  /** Distinct aggregation keys held (default 16384). */
  aggregates?: number;
}

/** Default table sizes: about 2.9 MiB of WASM memory. */
export const DEFAULT_TABLES: Required<TableOptions> = {
  stacks: 16384,
  frames: 262144,
  aggregates: 16384,
};

/**
 * One aggregated key and its samples, as `readAggregates()` returns it (and
 * as a StackProfile keeps its own, lib/profiler/stack_profile.ts).
 */
export interface Aggregate {
  pid: number;
  tid: number;
  cpu: number;
  /**
   * A stack id of the table that holds the key (the parser's, until its
   * next cut), or a negative {@link StackId} sentinel.
   */
  userStack: number;
  /** The kernel stack, like `userStack`. */
  kernelStack: number;
  samples: number;
}

/** Which sinks a walk feeds. */
export interface WalkOptions {
  /** Push every decoded event into the overwrite ring. */
  toRing?: boolean;
  /** Keep the decoded events for `batchEvents()` (default true). */
  toBatch?: boolean;
  /** Count every event in the aggregation table (needs tables). */
  toAggregate?: boolean;
}

/** Raw exports of parser.wasm (see parser-wasm/assembly/index.ts). */
interface ParserExports {
  memory: WebAssembly.Memory;
  init(
    ring: number,
    batch: number,
    input: number,
    map: number,
    align: number,
  ): number;
  statsPtr(): number;
  cpuStatsPtr(): number;
  cpusTouchedPtr(): number;
  ringStateAddress(): number;
  inputPtr(): number;
  batchPtr(): number;
  ringPtr(): number;
  mapPtr(): number;
  heapTop(): number;
  walk(ptr: number, len: number, sinks: number): number;
  committedBytes(ptr: number, len: number): number;
  ringPush(...words: EventWords): void;
  ringPushEvents(src: number, count: number): void;
  ringLength(): number;
  ringCapacity(): number;
  ringOverwrittenCount(): number;
  ringClear(): void;
  ringHead(): number;
  ringSnapshot(dst: number, max: number): number;
  writeEvent(dst: number, ...words: EventWords): void;
  encodeRecords(src: number, count: number, dst: number): number;
  resetStream(): void;
  initTables(stacks: number, frames: number, aggregates: number): number;
  cutTables(): void;
  stackCount(): number;
  stackCapacity(): number;
  stackEntries(): number;
  frameCount(): number;
  frameCapacity(): number;
  framesPtr(): number;
  aggCount(): number;
  aggCapacity(): number;
  aggEntries(): number;
  tablesBytes(): number;
}

const INIT_ERRORS: Record<number, string> = {
  [-1]: "already initialised",
  [-2]: "invalid capacities",
  [-3]: "WebAssembly memory could not grow to the requested size",
};

/**
 * Compiles the parser module once, for hosts that make many parsers (each
 * session of a validation run, say): bytes, a compiled module, or a URL;
 * default the build output.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { compileParser, ProfileParser } from "./wasm_parser.ts";
 * const module = await compileParser();
 * const a = ProfileParser.fromModule(module);
 * const b = ProfileParser.fromModule(module);
 * assert.notEqual(a.memory, b.memory); // one module, two instances
 * ```
 */
export async function compileParser(
  wasm?: ParserOptions["wasm"],
): Promise<WebAssembly.Module> {
  if (wasm instanceof WebAssembly.Module) return wasm;
  if (wasm === undefined || wasm instanceof URL || typeof wasm === "string") {
    const url = wasm ?? DEFAULT_WASM_URL;
    let bytes: ArrayBuffer;
    try {
      const u = new URL(url);
      if (u.protocol === "file:" && typeof Deno !== "undefined") {
        bytes = (await Deno.readFile(u)).buffer as ArrayBuffer;
      } else {
        const res = await fetch(u);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        bytes = await res.arrayBuffer();
      }
    } catch (err) {
      throw new Error(
        `cannot load the parser module from ${url} (run 'make build-wasm'): ${
          (err as Error).message
        }`,
        { cause: err },
      );
    }
    return await WebAssembly.compile(bytes);
  }
  return await WebAssembly.compile(wasm);
}

/**
 * An event as the eight numbers {@link EventRing.pushRaw} takes (and the
 * module's ringPush, and its writeEvent after the destination): the
 * timestamp as its low and high u32 halves, then the fields in wire order.
 */
export type EventWords = [
  tsLo: number,
  tsHi: number,
  pid: number,
  tid: number,
  userStackId: number,
  kernelStackId: number,
  cpu: number,
  flags: number,
];

/**
 * The {@link EventWords} of an event (its fields unchecked: a timestamp
 * outside the u64 range keeps only its low 64 bits).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { eventWords } from "./wasm_parser.ts";
 * const e = { timestampNs: 0x1_0000_0002n, pid: 3, tid: 4, userStackId: 5,
 *   kernelStackId: 6, cpu: 7, flags: 8 };
 * assert.deepEqual(eventWords(e), [2, 1, 3, 4, 5, 6, 7, 8]);
 * ```
 */
export function eventWords(e: ProfileEvent): EventWords {
  const ts = e.timestampNs;
  return [
    Number(ts & 0xffffffffn),
    Number((ts >> 32n) & 0xffffffffn),
    e.pid,
    e.tid,
    e.userStackId,
    e.kernelStackId,
    e.cpu,
    e.flags,
  ];
}

/** The overwrite ring of recent events, inside WASM memory. */
export class EventRing {
  #parser: ProfileParser;
  #module: ParserExports;
  /**
   * Pushes one event from plain numbers: the hot path. The timestamp comes
   * as two u32 halves so no BigInt is made per call.
   *
   * It writes the slot from JS through a typed array over WASM memory
   * rather than calling the module: a JS-to-WASM call alone costs about as
   * much as the push. Only `head` and a lap count change per push; the
   * module's ring state (head, length, overwritten) is brought up to date
   * before anything in the module reads it (see `syncToModule`).
   *
   * @example
   * ```ts
   * import { ProfileParser } from "./wasm_parser.ts";
   * const parser = await ProfileParser.create({ ringCapacity: 2 });
   * for (let i = 0; i < 3; i++) {
   *   parser.ring.pushRaw(i, 0, 100, 101, -1, -1, 0, 0);
   * }
   * console.log(parser.ring.length, parser.ring.overwritten); // 2 1
   * ```
   */
  readonly pushRaw: (...words: EventWords) => void;
  readonly #toModule: () => void;
  readonly #fromModule: () => void;

  /** @internal Made by ProfileParser. */
  constructor(parser: ProfileParser, exports: ParserExports) {
    this.#parser = parser;
    this.#module = exports;
    const buf = exports.memory.buffer;
    const i32 = new Int32Array(buf);
    // u32 head, u32 length, u64 overwritten (as two u32 halves).
    const state = new Uint32Array(buf, exports.ringStateAddress() >>> 0, 4);
    const cap = exports.ringCapacity();
    const base = (exports.ringPtr() >>> 0) >>> 2; // ring start, in i32 units
    // The state as JS sees it: the slot the next push writes, and how often
    // pushes wrapped round since the module's state was last brought up to
    // date (then head was `syncedHead`). Closure variables, not fields: the
    // push is a closure over them, which V8 keeps tighter than field
    // accesses (~2.7 vs ~3.9 ns per push, measured).
    let head = state[0];
    let syncedHead = head;
    let laps = 0;
    // The module's ringPush in JS (the same eight words, the ABI), and an
    // event written word by word as bench/ts_decoder.ts writes its own: a
    // baseline shares no code with what it measures.
    this.pushRaw = (
      tsLo,
      tsHi,
      pid,
      tid,
      userStackId,
      kernelStackId,
      cpu,
      flags,
    ) => {
      // cap <= 2^26 (init refuses more), so head << 3 stays an i32.
      const o = base + (head << 3);
      i32[o] = tsLo;
      i32[o + 1] = tsHi;
      i32[o + 2] = pid;
      i32[o + 3] = tid;
      i32[o + 4] = userStackId;
      i32[o + 5] = kernelStackId;
      i32[o + 6] = cpu;
      i32[o + 7] = flags;
      if (++head === cap) {
        head = 0;
        laps++;
      }
    };
    this.#toModule = () => {
      if (head === syncedHead && laps === 0) return;
      // Each push grew the ring or overwrote its oldest event; pushes since
      // the last sync are < 2^53, so plain numbers are exact.
      const pushed = laps * cap + head - syncedHead;
      const total = state[1] + pushed;
      const len = total < cap ? total : cap;
      const over = state[2] + state[3] * 0x100000000 + (total - len);
      state[0] = head;
      state[1] = len;
      state[2] = over >>> 0;
      state[3] = Math.floor(over / 0x100000000) >>> 0;
      syncedHead = head;
      laps = 0;
    };
    this.#fromModule = () => {
      head = syncedHead = state[0];
      laps = 0;
    };
  }

  /**
   * @internal Brings the module's ring state up to date with pushes made
   * from JS. ProfileParser calls it before any module call that reads or
   * writes the ring.
   */
  syncToModule(): void {
    this.#toModule();
  }
  /** @internal Takes the module's ring state after a module call changed it. */
  syncFromModule(): void {
    this.#fromModule();
  }

  /** Events held now (at most `capacity`). */
  get length(): number {
    this.#toModule();
    return this.#module.ringLength();
  }
  /** Events the ring holds before it overwrites the oldest. */
  get capacity(): number {
    return this.#module.ringCapacity();
  }
  /** Events overwritten by newer ones since creation or `clear()`. */
  get overwritten(): number {
    this.#toModule();
    return this.#module.ringOverwrittenCount();
  }
  /** Pushes one event. */
  push(e: ProfileEvent): void {
    checkEvent(e);
    this.pushRaw(...eventWords(e));
  }
  /** Pushes every event of the last walk's batch, inside WASM. */
  pushBatch(): void {
    this.#toModule();
    this.#module.ringPushEvents(
      this.#parser.batchOffset,
      this.#parser.batchLength,
    );
    this.#fromModule();
  }
  /** Empties the ring and zeroes the overwritten count. */
  clear(): void {
    this.#toModule();
    this.#module.ringClear();
    this.#fromModule();
  }
  /** Copies every event out, oldest first (allocates JS objects). */
  snapshot(): ProfileEvent[] {
    this.#toModule();
    const x = this.#module;
    const len = x.ringLength();
    const cap = x.ringCapacity();
    const base = x.ringPtr() >>> 0;
    const view = new DataView(x.memory.buffer);
    const out: ProfileEvent[] = new Array(len);
    let idx = (x.ringHead() + cap - len) % cap;
    for (let i = 0; i < len; i++) {
      out[i] = readEvent(view, base + idx * EVENT_SIZE);
      idx = idx + 1 === cap ? 0 : idx + 1;
    }
    return out;
  }
  /**
   * The newest `n` events (at most the batch capacity), oldest first, copied
   * out by the WASM module itself. It copies through the batch area, so the
   * last walk's batch is gone afterwards (`batchLength` becomes 0).
   */
  latest(n: number): ProfileEvent[] {
    this.#toModule();
    const x = this.#module;
    const at = this.#parser.batchOffset;
    // Clamp to [0, batchCapacity]: a negative or NaN n must not reach the
    // module as a huge u32 and copy the whole ring past the batch area.
    const want = Math.min(
      Math.max(Math.floor(n), 0),
      this.#parser.batchCapacity,
    );
    const got = x.ringSnapshot(at, Number.isNaN(want) ? 0 : want);
    // The batch area now holds these events, not the last walk's.
    this.#parser.forgetBatch();
    const view = new DataView(x.memory.buffer);
    const out: ProfileEvent[] = new Array(got);
    for (let i = 0; i < got; i++) {
      out[i] = readEvent(view, at + i * EVENT_SIZE);
    }
    return out;
  }
}

/** A whole number in [min, max], or a RangeError naming the option. */
function checkOption(
  name: string,
  value: number,
  min: number,
  max: number,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `parser option ${name} must be a whole number from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const U32_MAX = 2 ** 32 - 1;

/**
 * Every field of an event fits its C type, or a RangeError naming it: the
 * module would store NaN as 0 and 2^40 as its low 32 bits.
 */
function checkEvent(e: ProfileEvent): void {
  checkTimestamp(e.timestampNs);
  const fields: [keyof ProfileEvent, number, number][] = [
    ["pid", I32_MIN, I32_MAX],
    ["tid", I32_MIN, I32_MAX],
    ["userStackId", I32_MIN, I32_MAX],
    ["kernelStackId", I32_MIN, I32_MAX],
    ["cpu", 0, U32_MAX],
    ["flags", 0, U32_MAX],
  ];
  for (const [name, min, max] of fields) {
    const v = e[name] as number;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(
        `event field ${name} must be a whole number from ${min} to ${max}, got ${v}`,
      );
    }
  }
}

function checkTimestamp(ts: bigint): void {
  if (ts < 0n || ts > 0xffffffffffffffffn) {
    throw new RangeError(`timestamp ${ts} is outside the u64 range`);
  }
}

function readEvent(view: DataView, at: number): ProfileEvent {
  return {
    timestampNs: view.getBigUint64(at, true),
    pid: view.getInt32(at + 8, true),
    tid: view.getInt32(at + 12, true),
    userStackId: view.getInt32(at + 16, true),
    kernelStackId: view.getInt32(at + 20, true),
    cpu: view.getUint32(at + 24, true),
    flags: view.getUint32(at + 28, true),
  };
}

/**
 * One instance of the parser module with its memory laid out.
 * Create it with `ProfileParser.create()`.
 */
export class ProfileParser {
  readonly #module: ParserExports;
  readonly #stats: Uint32Array;
  readonly #cpuStats: Uint32Array;
  readonly #touched: Uint32Array;
  readonly #mem: Uint8Array;
  readonly #view: DataView;
  readonly #i32: Int32Array;
  readonly #u32: Uint32Array;
  // Region offsets, fixed at init. Read as unsigned: the module returns
  // pointers as i32, which JS sees as negative above 2 GiB.
  readonly #inputAt: number;
  readonly #batchAt: number;
  /** Events one walk may keep in the batch area. */
  readonly batchCapacity: number;
  /** Bytes of record stream one `walk()` accepts. */
  readonly inputBytes: number;
  /** The overwrite ring. */
  readonly ring: EventRing;
  /** Whether the stack and aggregation tables exist (`tables` option). */
  readonly hasTables: boolean;
  #batchHeld = false;
  #cuts = 0;

  /** Loads and instantiates the module and lays out its memory. */
  static async create(options: ParserOptions = {}): Promise<ProfileParser> {
    const module = await compileParser(options.wasm);
    return ProfileParser.fromModule(module, options);
  }

  /** Instantiates an already compiled module (synchronous). */
  static fromModule(
    module: WebAssembly.Module,
    options: ParserOptions = {},
  ): ProfileParser {
    const instance = new WebAssembly.Instance(module, {});
    return new ProfileParser(
      instance.exports as unknown as ParserExports,
      options,
    );
  }

  private constructor(x: ParserExports, o: ParserOptions) {
    // Every option is checked here, by name: the module takes u32s, and a
    // value that wrapped through ToInt32 (2^32 + 16 becomes 16) would give
    // a parser of another size than the caller thinks.
    const ring = checkOption(
      "ringCapacity",
      o.ringCapacity ?? 65536,
      1,
      2 ** 26,
    );
    const batch = checkOption(
      "batchCapacity",
      o.batchCapacity ?? 65536,
      0,
      2 ** 26,
    );
    const input = checkOption(
      "inputBytes",
      o.inputBytes ?? batch * RECORD_SIZE,
      0,
      2 ** 30,
    );
    const mapBytes = checkOption("mapBytes", o.mapBytes ?? 0, 0, 2 ** 31);
    const mapAlign = checkOption("mapAlign", o.mapAlign ?? 65536, 1, 2 ** 30);
    if (!Number.isInteger(Math.log2(mapAlign))) {
      throw new RangeError(
        `parser option mapAlign (${mapAlign}) must be a power of two`,
      );
    }
    // The tables first: init() then lays out its regions after them.
    if (o.tables !== false) {
      const t = { ...DEFAULT_TABLES, ...(o.tables ?? {}) };
      const stacks = checkOption("tables.stacks", t.stacks, 2, 2 ** 22);
      const frames = checkOption(
        "tables.frames",
        t.frames,
        2 * STACK_DEPTH,
        2 ** 26,
      );
      const aggregates = checkOption(
        "tables.aggregates",
        t.aggregates,
        1,
        2 ** 22,
      );
      const trc = x.initTables(stacks, frames, aggregates);
      if (trc !== 0) {
        throw new RangeError(
          `parser initTables(stacks=${stacks}, frames=${frames}, aggregates=${aggregates}) failed: ${
            INIT_ERRORS[trc] ?? trc
          }`,
        );
      }
      this.hasTables = true;
    } else this.hasTables = false;
    const rc = x.init(ring, batch, input, mapBytes, mapAlign);
    if (rc !== 0) {
      throw new RangeError(
        `parser init(ring=${ring}, batch=${batch}, input=${input}) failed: ${
          INIT_ERRORS[rc] ?? rc
        }`,
      );
    }
    this.#module = x;
    // Memory never grows after init, so views made now stay valid.
    const buf = x.memory.buffer;
    this.#stats = new Uint32Array(buf, x.statsPtr(), M.STATS_WORDS);
    // One slot per CPU: u64 last timestamp, u32 events, u32 out of order.
    this.#cpuStats = new Uint32Array(
      buf,
      x.cpuStatsPtr(),
      (M.MAX_CPUS * M.CPU_STATE_SIZE) / 4,
    );
    this.#touched = new Uint32Array(buf, x.cpusTouchedPtr(), M.MAX_CPUS);
    this.#mem = new Uint8Array(buf);
    this.#view = new DataView(buf);
    this.#i32 = new Int32Array(buf);
    this.#u32 = new Uint32Array(buf);
    this.#inputAt = x.inputPtr() >>> 0;
    this.#batchAt = x.batchPtr() >>> 0;
    this.batchCapacity = batch;
    this.inputBytes = input;
    this.ring = new EventRing(this, x);
  }

  /** The module's linear memory (fixed size after creation). */
  get memory(): WebAssembly.Memory {
    return this.#module.memory;
  }
  /** End of all the module laid out; a test checks it never moves. */
  get heapTop(): number {
    return this.#module.heapTop() >>> 0;
  }
  /**
   * Bytes of WASM memory the parser itself uses (its regions, not the span
   * reserved for a host mapping, whose pages belong to the mapped object).
   */
  get ownBytes(): number {
    return (this.#module.mapPtr() || this.#module.heapTop()) >>> 0;
  }
  /** Byte offset in `memory` reserved for a host mapping (0 if none). */
  get mapOffset(): number {
    return this.#module.mapPtr() >>> 0;
  }
  /** @internal Byte offset of the batch area in `memory`. */
  get batchOffset(): number {
    return this.#batchAt;
  }
  /** @internal The batch area was overwritten: it holds no walk's events. */
  forgetBatch(): void {
    this.#stats[M.ST_BATCH_WRITTEN] = 0;
  }

  /**
   * @internal While held, a walk throws: the batch being read (by a
   * RingReader's onBatch callback, say) would be overwritten by it.
   */
  holdBatch(held: boolean): void {
    this.#batchHeld = held;
  }

  /**
   * Copies a record stream into WASM memory and walks it. Throws a
   * RangeError if `bytes` is larger than `inputBytes`.
   */
  walk(bytes: Uint8Array, options: WalkOptions = {}): WalkStats {
    if (bytes.byteLength > this.inputBytes) {
      throw new RangeError(
        `record stream of ${bytes.byteLength} bytes exceeds the parser's input area of ${this.inputBytes}`,
      );
    }
    const at = this.#inputAt;
    this.#checkNotHeld();
    this.#mem.set(bytes, at);
    this.walkAt(
      at,
      bytes.byteLength,
      options.toRing ?? false,
      options.toBatch ?? true,
      options.toAggregate ?? false,
    );
    return this.lastStats();
  }

  /**
   * Walks records already in WASM memory at byte offset `at` (for example a
   * BPF ring mapped at `mapOffset`). The hot path: returns bytes consumed and
   * allocates nothing; read details with `lastEvents` etc. or `lastStats()`.
   * `at` must be 4-byte aligned (ring records are 8-aligned) and the range
   * inside `memory`, else a RangeError.
   */
  walkAt(
    at: number,
    length: number,
    toRing: boolean,
    toBatch: boolean,
    toAggregate = false,
  ): number {
    this.#checkRange("walkAt", at, length);
    this.#checkNotHeld();
    const sinks = (toBatch ? M.SINK_BATCH : 0) |
      (toAggregate ? M.SINK_AGGREGATE : 0);
    if (!toRing) return this.#module.walk(at, length, sinks);
    const ring = this.ring;
    ring.syncToModule();
    const n = this.#module.walk(at, length, sinks | M.SINK_RING);
    ring.syncFromModule();
    return n;
  }

  #checkNotHeld(): void {
    if (this.#batchHeld) {
      throw new Error(
        "walk() called while the previous walk's batch is being read (inside onBatch): it would overwrite that batch",
      );
    }
  }

  /**
   * Bytes from `at` up to the first record not yet committed (BUSY) or the
   * first header claiming bytes past `length`: what walkAt may decode.
   * Reads headers only. For hosts on weakly ordered CPUs, which must fence
   * between reading headers and reading payloads (see ring_reader.ts).
   */
  committedAt(at: number, length: number): number {
    this.#checkRange("committedAt", at, length);
    return this.#module.committedBytes(at, length);
  }

  // Records are 8-aligned in every ring, and a range past the memory would
  // trap in the module: say so as a RangeError instead of a RuntimeError.
  #checkRange(what: string, at: number, length: number): void {
    if (
      (at & 3) !== 0 || !(at >= 0) || !(length >= 0) ||
      at + length > this.#mem.byteLength
    ) {
      throw new RangeError(
        `${what}(${at}, ${length}): not a 4-byte aligned range of the parser's memory`,
      );
    }
  }

  /** Events decoded by the last walk. */
  get lastEvents(): number {
    return this.#stats[M.ST_EVENTS];
  }
  /** Records discarded by the producer in the last walk. */
  get lastDiscarded(): number {
    return this.#stats[M.ST_DISCARDED];
  }
  /** Malformed records in the last walk. */
  get lastMalformed(): number {
    return this.#stats[M.ST_MALFORMED];
  }
  /** Events out of per-CPU timestamp order in the last walk. */
  get lastOutOfOrder(): number {
    return this.#stats[M.ST_OUT_OF_ORDER];
  }
  /** Why the last walk stopped (a constant string: no allocation). */
  get lastStop(): StopReason {
    return STOP_REASONS[this.#stats[M.ST_STOP]];
  }
  /** Events in the batch area after the last walk. */
  get batchLength(): number {
    return this.#stats[M.ST_BATCH_WRITTEN];
  }

  /** Statistics of the last walk as an object (allocates). */
  lastStats(): WalkStats {
    const s = this.#stats;
    const perCpu = new Map<number, CpuBatchStats>();
    const slot = M.CPU_STATE_SIZE / 4;
    for (let i = 0; i < s[M.ST_CPUS_TOUCHED]; i++) {
      const cpu = this.#touched[i];
      perCpu.set(cpu, {
        events: this.#cpuStats[cpu * slot + M.CS_COUNTS / 4],
        outOfOrder: this.#cpuStats[cpu * slot + M.CS_OUT_OF_ORDER / 4],
      });
    }
    const outcomes = (
      resolved: number,
      truncated: number,
      empty: number,
      fault: number,
    ): StackOutcomes => ({
      resolved: s[resolved],
      truncated: s[truncated],
      empty: s[empty],
      fault: s[fault],
    });
    return {
      events: s[M.ST_EVENTS],
      discarded: s[M.ST_DISCARDED],
      malformed: s[M.ST_MALFORMED],
      stop: STOP_REASONS[s[M.ST_STOP]],
      consumed: s[M.ST_CONSUMED],
      outOfOrder: s[M.ST_OUT_OF_ORDER],
      badCpu: s[M.ST_BAD_CPU],
      shortRecords: s[M.ST_SHORT],
      longRecords: s[M.ST_LONG],
      pastEnd: s[M.ST_PAST_END],
      perCpu,
      noFrames: s[M.ST_NO_FRAMES],
      userStacks: outcomes(
        M.ST_USER_RESOLVED,
        M.ST_USER_TRUNCATED,
        M.ST_USER_EMPTY,
        M.ST_USER_FAULT,
      ),
      kernelStacks: outcomes(
        M.ST_KERNEL_RESOLVED,
        M.ST_KERNEL_TRUNCATED,
        M.ST_KERNEL_EMPTY,
        M.ST_KERNEL_FAULT,
      ),
      userFrames: s[M.ST_USER_FRAMES],
      kernelFrames: s[M.ST_KERNEL_FRAMES],
    };
  }

  /**
   * The raw statistics block of the last walk (indexes: `MODULE_ABI.ST_*`),
   * for hosts that total it without making an object per walk. A view into
   * WASM memory: read it before the next walk.
   */
  get lastStatsWords(): Uint32Array {
    return this.#stats;
  }

  /** The events of the last walk's batch (allocates JS objects). */
  batchEvents(): ProfileEvent[] {
    const n = this.batchLength;
    const base = this.#batchAt;
    const out: ProfileEvent[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = readEvent(this.#view, base + i * EVENT_SIZE);
    }
    return out;
  }

  // One accessor a field, each one typed-array load: alike in shape only.

  /** pid of batch event `i` (no allocation). */
  batchPid(i: number): number {
    return this.#i32[(this.#batchAt + i * EVENT_SIZE + 8) >>> 2];
  }
  /** tid of batch event `i` (no allocation). */
  batchTid(i: number): number {
    return this.#i32[(this.#batchAt + i * EVENT_SIZE + 12) >>> 2];
  }
  /** cpu of batch event `i` (no allocation). */
  batchCpu(i: number): number {
    return this.#u32[(this.#batchAt + i * EVENT_SIZE + 24) >>> 2];
  }
  /** flags of batch event `i` (no allocation). */
  batchFlags(i: number): number {
    return this.#u32[(this.#batchAt + i * EVENT_SIZE + 28) >>> 2];
  }
  /**
   * User stack of batch event `i`: for a record with frames
   * (`EventFlags.FRAMES` in {@link batchFlags}), a stack table id (valid
   * until the next `cutTables()`) or a negative {@link StackId} sentinel;
   * for a plain event, the kernel's raw field, as decoded.
   */
  batchUserStack(i: number): number {
    return this.#i32[(this.#batchAt + i * EVENT_SIZE + 16) >>> 2];
  }
  /** Kernel stack of batch event `i`, like {@link batchUserStack}. */
  batchKernelStack(i: number): number {
    return this.#i32[(this.#batchAt + i * EVENT_SIZE + 20) >>> 2];
  }
  /**
   * Timestamp of batch event `i` in ns since boot, as a number: exact up to
   * 2^53 ns (104 days of uptime), to within a few ns beyond (no allocation).
   */
  batchTimestamp(i: number): number {
    const w = (this.#batchAt + i * EVENT_SIZE) >>> 2;
    return this.#u32[w + 1] * 0x100000000 + this.#u32[w];
  }

  // -------------------------------------------------------------------------
  // The stack and aggregation tables (see TableOptions).

  /** Distinct stacks interned since the last cut. */
  get stackCount(): number {
    return this.#module.stackCount();
  }
  /** Frames held by those stacks. */
  get frameCount(): number {
    return this.#module.frameCount();
  }
  /** Distinct aggregation keys since the last cut. */
  get aggregateCount(): number {
    return this.#module.aggCount();
  }
  /** The tables' capacities (null without tables). */
  get tableCapacity(): Required<TableOptions> | null {
    if (!this.hasTables) return null;
    return {
      stacks: this.#module.stackCapacity(),
      frames: this.#module.frameCapacity(),
      aggregates: this.#module.aggCapacity(),
    };
  }
  /** Bytes of WASM memory the tables take (0 without tables). */
  get tablesBytes(): number {
    return this.#module.tablesBytes() >>> 0;
  }

  #stackEntry(id: number): number {
    if (!(id >= 0 && id < this.#module.stackCount())) {
      throw new RangeError(
        `stack id ${id} is not in the table (${this.#module.stackCount()} stacks since the last cut)`,
      );
    }
    return ((this.#module.stackEntries() >>> 0) + id * M.STACK_ENTRY_SIZE) >>>
      2;
  }

  /**
   * The frames of stack `id`, innermost first: a view into WASM memory,
   * valid until the next `cutTables()` (copy it to keep it).
   */
  stackFrames(id: number): BigUint64Array {
    const e = this.#stackEntry(id);
    const first = this.#u32[e + M.SE_FIRST / 4];
    const n = this.#u32[e + M.SE_FRAMES / 4];
    return new BigUint64Array(
      this.#mem.buffer,
      (this.#module.framesPtr() >>> 0) + first * 8,
      n,
    );
  }

  /** The process a user stack belongs to; -1 for a kernel stack. */
  stackPid(id: number): number {
    return this.#i32[this.#stackEntry(id) + M.SE_PID / 4];
  }

  /**
   * The table's 32-bit hash of stack `id` (of its pid and frames): equal
   * stacks have equal hashes, in this parser and in any other instance of
   * the module, so a host can index stacks by it (confirming by content).
   */
  stackHash(id: number): number {
    return this.#u32[this.#stackEntry(id) + M.SE_HASH / 4];
  }

  /** How many frames stack `id` has. */
  stackLength(id: number): number {
    return this.#u32[this.#stackEntry(id) + M.SE_FRAMES / 4];
  }

  /**
   * Where stack `id`'s frames start in {@link memoryWords}, in u32 words
   * (each frame is two: low, then high): for hosts that copy stacks out
   * without making a view per stack. Valid until the next `cutTables()`.
   */
  stackWordOffset(id: number): number {
    const first = this.#u32[this.#stackEntry(id) + M.SE_FIRST / 4];
    return ((this.#module.framesPtr() >>> 0) >>> 2) + first * 2;
  }

  /** The module's whole memory as u32 words (fixed after creation). */
  get memoryWords(): Uint32Array {
    return this.#u32;
  }

  /**
   * pid of aggregation entry `i` (< aggregateCount; no allocation). Entries
   * are numbered in the order their keys first appeared since the last cut,
   * so those a walk added are the ones from the count before it.
   */
  aggregatePid(i: number): number {
    return this.#i32[this.#aggregateWord(i) + M.AG_PID / 4];
  }
  /** tid of aggregation entry `i` (no allocation). */
  aggregateTid(i: number): number {
    return this.#i32[this.#aggregateWord(i) + M.AG_TID / 4];
  }
  /** Where aggregation entry `i` starts in u32 words of memory. */
  #aggregateWord(i: number): number {
    return (((this.#module.aggEntries() >>> 0) >>> 2) +
      i * (M.AGG_ENTRY_SIZE / 4));
  }

  /** Every aggregation entry since the last cut (allocates: call per interval). */
  readAggregates(): Aggregate[] {
    const n = this.#module.aggCount();
    const out: Aggregate[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const e = this.#aggregateWord(i);
      out[i] = {
        pid: this.#i32[e + M.AG_PID / 4],
        tid: this.#i32[e + M.AG_TID / 4],
        cpu: this.#u32[e + M.AG_CPU / 4],
        userStack: this.#i32[e + M.AG_USER_STACK / 4],
        kernelStack: this.#i32[e + M.AG_KERNEL_STACK / 4],
        samples: this.#u32[e + M.AG_SAMPLES / 4],
      };
    }
    return out;
  }

  /**
   * Empties the stack and aggregation tables. Stack ids handed out before
   * (in batches, in the overwrite ring, in aggregates) are void afterwards.
   */
  cutTables(): void {
    this.#module.cutTables();
    this.#cuts++;
  }

  /**
   * How many times the tables were cut: aggregation entry `i` after a walk
   * is the same entry as before it only while this is unchanged.
   */
  get tableCuts(): number {
    return this.#cuts;
  }

  /** Forgets per-CPU timestamps: the next walk starts a new stream. */
  resetStream(): void {
    this.#module.resetStream();
  }

  /** Encodes one event as its 32 bytes (written by the WASM module). */
  encodeEvent(e: ProfileEvent): Uint8Array {
    checkEvent(e);
    if (this.inputBytes < EVENT_SIZE) {
      throw new RangeError(
        `the parser's input area of ${this.inputBytes} bytes cannot hold an event`,
      );
    }
    const at = this.#inputAt;
    this.#write(at, e);
    return this.#mem.slice(at, at + EVENT_SIZE);
  }

  /** Decodes packed 32-byte events (no record headers). */
  decodeEvents(bytes: Uint8Array): ProfileEvent[] {
    if (bytes.byteLength % EVENT_SIZE !== 0) {
      throw new RangeError(
        `${bytes.byteLength} bytes is not a whole number of ${EVENT_SIZE}-byte events`,
      );
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: ProfileEvent[] = [];
    for (let at = 0; at < bytes.byteLength; at += EVENT_SIZE) {
      out.push(readEvent(view, at));
    }
    return out;
  }

  /**
   * Encodes events as committed BPF ring buffer records, as the kernel would
   * lay them out (throws if more than the batch capacity at once).
   */
  encodeRecords(events: ProfileEvent[]): Uint8Array {
    if (
      events.length > this.batchCapacity ||
      events.length * RECORD_SIZE > this.inputBytes
    ) {
      throw new RangeError(
        `${events.length} events exceed the parser's batch capacity`,
      );
    }
    const src = this.#batchAt;
    events.forEach((e, i) => this.#write(src + i * EVENT_SIZE, e));
    // The batch area now holds these events, not the last walk's.
    this.#stats[M.ST_BATCH_WRITTEN] = 0;
    const dst = this.#inputAt;
    const n = this.#module.encodeRecords(src, events.length, dst);
    return this.#mem.slice(dst, dst + n);
  }

  #write(at: number, e: ProfileEvent): void {
    checkEvent(e);
    this.#module.writeEvent(at, ...eventWords(e));
  }
}
