/**
 * What `deno task bench` times: a stream of ring buffer records in the WASM
 * parser's input area and the workloads run over it (decode with WASM, with
 * the TypeScript DataView baseline and with the plain reference decoder;
 * single and batch pushes into the overwrite ring; decode and push in one
 * walk), plus the check that the decoders agree before anything is timed.
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
import { EVENT_SIZE, RECORD_SIZE } from "../lib/parser/layout.ts";
import { referenceWalk } from "../lib/parser/reference_decoder.ts";
import { ProfileParser } from "../lib/parser/wasm_parser.ts";
import { TsDecoder } from "./ts_decoder.ts";

/** Events in the benchmark stream: 1M, so ms per run = ns per event. */
export const BENCH_EVENTS = 1_000_000;
/** CPUs the stream's events are spread over. */
const STREAM_CPUS = 8;

/**
 * Events per decoded batch in the batch-push benchmark: the batch capacity
 * the profiler session uses.
 */
export const PUSH_BATCH_EVENTS = 8192;

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

/**
 * Builds the benchmark stream: `events` records over 8 CPUs with increasing
 * timestamps above 2^32 (both halves matter), in the parser's input area.
 */
export function buildBenchStream(events = BENCH_EVENTS): BenchStream {
  const parser = ProfileParser.fromModule(
    new WebAssembly.Module(
      Deno.readFileSync(
        new URL("../parser-wasm/build/parser.wasm", import.meta.url),
      ),
    ),
    {
      ringCapacity: 65536,
      batchCapacity: events,
      inputBytes: events * RECORD_SIZE,
    },
  );
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

/** One WASM decode pass: walk into the batch area. */
export function wasmDecode(s: BenchStream): number {
  s.parser.resetStream();
  return s.parser.walkAt(s.at, s.len, false, true);
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
  return null;
}
