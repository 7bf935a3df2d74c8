/**
 * What `deno task bench` times: a stream of ring buffer records in the WASM
 * parser's input area and the workloads run over it (decode with WASM, with
 * the TypeScript DataView baseline and with the plain reference decoder;
 * decode and aggregate in one walk; single and batch pushes into the
 * overwrite ring; decode and push in one walk), a second stream of records
 * with frames of a realistic depth (decode, intern, aggregate), plus the
 * checks that the decoders agree before anything is timed.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { buildBenchStream, checkDecodersAgree, tsDecode, wasmDecode } from "./parser_workloads.ts";
 * const stream = buildBenchStream(1000);
 * checkDecodersAgree(stream);
 * assert.equal(wasmDecode(stream), stream.len);
 * assert.equal(tsDecode(stream), stream.len);
 * ```
 * @module
 */
import {
  EVENT_OFFSETS as O,
  EVENT_SIZE,
  EventFlags,
  RECORD_HEADER_SIZE,
  RECORD_SIZE,
} from "../lib/parser/layout.ts";
import { referenceWalk } from "../lib/parser/reference_decoder.ts";
import { DEFAULT_TABLES, ProfileParser } from "../lib/parser/wasm_parser.ts";
import { seededRandom } from "../lib/common/seeded_random.ts";
import { TsDecoder } from "./ts_decoder.ts";
import { SESSION_BATCH_EVENTS } from "../lib/profiler/session.ts";

/** Events in the benchmark stream: 1M, so ms per run = ns per event. */
export const BENCH_EVENTS = 1_000_000;
/** CPUs the stream's events are spread over. */
const STREAM_CPUS = 8;

/**
 * Events per decoded batch in the batch-push benchmark: the batch capacity
 * the profiler session uses.
 */
export const PUSH_BATCH_EVENTS = SESSION_BATCH_EVENTS;

/** A parser holding `events` committed records in its input area. */
export interface BenchStream {
  parser: ProfileParser;
  /** Byte offset of the records in the parser's memory. */
  at: number;
  /** Bytes of records. */
  len: number;
  events: number;
  view: DataView;
  ts: TsDecoder;
}

let compiled: WebAssembly.Module | null = null;

/** The parser module, compiled once for every parser of the benchmark. */
function parserModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(
    Deno.readFileSync(
      new URL("../parser-wasm/build/parser.wasm", import.meta.url),
    ),
  );
  return compiled;
}

/**
 * Builds the benchmark stream: `events` plain event records (no frames, as
 * the stress source sends) over 8 CPUs with increasing timestamps above
 * 2^32 (both halves matter), in the input area of a parser with the
 * default tables, so that the same stream is decoded with and without
 * aggregation (1,024 distinct pid/tid/cpu keys).
 */
export function buildBenchStream(events = BENCH_EVENTS): BenchStream {
  const parser = ProfileParser.fromModule(parserModule(), {
    ringCapacity: 65536,
    batchCapacity: events,
    inputBytes: events * RECORD_SIZE,
    tables: DEFAULT_TABLES,
  });
  const len = events * RECORD_SIZE;
  const at = parser.heapTop - parser.inputBytes;
  const view = new DataView(parser.memory.buffer);
  for (let i = 0; i < events; i++) {
    const r = at + i * RECORD_SIZE;
    view.setUint32(r, EVENT_SIZE, true);
    view.setUint32(r + 4, 0, true);
    const e = r + 8;
    view.setUint32(e, (i * 997) >>> 0, true); // ts low
    view.setUint32(e + 4, 1 + (i >>> 22), true); // ts high
    view.setInt32(e + 8, 1000 + (i & 255), true);
    view.setInt32(e + 12, 2000 + (i & 1023), true);
    view.setInt32(e + 16, i % 50 === 0 ? -14 : i & 4095, true);
    view.setInt32(e + 20, i & 2047, true);
    view.setUint32(e + 24, i % STREAM_CPUS, true);
    view.setUint32(e + 28, i & 3, true);
  }
  return { parser, at, len, events, view, ts: new TsDecoder(events) };
}

/**
 * One timed pass of every WASM workload below: `len` bytes at `at` walked
 * into the batch area from the start of a stream; with `tables`, from
 * empty tables (cut first), interning stacks, and aggregating too when
 * "aggregate".
 */
function walkPass(
  p: ProfileParser,
  at: number,
  len: number,
  tables?: "intern" | "aggregate",
): number {
  p.resetStream();
  if (tables) p.cutTables();
  return p.walkAt(at, len, false, true, tables === "aggregate");
}

/** One WASM decode pass: walk into the batch area. */
export function wasmDecode(s: BenchStream): number {
  return walkPass(s.parser, s.at, s.len);
}

