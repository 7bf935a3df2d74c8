/**
 * Shared helpers for the parser tests. It holds no tests of its own (and is
 * not named *_test.ts): a module that registered tests would run them again
 * in every test file that imports it.
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
  EventFlags,
  RECORD_HEADER_SIZE,
  StackId,
} from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  type ReferenceDecoded,
  referenceEncodeEvent,
  referenceEncodeSamples,
  type ReferenceSample,
  type ReferenceStreamState,
  type ReferenceTables,
  referenceWalk,
} from "./reference_decoder.ts";
import {
  DEFAULT_WASM_URL,
  type EventRing,
  type EventWords,
  eventWords,
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
 * take: the timestamp as its low and high u32 halves, then the fields
 * ({@link eventWords}, under the name the tests know).
 */
export function rawFields(e: ProfileEvent): EventWords {
  return eventWords(e);
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
  /** A committed record with frames (the profiler's record shape). */
  | { kind: "sample"; sample: ReferenceSample }
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
  if (p.kind === "raw") return p.bytes.byteLength;
  if (p.kind === "sample") return referenceEncodeSamples([p.sample]).byteLength;
  return recordTotal(p.kind === "event" ? EVENT_SIZE : p.len);
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
      case "sample":
        out.set(referenceEncodeSamples([p.sample]), off);
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
  decoded: ReferenceDecoded[];
}

/** Options of {@link walkBoth}. */
export interface WalkBothOptions {
  toRing?: boolean;
  toBatch?: boolean;
  toAggregate?: boolean;
  /**
   * The reference's model of the parser's tables, carried across walks.
   * Default: one kept per parser (see {@link tableModel}); cut both with
   * {@link cutBoth}.
   */
  tables?: ReferenceTables;
}

const models = new WeakMap<ProfileParser, ReferenceTables>();

/** The reference's model of `parser`'s tables, kept across walks. */
export function tableModel(parser: ProfileParser): ReferenceTables | undefined {
  const cap = parser.tableCapacity;
  if (cap === null) return undefined;
  let m = models.get(parser);
  if (!m) {
    m = { ...cap, aggregate: false };
    models.set(parser, m);
  }
  return m;
}

/** Cuts the parser's tables and forgets the model's content alike. */
export function cutBoth(parser: ProfileParser): void {
  parser.cutTables();
  const m = models.get(parser);
  if (m) m.held = undefined;
}

/**
 * The stack id the parser should have handed on for one stack of a decoded
 * event: the sentinel for a stack without frames, the frame count without
 * tables, and with tables an id whose frames and pid are checked here.
 */
function checkStackId(
  parser: ProfileParser,
  got: number,
  d: ReferenceDecoded,
  kind: "user" | "kernel",
  what: string,
): void {
  const e = d.event;
  const frames = kind === "user" ? d.user : d.kernel;
  const wire = kind === "user" ? e.userStackId : e.kernelStackId;
  if (frames === null) {
    assert.equal(got, wire < 0 ? StackId.FAULT : StackId.EMPTY, what);
  } else if (!parser.hasTables) {
    assert.equal(got, frames.length, what);
  } else {
    assert.ok(got >= 0, `${what}: a stack id, got ${got}`);
    assert.deepStrictEqual([...parser.stackFrames(got)], frames, what);
    assert.equal(parser.stackPid(got), kind === "user" ? e.pid : -1, what);
  }
}

/**
 * Checks event `got` handed on by the parser against the reference's
 * decoded `d`: every field equal, and for an event with frames the stack
 * fields as {@link checkStackId} says.
 */
export function checkHandedOn(
  parser: ProfileParser,
  got: ProfileEvent,
  d: ReferenceDecoded,
  what: string,
): void {
  if ((d.event.flags & EventFlags.FRAMES) === 0) {
    assert.deepStrictEqual(got, d.event, what);
    return;
  }
  assert.deepStrictEqual(
    { ...got, userStackId: 0, kernelStackId: 0 },
    { ...d.event, userStackId: 0, kernelStackId: 0 },
    what,
  );
  checkStackId(parser, got.userStackId, d, "user", `${what} user stack`);
  checkStackId(parser, got.kernelStackId, d, "kernel", `${what} kernel stack`);
}

/**
 * Walks `bytes` with the WASM parser and the reference decoder (which keeps
 * its stream state in `state`; pass a fresh Map after `resetStream()`), and
 * asserts they agree on every statistic and on the decoded events (stacks
 * by their frames). With `toRing` and no `toBatch`, compare the ring
 * yourself.
 */
export function walkBoth(
  parser: ProfileParser,
  bytes: Uint8Array,
  state: ReferenceStreamState,
  options: WalkBothOptions = {},
): Agreed {
  const toBatch = options.toBatch ?? true;
  const got = parser.walk(bytes, options);
  const tables = options.tables ?? tableModel(parser);
  if (tables) tables.aggregate = options.toAggregate ?? false;
  const ref = referenceWalk(
    bytes,
    state,
    toBatch ? parser.batchCapacity : Infinity,
    tables,
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
  // Every event with frames lands in exactly one bucket per stack kind.
  for (const o of [s.userStacks, s.kernelStacks]) {
    assert.equal(
      o.resolved + o.truncated + o.empty + o.fault + s.noFrames,
      s.events,
    );
  }
  if (tables) {
    assert.equal(parser.stackCount, tables.held!.stacks.size);
    assert.equal(parser.frameCount, tables.held!.frames);
    if (tables.aggregate) {
      assert.equal(parser.aggregateCount, tables.held!.keys.size);
    }
  }
  if (toBatch) {
    assert.equal(parser.batchLength, ref.events.length);
    const batch = parser.batchEvents();
    ref.decoded.forEach((d, i) => {
      checkHandedOn(parser, batch[i], d, `batch event ${i}`);
      assert.equal(parser.batchPid(i), d.event.pid);
      assert.equal(parser.batchTid(i), d.event.tid);
      assert.equal(parser.batchCpu(i), d.event.cpu);
      assert.equal(parser.batchFlags(i), d.event.flags);
      assert.equal(parser.batchUserStack(i), batch[i].userStackId);
      assert.equal(parser.batchKernelStack(i), batch[i].kernelStackId);
      assert.equal(parser.batchTimestamp(i), Number(d.event.timestampNs));
    });
  } else {
    assert.equal(parser.batchLength, 0);
  }
  return ref;
}

/** A user or kernel stack for tests: `n` distinct-looking frames. */
export function framesOf(n: number, seed: number, kernel = false): bigint[] {
  const base = kernel ? 0xffffffff81000000n : 0x55550000n;
  return Array.from(
    { length: n },
    (_, i) => base + BigInt(((seed * 7919 + i * 104729) % 1000003) * 16),
  );
}

/** A sample for {@link buildStream} with its frames. */
export function samplePiece(s: ReferenceSample): Piece {
  return { kind: "sample", sample: s };
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
