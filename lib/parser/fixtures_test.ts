/**
 * Shared helpers for the parser tests (no tests of its own: importing a
 * module that registers tests would run them again in every importer).
 *
 * - `buildStream` lays out BPF ring buffer records byte by byte, the way the
 *   kernel does (header, payload, padding to 8), for committed, discarded,
 *   short, long and busy records and raw bytes.
 * - `walkBoth` decodes one input with the WASM parser AND the reference
 *   decoder and asserts that statistics and events agree.
 * - `RingModel` is the obvious array model of the overwrite ring.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BUSY_BIT,
  DISCARD_BIT,
  EVENT_SIZE,
  RECORD_HEADER_SIZE,
} from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  referenceEncodeEvent,
  type ReferenceStreamState,
  referenceWalk,
} from "./reference_decoder.ts";
import {
  DEFAULT_WASM_URL,
  type EventRing,
  type ProfileParser,
} from "./wasm_parser.ts";
import type { WalkStats } from "./walk_stats.ts";

/**
 * The compiled parser module every test uses: the build, or the file named
 * by PARSER_WASM (to run the tests against another build, e.g. a mutant).
 */
export const WASM_MODULE: WebAssembly.Module = await WebAssembly.compile(
  await Deno.readFile(Deno.env.get("PARSER_WASM") ?? DEFAULT_WASM_URL),
);

/** An event with defaults for every field not given. */
export function ev(p: Partial<ProfileEvent> = {}): ProfileEvent {
  return {
    timestampNs: p.timestampNs ?? 1000n,
    pid: p.pid ?? 100,
    tid: p.tid ?? 101,
    userStackId: p.userStackId ?? 5,
    kernelStackId: p.kernelStackId ?? 6,
    cpu: p.cpu ?? 0,
    flags: p.flags ?? 0,
  };
}

/**
 * An event as the eight numbers `pushRaw` (and the module's `ringPush`)
 * take: the timestamp as its low and high u32 halves, then the fields.
 */
export function rawFields(e: ProfileEvent): [
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
] {
  return [
    Number(e.timestampNs & 0xffffffffn),
    Number(e.timestampNs >> 32n),
    e.pid,
    e.tid,
    e.userStackId,
    e.kernelStackId,
    e.cpu,
    e.flags,
  ];
}

/** `count` distinct events with increasing timestamps, spread over CPUs. */
export function events(count: number, cpus = 4, base = 1n): ProfileEvent[] {
  const out: ProfileEvent[] = [];
  for (let i = 0; i < count; i++) {
    out.push({
      timestampNs: base + BigInt(i),
      pid: 1000 + i,
      tid: 2000 + i,
      userStackId: i % 7 === 0 ? -14 : i,
      kernelStackId: i % 5 === 0 ? -17 : i * 3,
      cpu: i % cpus,
      flags: i & 31,
    });
  }
  return out;
}

/** One piece of a record stream. */
export type Piece =
  /** A committed 32-byte event record. */
  | { kind: "event"; event: ProfileEvent; pgOff?: number }
  /** A record with the DISCARD bit; `event` fills a 32-byte payload. */
  | { kind: "discard"; len: number; event?: ProfileEvent }
  /** A committed record whose len is not 32 (short or long). */
  | { kind: "bad"; len: number; fill?: number }
  /** A reserved, uncommitted record (BUSY bit, maybe DISCARD too). */
  | { kind: "busy"; len: number; discard?: boolean; event?: ProfileEvent }
  /** Bytes appended as they are. */
  | { kind: "raw"; bytes: Uint8Array };

/** Bytes a record of payload `len` takes: header + payload, rounded to 8. */
export function recordTotal(len: number): number {
  return Math.ceil((len + RECORD_HEADER_SIZE) / 8) * 8;
}

function pieceSize(p: Piece): number {
  return p.kind === "raw"
    ? p.bytes.byteLength
    : recordTotal(p.kind === "event" ? EVENT_SIZE : p.len);
}