/**
 * One WASM decode pass that also aggregates every event (SINK_AGGREGATE;
 * plain events: by pid, tid and cpu, no stacks), from empty tables, as one
 * profile interval does. Throws if the tables filled (they hold 16,384
 * keys, the stream has 1,024).
 */
export function wasmDecodeAggregate(s: BenchStream): number {
  const n = walkPass(s.parser, s.at, s.len, "aggregate");
  if (n !== s.len) {
    throw new Error(`decode + aggregate stopped (${s.parser.lastStop})`);
  }
  return n;
}

/** One TS decode pass over the same bytes. */
export function tsDecode(s: BenchStream): number {
  s.ts.resetStream();
  return s.ts.walk(s.view, s.at, s.len);
}

/**
 * One pass of the plain TypeScript reference decoder (the one the tests
 * check the WASM parser against): written for obviousness, it makes an
 * object with a BigInt timestamp per event. Returns the events decoded.
 */
export function referenceDecode(s: BenchStream): number {
  const bytes = new Uint8Array(s.parser.memory.buffer, s.at, s.len);
  return referenceWalk(bytes).events.length;
}

/** `count` single pushes from TS. */
export function singlePushes(s: BenchStream, count: number): void {
  const ring = s.parser.ring;
  for (let i = 0; i < count; i++) {
    ring.pushRaw(i, 1, 1000 + (i & 255), 2000, i & 4095, -14, i & 7, 0);
  }
}

/** One pass of pushes inside WASM: walk the records into the ring. */
export function walkToRing(s: BenchStream): number {
  s.parser.resetStream();
  return s.parser.walkAt(s.at, s.len, true, false);
}

/**
 * Decodes the first PUSH_BATCH_EVENTS records into the batch area, for
 * `pushBatches`.
 */
export function decodePushBatch(s: BenchStream): void {
  s.parser.resetStream();
  const n = Math.min(PUSH_BATCH_EVENTS, s.events);
  s.parser.walkAt(s.at, n * RECORD_SIZE, false, true);
  if (s.parser.batchLength !== n) {
    throw new Error(`decoded ${s.parser.batchLength} of ${n} events`);
  }
}

/**
 * The batch push alone, inside WASM: the decoded batch (see
 * `decodePushBatch`) pushed into the ring until `count` events went in,
 * one `pushBatch()` per batch, as a consumer does after each decode. The
 * ring (65,536 events) is far smaller than the total, so every batch
 * overwrites older events and every event is really copied.
 */
export function pushBatches(s: BenchStream, count: number): number {
  const batch = s.parser.batchLength;
  if (batch !== Math.min(PUSH_BATCH_EVENTS, s.events)) {
    throw new Error("pushBatches: decodePushBatch first");
  }
  const ring = s.parser.ring;
  let pushed = 0;
  while (pushed < count) {
    ring.pushBatch();
    pushed += batch;
  }
  return pushed;
}

/**
 * Whether the WASM parser, the TS baseline and the reference decoder
 * decode the stream the same way, so the timings compare equal work (and a
 * broken decoder cannot look fast). Returns what differs, or null.
 */
export function checkDecodersAgree(s: BenchStream): string | null {
  const wasmConsumed = wasmDecode(s);
  const tsConsumed = tsDecode(s);
  const p = s.parser;
  const ts = s.ts;
  if (wasmConsumed !== s.len || tsConsumed !== s.len) {
    return `consumed ${wasmConsumed} / ${tsConsumed} of ${s.len}`;
  }
  if (p.lastEvents !== s.events || ts.events !== s.events) return "events";
  if (p.lastOutOfOrder !== ts.outOfOrder) return "out of order";
  if (p.lastMalformed !== ts.malformed) return "malformed";
  const ref = referenceWalk(new Uint8Array(p.memory.buffer, s.at, s.len));
  if (ref.events.length !== s.events) return "reference decoder events";
  if (ref.stats.outOfOrder !== p.lastOutOfOrder) {
    return "reference out of order";
  }
  const last = ref.events[s.events - 1];
  if (last.pid !== p.batchPid(s.events - 1)) return "reference decoder pid";
  const batch = new Int32Array(p.memory.buffer, p.batchOffset, s.events * 8);
  for (let i = 0; i < batch.length; i++) {
    if (batch[i] !== ts.out[i]) return `word ${i} of the batch`;
  }
  if (p.lastStats().noFrames !== s.events || ts.noFrames !== s.events) {
    return "events without frames";
  }
  // Decode + aggregate: the same events, each counted once in its key (the
  // stream's pid, tid and cpu repeat every 1,024 events).
  wasmDecodeAggregate(s);
  if (p.lastEvents !== s.events) return "decode + aggregate events";
  if (p.aggregateCount !== Math.min(s.events, 1024)) {
    return `decode + aggregate: ${p.aggregateCount} keys`;
  }
  const samples = p.readAggregates().reduce((n, a) => n + a.samples, 0);
  if (samples !== s.events) return `aggregated ${samples} of ${s.events}`;
  return null;
}

