/**
 * The TypeScript face of the WASM parser: walk ring buffer record streams,
 * decode and encode ProfileEvents, and keep an overwrite ring of recent
 * events, with no pointers or memory views in sight.
 *
 * Works in Deno and in browsers: it uses only `fetch` and `WebAssembly`.
 *
 * @example
 * ```ts
 * import { ProfileParser } from "./wasm_parser.ts";
 * const parser = await ProfileParser.create({ ringCapacity: 4 });
 * const bytes = parser.encodeRecords([{ timestampNs: 10n, pid: 7, tid: 7,
 *   userStackId: 1, kernelStackId: 2, cpu: 0, flags: 0 }]);
 * const stats = parser.walk(bytes, { toRing: true });
 * console.log(stats.events, parser.ring.snapshot()[0].pid); // 1 7
 * ```
 * @module
 */
import { EVENT_SIZE, RECORD_SIZE } from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  type CpuBatchStats,
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
}

/** Which sinks a walk feeds. */
export interface WalkOptions {
  /** Push every decoded event into the overwrite ring. */
  toRing?: boolean;
  /** Keep the decoded events for `batchEvents()` (default true). */
  toBatch?: boolean;
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
  ringPush(
    tsLo: number,
    tsHi: number,
    pid: number,
    tid: number,
    u: number,
    k: number,
    cpu: number,
    flags: number,
  ): void;
  ringPushEvents(src: number, count: number): void;
  ringLength(): number;
  ringCapacity(): number;
  ringOverwrittenCount(): number;
  ringClear(): void;
  ringHead(): number;
  ringSnapshot(dst: number, max: number): number;
  writeEvent(
    dst: number,
    tsLo: number,
    tsHi: number,
    pid: number,
    tid: number,
    u: number,
    k: number,
    cpu: number,
    flags: number,
  ): void;
  encodeRecords(src: number, count: number, dst: number): number;
  resetStream(): void;
}

const SINK_RING = 1;
const SINK_BATCH = 2;
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
 * import { compileParser, ProfileParser } from "./wasm_parser.ts";
 * const module = await compileParser();
 * const a = ProfileParser.fromModule(module);
 * const b = ProfileParser.fromModule(module);
 * console.log(a !== b); // true
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
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      bytes = await res.arrayBuffer();
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

/** The overwrite ring of recent events, inside WASM memory. */
export class EventRing {
  #p: ProfileParser;
  #x: ParserExports;
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
  readonly pushRaw: (
    tsLo: number,
    tsHi: number,
    pid: number,
    tid: number,
    userStackId: number,
    kernelStackId: number,
    cpu: number,
    flags: number,
  ) => void;
  readonly #toModule: () => void;
  readonly #fromModule: () => void;