/** Lays the pieces out back to back, as the kernel lays out records. */
export function buildStream(pieces: Piece[]): Uint8Array {
  const size = pieces.reduce((n, p) => n + pieceSize(p), 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const p of pieces) {
    switch (p.kind) {
      case "event":
        view.setUint32(off, EVENT_SIZE, true);
        view.setUint32(off + 4, p.pgOff ?? 0, true);
        referenceEncodeEvent(view, off + RECORD_HEADER_SIZE, p.event);
        break;
      case "discard":
        view.setUint32(off, (p.len | DISCARD_BIT) >>> 0, true);
        if (p.event && p.len >= EVENT_SIZE) {
          referenceEncodeEvent(view, off + RECORD_HEADER_SIZE, p.event);
        }
        break;
      case "bad":
        view.setUint32(off, p.len, true);
        out.fill(p.fill ?? 0xa5, off + RECORD_HEADER_SIZE, off + pieceSize(p));
        break;
      case "busy":
        view.setUint32(
          off,
          (p.len | BUSY_BIT | (p.discard ? DISCARD_BIT : 0)) >>> 0,
          true,
        );
        if (p.event && p.len >= EVENT_SIZE) {
          referenceEncodeEvent(view, off + RECORD_HEADER_SIZE, p.event);
        }
        break;
      case "raw":
        out.set(p.bytes, off);
        break;
    }
    off += pieceSize(p);
  }
  return out;
}

/** Pieces for committed events. */
export function eventPieces(list: ProfileEvent[]): Piece[] {
  return list.map((event) => ({ kind: "event", event }));
}

/** What both decoders agreed on. */
export interface Agreed {
  stats: WalkStats;
  events: ProfileEvent[];
}

/**
 * Walks `bytes` with the WASM parser and the reference decoder (which keeps
 * its stream state in `state`; pass a fresh Map after `resetStream()`), and
 * asserts they agree on every statistic and on the decoded events. With
 * `toRing` and no `toBatch`, compare the ring yourself.
 */
export function walkBoth(
  parser: ProfileParser,
  bytes: Uint8Array,
  state: ReferenceStreamState,
  options: { toRing?: boolean; toBatch?: boolean } = {},
): Agreed {
  const toBatch = options.toBatch ?? true;
  const got = parser.walk(bytes, options);
  const ref = referenceWalk(
    bytes,
    state,
    toBatch ? parser.batchCapacity : Infinity,
  );
  assert.deepStrictEqual(got, ref.stats);
  // The allocation-free accessors tell the same story.
  assert.equal(parser.lastEvents, ref.stats.events);
  assert.equal(parser.lastDiscarded, ref.stats.discarded);
  assert.equal(parser.lastMalformed, ref.stats.malformed);
  assert.equal(parser.lastOutOfOrder, ref.stats.outOfOrder);
  // The invariants of a walk, whatever the input.
  const s = ref.stats;
  assert.equal(s.malformed, s.shortRecords + s.longRecords + s.pastEnd);
  assert.ok(s.consumed <= bytes.byteLength);
  assert.equal(s.consumed % 8, 0);
  assert.equal(s.stop === "end", s.consumed === bytes.byteLength);
  assert.equal(s.pastEnd, s.stop === "past-end" ? 1 : 0);
  let perCpuEvents = 0;
  for (const c of s.perCpu.values()) perCpuEvents += c.events;
  assert.equal(perCpuEvents + s.badCpu, s.events);
  if (toBatch) {
    assert.equal(parser.batchLength, ref.events.length);
    assert.deepStrictEqual(parser.batchEvents(), ref.events);
    for (let i = 0; i < ref.events.length; i++) {
      assert.equal(parser.batchPid(i), ref.events[i].pid);
      assert.equal(parser.batchTid(i), ref.events[i].tid);
      assert.equal(parser.batchCpu(i), ref.events[i].cpu);
    }
  } else {
    assert.equal(parser.batchLength, 0);
  }
  return ref;
}

/** The overwrite ring as the obvious array model. */
export class RingModel {
  items: ProfileEvent[] = [];
  overwritten = 0;
  constructor(readonly capacity: number) {}
  push(e: ProfileEvent): void {
    this.items.push(e);
    if (this.items.length > this.capacity) {
      this.items.shift();
      this.overwritten++;
    }
  }
  clear(): void {
    this.items = [];
    this.overwritten = 0;
  }
}

/** Asserts the ring holds exactly what the model holds, in order. */
export function assertRing(ring: EventRing, model: RingModel): void {
  assert.equal(ring.capacity, model.capacity);
  assert.equal(ring.length, model.items.length);
  assert.equal(ring.overwritten, model.overwritten);
  assert.deepStrictEqual(ring.snapshot(), model.items);
}

/** A tiny deterministic PRNG (xorshift32) for repeatable random tests. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = (seed >>> 0) || 0x9e3779b9;
  }
  /** A uniform u32. */
  u32(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  /** A uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
}