// ---------------------------------------------------------------------------
// Records with frames.

/** Processes of the frames stream, each with two threads. */
const FRAME_PROCS = 8;
/** Distinct user stacks per process (12-24 frames each). */
const USER_STACKS_PER_PROC = 32;
/** Distinct kernel stacks (6-14 frames each). */
const KERNEL_STACKS = 48;
/** CPUs the frames stream is spread over. */
const FRAME_CPUS = 4;

/** A stream of records with frames in two parsers' input areas. */
export interface FramesStream {
  /** With the default tables: decode + intern (+ aggregate). */
  parser: ProfileParser;
  /** Without tables: decode and classify only. */
  plain: ProfileParser;
  /** Byte offsets of the records in each parser's memory. */
  at: number;
  plainAt: number;
  len: number;
  events: number;
  /** User + kernel frames over all events. */
  frames: number;
  /** Distinct stacks the stream holds (user per process, and kernel). */
  distinctStacks: number;
  /** Distinct (pid, tid, cpu, user stack, kernel stack) keys. */
  aggregationKeys: number;
}

const userDepth = (proc: number, j: number) => 12 + ((j * 7 + proc) % 13);
const kernelDepth = (k: number) => 6 + (k % 9);

/**
 * Builds `events` records with frames as the profiler writes them: 8
 * processes of 2 threads, 32 user stacks each (12-24 frames, the hot ones
 * sampled more often), in kernel mode 60% of the time on one of 48 kernel
 * stacks (6-14 frames) that go with the user stack, else no kernel frames;
 * about 24 frames per event, up to 304 distinct stacks. The same bytes go into a
 * parser with the default tables and one without.
 */
export function buildFramesStream(events: number): FramesStream {
  // Seeded: the stream is the same every run.
  const r = seededRandom(0xf4a3e5);
  interface Pick {
    proc: number;
    tid: number;
    user: number;
    kernel: number; // -1: user mode
    cpu: number;
  }
  const picks: Pick[] = new Array(events);
  let len = 0, frames = 0;
  const keys = new Set<string>();
  const stacks = new Set<string>();
  for (let i = 0; i < events; i++) {
    const proc = Math.floor(r() * r() * FRAME_PROCS);
    const user = Math.floor(r() * r() * USER_STACKS_PER_PROC);
    const kernel = r() < 0.4
      ? -1
      : (user * 5 + proc + Math.floor(r() * 3)) % KERNEL_STACKS;
    const p = {
      proc,
      tid: Math.floor(r() * 2),
      user,
      kernel,
      cpu: i % FRAME_CPUS,
    };
    picks[i] = p;
    const n = userDepth(proc, user) + (kernel < 0 ? 0 : kernelDepth(kernel));
    frames += n;
    len += RECORD_HEADER_SIZE + EVENT_SIZE + 8 * n;
    keys.add(`${proc}/${p.tid}/${p.cpu}/${user}/${kernel}`);
    stacks.add(`u${proc}/${user}`);
    if (kernel >= 0) stacks.add(`k${kernel}`);
  }
  const make = (tables: boolean) =>
    ProfileParser.fromModule(parserModule(), {
      ringCapacity: 1,
      batchCapacity: events,
      inputBytes: len,
      tables: tables ? DEFAULT_TABLES : false,
    });
  const parser = make(true);
  const plain = make(false);
  const at = parser.heapTop - parser.inputBytes;
  const plainAt = plain.heapTop - plain.inputBytes;
  const view = new DataView(parser.memory.buffer);
  let off = at;
  picks.forEach((p, i) => {
    const nu = userDepth(p.proc, p.user);
    const nk = p.kernel < 0 ? 0 : kernelDepth(p.kernel);
    view.setUint32(off, EVENT_SIZE + 8 * (nu + nk), true);
    view.setUint32(off + 4, 0, true);
    const e = off + RECORD_HEADER_SIZE;
    view.setBigUint64(e + O.timestampNs, 0x100000000n + BigInt(i) * 997n, true);
    view.setInt32(e + O.pid, 3000 + p.proc * 16, true);
    view.setInt32(e + O.tid, 3000 + p.proc * 16 + p.tid, true);
    view.setInt32(e + O.userStackId, nu, true);
    view.setInt32(e + O.kernelStackId, nk, true);
    view.setUint32(e + O.cpu, p.cpu, true);
    view.setUint32(e + O.flags, EventFlags.FRAMES, true);
    let f = e + EVENT_SIZE;
    // User frames innermost first; the outer ones shared within a process
    // (main, the thread start), as real stacks are.
    for (let d = 0; d < nu; d++, f += 8) {
      const outer = nu - 1 - d;
      const ip = outer < 4
        ? 0x555500000000n + BigInt(p.proc) * 0x1000000n + BigInt(outer) * 0x40n
        : 0x555500000000n + BigInt(p.proc) * 0x1000000n +
          BigInt(p.user + 1) * 0x10000n + BigInt(d) * 0x40n;
      view.setBigUint64(f, ip, true);
    }
    for (let d = 0; d < nk; d++, f += 8) {
      view.setBigUint64(
        f,
        0xffffffff81000000n + BigInt(p.kernel) * 0x10000n + BigInt(d) * 0x30n,
        true,
      );
    }
    off = f;
  });
  new Uint8Array(plain.memory.buffer, plainAt, len).set(
    new Uint8Array(parser.memory.buffer, at, len),
  );
  return {
    parser,
    plain,
    at,
    plainAt,
    len,
    events,
    frames,
    distinctStacks: stacks.size,
    aggregationKeys: keys.size,
  };
}