  /** @internal Made by ProfileParser. */
  constructor(parser: ProfileParser, exports: ParserExports) {
    this.#p = parser;
    this.#x = exports;
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
    return this.#x.ringLength();
  }
  /** Events the ring holds before it overwrites the oldest. */
  get capacity(): number {
    return this.#x.ringCapacity();
  }
  /** Events overwritten by newer ones since creation or `clear()`. */
  get overwritten(): number {
    this.#toModule();
    return this.#x.ringOverwrittenCount();
  }
  /** Pushes one event. */
  push(e: ProfileEvent): void {
    const ts = e.timestampNs;
    checkTimestamp(ts);
    this.pushRaw(
      Number(ts & 0xffffffffn),
      Number((ts >> 32n) & 0xffffffffn),
      e.pid,
      e.tid,
      e.userStackId,
      e.kernelStackId,
      e.cpu,
      e.flags,
    );
  }
  /** Pushes every event of the last walk's batch, inside WASM. */
  pushBatch(): void {
    this.#toModule();
    this.#x.ringPushEvents(this.#p.batchOffset, this.#p.batchLength);
    this.#fromModule();
  }
  /** Empties the ring and zeroes the overwritten count. */
  clear(): void {
    this.#toModule();
    this.#x.ringClear();
    this.#fromModule();
  }
  /** Copies every event out, oldest first (allocates JS objects). */
  snapshot(): ProfileEvent[] {
    this.#toModule();
    const x = this.#x;
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
    const x = this.#x;
    const at = this.#p.batchOffset;
    // Clamp to [0, batchCapacity]: a negative or NaN n must not reach the
    // module as a huge u32 and copy the whole ring past the batch area.
    const want = Math.min(Math.max(Math.floor(n), 0), this.#p.batchCapacity);
    const got = x.ringSnapshot(at, Number.isNaN(want) ? 0 : want);
    // The batch area now holds these events, not the last walk's.
    this.#p.forgetBatch();
    const view = new DataView(x.memory.buffer);
    const out: ProfileEvent[] = new Array(got);
    for (let i = 0; i < got; i++) {
      out[i] = readEvent(view, at + i * EVENT_SIZE);
    }
    return out;
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
  readonly #x: ParserExports;
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
    const ring = o.ringCapacity ?? 65536;
    const batch = o.batchCapacity ?? 65536;
    const input = o.inputBytes ?? batch * RECORD_SIZE;
    const rc = x.init(ring, batch, input, o.mapBytes ?? 0, o.mapAlign ?? 65536);
    if (rc !== 0) {
      throw new RangeError(
        `parser init(ring=${ring}, batch=${batch}, input=${input}) failed: ${
          INIT_ERRORS[rc] ?? rc
        }`,
      );
    }
    this.#x = x;
    // Memory never grows after init, so views made now stay valid.
    const buf = x.memory.buffer;
    this.#stats = new Uint32Array(buf, x.statsPtr(), 16);
    // 16 bytes per CPU: u64 last timestamp, u32 events, u32 out of order.
    this.#cpuStats = new Uint32Array(buf, x.cpuStatsPtr(), 1024 * 4);
    this.#touched = new Uint32Array(buf, x.cpusTouchedPtr(), 1024);
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
    return this.#x.memory;
  }
  /** End of all the module laid out; a test checks it never moves. */
  get heapTop(): number {
    return this.#x.heapTop() >>> 0;
  }
  /**
   * Bytes of WASM memory the parser itself uses (its regions, not the span
   * reserved for a host mapping, whose pages belong to the mapped object).
   */
  get ownBytes(): number {
    return (this.#x.mapPtr() || this.#x.heapTop()) >>> 0;
  }
  /** Byte offset in `memory` reserved for a host mapping (0 if none). */
  get mapOffset(): number {
    return this.#x.mapPtr() >>> 0;
  }
  /** @internal Byte offset of the batch area in `memory`. */
  get batchOffset(): number {
    return this.#batchAt;
  }
  /** @internal The batch area was overwritten: it holds no walk's events. */
  forgetBatch(): void {
    this.#stats[11] = 0;
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
    this.#mem.set(bytes, at);
    this.walkAt(
      at,
      bytes.byteLength,
      options.toRing ?? false,
      options.toBatch ?? true,
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
  ): number {
    this.#checkRange("walkAt", at, length);
    if (!toRing) {
      return this.#x.walk(at, length, toBatch ? SINK_BATCH : 0);
    }
    const ring = this.ring;
    ring.syncToModule();
    const n = this.#x.walk(
      at,
      length,
      SINK_RING | (toBatch ? SINK_BATCH : 0),
    );
    ring.syncFromModule();
    return n;
  }

  /**
   * Bytes from `at` up to the first record not yet committed (BUSY) or the
   * first header claiming bytes past `length`: what walkAt may decode.
   * Reads headers only. For hosts on weakly ordered CPUs, which must fence
   * between reading headers and reading payloads (see ring_reader.ts).
   */
  committedAt(at: number, length: number): number {
    this.#checkRange("committedAt", at, length);
    return this.#x.committedBytes(at, length);
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
    return this.#stats[0];
  }
  /** Records discarded by the producer in the last walk. */
  get lastDiscarded(): number {
    return this.#stats[1];
  }
  /** Malformed records in the last walk. */
  get lastMalformed(): number {
    return this.#stats[2];
  }
  /** Events out of per-CPU timestamp order in the last walk. */
  get lastOutOfOrder(): number {
    return this.#stats[5];
  }
  /** Why the last walk stopped (a constant string: no allocation). */
  get lastStop(): StopReason {
    return STOP_REASONS[this.#stats[3]];
  }
  /** Events in the batch area after the last walk. */
  get batchLength(): number {
    return this.#stats[11];
  }

  /** Statistics of the last walk as an object (allocates). */
  lastStats(): WalkStats {
    const s = this.#stats;
    const perCpu = new Map<number, CpuBatchStats>();
    for (let i = 0; i < s[6]; i++) {
      const cpu = this.#touched[i];
      perCpu.set(cpu, {
        events: this.#cpuStats[cpu * 4 + 2],
        outOfOrder: this.#cpuStats[cpu * 4 + 3],
      });
    }
    return {
      events: s[0],
      discarded: s[1],
      malformed: s[2],
      stop: STOP_REASONS[s[3]],
      consumed: s[4],
      outOfOrder: s[5],
      badCpu: s[7],
      shortRecords: s[8],
      longRecords: s[9],
      pastEnd: s[10],
      perCpu,
    };
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

  /** Forgets per-CPU timestamps: the next walk starts a new stream. */
  resetStream(): void {
    this.#x.resetStream();
  }

  /** Encodes one event as its 32 bytes (written by the WASM module). */
  encodeEvent(e: ProfileEvent): Uint8Array {
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
    this.#stats[11] = 0;
    const dst = this.#inputAt;
    const n = this.#x.encodeRecords(src, events.length, dst);
    return this.#mem.slice(dst, dst + n);
  }

  #write(at: number, e: ProfileEvent): void {
    const ts = e.timestampNs;
    checkTimestamp(ts);
    this.#x.writeEvent(
      at,
      Number(ts & 0xffffffffn),
      Number(ts >> 32n),
      e.pid,
      e.tid,
      e.userStackId,
      e.kernelStackId,
      e.cpu,
      e.flags,
    );
  }
}