/** Decode of the frames stream without tables: validate, classify, batch. */
export function framesDecode(s: FramesStream): number {
  return walkPass(s.plain, s.plainAt, s.len);
}

/**
 * Decode + intern of the frames stream, from empty tables (every distinct
 * stack interned once, every other sample a lookup), into the batch.
 */
export function framesIntern(s: FramesStream): number {
  return walkPass(s.parser, s.at, s.len, "intern");
}

/** Decode + intern + aggregate of the frames stream, from empty tables. */
export function framesInternAggregate(s: FramesStream): number {
  return walkPass(s.parser, s.at, s.len, "aggregate");
}

/**
 * Whether the frames workloads do what they claim before they are timed:
 * every record walked, stacks classified as the reference decoder does,
 * every distinct stack interned once, every sample aggregated once into
 * its key, and the TS baseline agreeing with the table-less parser's batch.
 * Returns what differs, or null.
 */
export function checkFramesWorkloads(s: FramesStream): string | null {
  const ref = referenceWalk(
    new Uint8Array(s.parser.memory.buffer, s.at, s.len),
  ).stats;
  for (
    const [what, n, p] of [
      ["decode", framesDecode(s), s.plain],
      ["intern", framesIntern(s), s.parser],
      ["intern + aggregate", framesInternAggregate(s), s.parser],
    ] as const
  ) {
    if (n !== s.len || p.lastStop !== "end") {
      return `${what}: consumed ${n} of ${s.len}, stop ${p.lastStop}`;
    }
    const st = p.lastStats();
    if (
      st.events !== s.events || st.userFrames + st.kernelFrames !== s.frames
    ) {
      return `${what}: ${st.events} events, ${
        st.userFrames + st.kernelFrames
      } frames`;
    }
    for (const k of ["userStacks", "kernelStacks", "noFrames"] as const) {
      if (JSON.stringify(st[k]) !== JSON.stringify(ref[k])) {
        return `${what}: ${k} ${JSON.stringify(st[k])}, reference ${
          JSON.stringify(ref[k])
        }`;
      }
    }
  }
  // After intern + aggregate: the tables hold what the stream holds.
  const p = s.parser;
  if (p.stackCount !== s.distinctStacks) {
    return `interned ${p.stackCount} stacks, the stream has ${s.distinctStacks}`;
  }
  if (p.aggregateCount !== s.aggregationKeys) {
    return `${p.aggregateCount} aggregation keys, the stream has ${s.aggregationKeys}`;
  }
  const samples = p.readAggregates().reduce((n, a) => n + a.samples, 0);
  if (samples !== s.events) return `aggregated ${samples} of ${s.events}`;
  // The TS baseline decodes frames records as the parser without tables.
  framesDecode(s);
  const ts = new TsDecoder(s.events);
  const view = new DataView(s.plain.memory.buffer);
  if (ts.walk(view, s.plainAt, s.len) !== s.len) return "TS frames decode";
  const batch = new Int32Array(
    s.plain.memory.buffer,
    s.plain.batchOffset,
    s.events * (EVENT_SIZE / 4),
  );
  for (let i = 0; i < batch.length; i++) {
    if (batch[i] !== ts.out[i]) return `TS frames decode: word ${i}`;
  }
  return null;
}
