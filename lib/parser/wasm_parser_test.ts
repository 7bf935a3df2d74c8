// Unit tests of the WASM parser through its TypeScript wrapper: every walk
// case, stop reason and error. Every input is decoded by the WASM parser AND
// the reference decoder (walkBoth), which must agree on stats and events.
import assert from "node:assert/strict";
import {
  buildStream,
  ev,
  eventPieces,
  events,
  type Piece,
  recordTotal,
  walkBoth,
  WASM_MODULE,
} from "./test_helpers.ts";
import { EVENT_SIZE, EventFlags, RECORD_SIZE } from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  referenceEncodeEvent,
  referenceEncodeRecords,
  type ReferenceStreamState,
  referenceWalk,
} from "./reference_decoder.ts";
import {
  DEFAULT_WASM_URL,
  type ParserOptions,
  ProfileParser,
} from "./wasm_parser.ts";
import type { CpuBatchStats, WalkStats } from "./walk_stats.ts";
import { assertEncodesAsReference } from "./test_encode_check.ts";

const MODULE = WASM_MODULE;

function parser(o: ParserOptions = {}): ProfileParser {
  return ProfileParser.fromModule(MODULE, {
    ringCapacity: 64,
    batchCapacity: 256,
    ...o,
  });
}

/** A new stream on both sides: the parser forgets its per-CPU timestamps. */
function fresh(p: ProfileParser): ReferenceStreamState {
  p.resetStream();
  return new Map();
}

/** Asserts that each field named in `want` has that value in `stats`. */
function assertStats(stats: WalkStats, want: Partial<WalkStats>): void {
  const got = Object.fromEntries(
    Object.keys(want).map((k) => [k, stats[k as keyof WalkStats]]),
  );
  assert.deepStrictEqual(got, want);
}

/** Per-CPU statistics as a walk reports them, from [cpu, events, outOfOrder]. */
function perCpu(
  ...cpus: [number, number, number][]
): Map<number, CpuBatchStats> {
  return new Map(
    cpus.map(([cpu, events, outOfOrder]) => [cpu, { events, outOfOrder }]),
  );
}

/** `size` bytes starting with the header word `len`. */
function header(len: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, len, true);
  return b;
}

// ---------------------------------------------------------------------------
// Creation

Deno.test("create: loads the default build and lays out memory once", async () => {
  const p = await ProfileParser.create({ ringCapacity: 8, batchCapacity: 16 });
  assert.equal(p.ring.capacity, 8);
  assert.equal(p.batchCapacity, 16);
  assert.equal(p.inputBytes, 16 * RECORD_SIZE);
  assert.ok(p.heapTop > 0);
  assert.ok(p.heapTop <= p.memory.buffer.byteLength);
  assert.equal(p.mapOffset, 0);
  // Another module form works too.
  const q = await ProfileParser.create({
    wasm: await Deno.readFile(DEFAULT_WASM_URL),
    ringCapacity: 3,
  });
  assert.equal(q.ring.capacity, 3);
  assert.equal(q.batchCapacity, 65536);
});

Deno.test("create: a missing module is a clear error", async () => {
  await assert.rejects(
    ProfileParser.create({ wasm: new URL("file:///nonexistent/parser.wasm") }),
    /make build-wasm/,
  );
});

Deno.test("create: invalid capacities throw RangeError", () => {
  assert.throws(() => parser({ ringCapacity: 0 }), RangeError);
  assert.throws(() => parser({ ringCapacity: 0x4000001 }), RangeError);
  assert.throws(() => parser({ ringCapacity: -1 }), RangeError);
  assert.throws(
    () => parser({ batchCapacity: 0x4000001, inputBytes: 0 }),
    RangeError,
  );
  assert.throws(() => parser({ inputBytes: 0x40000001 }), RangeError);
  assert.throws(() => parser({ mapBytes: 4096, mapAlign: 3 }), RangeError);
  assert.throws(() => parser({ mapAlign: 0 }), RangeError);
  // The layout is summed in 64 bits: 2 GiB of ring + 2 GiB of batch is
  // past 4 GiB, which once wrapped around and "succeeded" in 64 KiB.
  assert.throws(
    () =>
      parser({
        ringCapacity: 0x4000000,
        batchCapacity: 0x4000000,
        inputBytes: 0,
      }),
    /could not grow/,
  );
});

Deno.test("create: an instance cannot be initialised twice", () => {
  const instance = new WebAssembly.Instance(MODULE, {});
  const init = instance.exports.init as (...a: number[]) => number;
  assert.equal(init(4, 4, 160, 0, 65536), 0);
  assert.equal(init(4, 4, 160, 0, 65536), -1);
});

Deno.test("create: a map area is page aligned after the input area", () => {
  const p = parser({ mapBytes: 3 * 4096, mapAlign: 4096 });
  assert.equal(p.mapOffset % 4096, 0);
  assert.equal(p.heapTop, p.mapOffset + 3 * 4096);
  // The parser's own bytes end where the map area begins.
  assert.equal(p.ownBytes, p.mapOffset);
  assert.equal(parser().ownBytes, parser().heapTop);
  assert.ok(p.heapTop <= p.memory.buffer.byteLength);
});

Deno.test({
  name: "create: regions above 2 GiB work (pointers are unsigned)",
  fn() {
    // 1 GiB ring + 1 GiB batch puts the input area above 2^31: the module
    // returns such pointers as negative i32s. Untouched pages cost no RSS.
    const p = parser({
      ringCapacity: 0x2000000,
      batchCapacity: 0x2000000,
      inputBytes: 4096,
    });
    assert.ok(p.heapTop > 0x80000000);
    assert.equal(p.ownBytes, p.heapTop); // no map area: all of it is its own
    const list = events(5);
    const bytes = p.encodeRecords(list);
    const r = walkBoth(p, bytes, fresh(p), { toRing: true });
    assert.equal(r.stats.events, 5);
    assert.deepStrictEqual(p.ring.latest(5), list);
  },
});

// ---------------------------------------------------------------------------
// walk: record kinds

Deno.test("walk: committed records are decoded in order", () => {
  const p = parser();
  const list = events(10, 3);
  const bytes = buildStream(eventPieces(list));
  const r = walkBoth(p, bytes, fresh(p));
  assert.equal(r.stats.events, 10);
  assert.equal(r.stats.consumed, 10 * RECORD_SIZE);
  assert.equal(r.stats.stop, "end");
  assert.equal(r.stats.malformed, 0);
  assert.deepStrictEqual(r.events, list);
  assert.deepStrictEqual(
    r.stats.perCpu,
    perCpu([0, 4, 0], [1, 3, 0], [2, 3, 0]),
  );
});

Deno.test("walk: pg_off in the header is ignored", () => {
  const p = parser();
  const bytes = buildStream([
    { kind: "event", event: ev({ pid: 1 }), pgOff: 0xffffffff },
    { kind: "event", event: ev({ pid: 2 }), pgOff: 12345 },
  ]);
  const r = walkBoth(p, bytes, fresh(p));
  assert.deepStrictEqual(r.events.map((e) => e.pid), [1, 2]);
});

Deno.test("walk: a BUSY record stops the walk before it", () => {
  const p = parser();
  const bytes = buildStream([
    { kind: "event", event: ev({ pid: 1 }) },
    { kind: "busy", len: 32, event: ev({ pid: 2 }) },
    { kind: "event", event: ev({ pid: 3 }) },
  ]);
  const r = walkBoth(p, bytes, fresh(p));
  assert.equal(r.stats.stop, "busy");
  assert.equal(r.stats.events, 1);
  assert.equal(r.stats.consumed, RECORD_SIZE);
  assert.equal(r.stats.malformed, 0);
  assert.deepStrictEqual(r.events.map((e) => e.pid), [1]);
  // BUSY wins over DISCARD, and over a length running past the end.
  for (
    const busy of [
      { kind: "busy", len: 32, discard: true },
      { kind: "raw", bytes: header(0xbfffffff, 40) },
      { kind: "busy", len: 0 },
    ] as Piece[]
  ) {
    const b = buildStream([busy]);
    const s = walkBoth(p, b, fresh(p)).stats;
    assert.equal(s.stop, "busy");
    assert.equal(s.consumed, 0);
    assert.equal(s.malformed, 0);
    assert.equal(s.discarded, 0);
  }
});

Deno.test("walk: DISCARD records are skipped, counted and consumed", () => {
  const p = parser();
  const bytes = buildStream([
    { kind: "discard", len: 32, event: ev({ pid: 9 }) },
    { kind: "event", event: ev({ pid: 1 }) },
    { kind: "discard", len: 13 }, // 8 + 13 -> 24
    { kind: "discard", len: 0 }, // header only
    { kind: "discard", len: 100 }, // 8 + 100 -> 112
    { kind: "event", event: ev({ pid: 2 }) },
  ]);
  const r = walkBoth(p, bytes, fresh(p));
  assert.equal(r.stats.discarded, 4);
  assert.equal(r.stats.events, 2);
  assert.equal(r.stats.malformed, 0);
  assert.equal(r.stats.consumed, 40 + 40 + 24 + 8 + 112 + 40);
  assert.equal(r.stats.consumed, bytes.byteLength);
  assert.equal(r.stats.stop, "end");
  assert.deepStrictEqual(r.events.map((e) => e.pid), [1, 2]);
});

Deno.test("walk: short records are skipped, counted as malformed", () => {
  const p = parser();
  for (const len of [0, 1, 7, 8, 24, 31]) {
    const bytes = buildStream([
      { kind: "bad", len },
      { kind: "event", event: ev({ pid: len }) },
    ]);
    const r = walkBoth(p, bytes, fresh(p));
    assert.equal(r.stats.shortRecords, 1, `len ${len}`);
    assert.equal(r.stats.longRecords, 0);
    assert.equal(r.stats.malformed, 1);
    assert.equal(r.stats.events, 1);
    assert.equal(r.stats.consumed, recordTotal(len) + RECORD_SIZE);
    assert.equal(r.events[0].pid, len);
  }
});

Deno.test("walk: long records are skipped, counted as malformed", () => {
  const p = parser();
  for (const len of [33, 39, 40, 41, 100, 4096]) {
    const bytes = buildStream([
      { kind: "event", event: ev({ pid: 1 }) },
      { kind: "bad", len },
    ]);
    const r = walkBoth(p, bytes, fresh(p));
    assert.equal(r.stats.longRecords, 1, `len ${len}`);
    assert.equal(r.stats.shortRecords, 0);
    assert.equal(r.stats.malformed, 1);
    assert.equal(r.stats.consumed, RECORD_SIZE + recordTotal(len));
    assert.equal(r.stats.stop, "end");
  }
});

Deno.test("walk: odd lengths are padded to 8 (len 33 takes 48 bytes)", () => {
  assert.equal(recordTotal(33), 48);
  assert.equal(recordTotal(32), 40);
  assert.equal(recordTotal(0), 8);
  assert.equal(recordTotal(1), 16);
  const p = parser();
  // A long record of 33 bytes followed directly (after its padding) by an
  // event: decoding the event at the right place proves the padding rule.
  const bytes = buildStream([
    { kind: "bad", len: 33, fill: 0xff },
    { kind: "event", event: ev({ pid: 77 }) },
  ]);
  assert.equal(bytes.byteLength, 48 + 40);
  const r = walkBoth(p, bytes, fresh(p));
  assert.deepStrictEqual(r.events, [ev({ pid: 77 })]);
  // The same record without its padding runs past the end.
  const cut = bytes.slice(0, 8 + 33);
  const s = walkBoth(p, cut, fresh(p)).stats;
  assertStats(s, { stop: "past-end", pastEnd: 1, consumed: 0 });
});

Deno.test("walk: a length past the end stops, counted, nothing read beyond", () => {
  const p = parser();
  const list = [ev({ pid: 1 }), ev({ pid: 2, timestampNs: 2000n })];
  const full = buildStream(eventPieces(list));
  // Leave the whole stream in the input area, then walk a prefix of it: a
  // walker reading past `len` would find the rest of the second record.
  walkBoth(p, full, fresh(p));
  for (let cut = RECORD_SIZE + 8; cut < full.byteLength; cut++) {
    const r = walkBoth(p, full.subarray(0, cut), fresh(p));
    assert.equal(r.stats.events, 1, `cut ${cut}`);
    assert.equal(r.stats.pastEnd, 1);
    assert.equal(r.stats.malformed, 1);
    assert.equal(r.stats.stop, "past-end");
    assert.equal(r.stats.consumed, RECORD_SIZE);
    p.walk(full); // put the tail back for the next cut
  }
  // A huge length in the first header.
  const huge = header(0x3fffffff, 64);
  const s = walkBoth(p, huge, fresh(p)).stats;
  assert.equal(s.stop, "past-end");
  assert.equal(s.consumed, 0);
  assert.equal(s.pastEnd, 1);
  // A DISCARD record running past the end is malformed too, not discarded.
  const d = buildStream([{ kind: "discard", len: 32 }]).subarray(0, 30);
  const sd = walkBoth(p, d, fresh(p)).stats;
  assert.equal(sd.discarded, 0);
  assert.equal(sd.pastEnd, 1);
});

Deno.test("walk: zero-length input", () => {
  const p = parser();
  const r = walkBoth(p, new Uint8Array(0), fresh(p));
  assert.equal(r.stats.events, 0);
  assert.equal(r.stats.consumed, 0);
  assert.equal(r.stats.stop, "end");
  assert.equal(r.stats.malformed, 0);
  assert.equal(r.stats.perCpu.size, 0);
});

Deno.test("walk: input smaller than a header is a cut header (past-end)", () => {
  const p = parser();
  // Leave a valid record in the input area first: only `len` bytes count.
  walkBoth(p, referenceEncodeRecords([ev()]), fresh(p));
  for (let n = 1; n < 8; n++) {
    const r = walkBoth(p, new Uint8Array(n).fill(0x20), fresh(p));
    assert.equal(r.stats.events, 0);
    assert.equal(r.stats.consumed, 0);
    assert.equal(r.stats.stop, "past-end");
    assert.equal(r.stats.pastEnd, 1);
  }
  // The same after whole records: those are consumed, the tail is not.
  const list = events(3);
  const bytes = new Uint8Array(3 * RECORD_SIZE + 5);
  bytes.set(referenceEncodeRecords(list));
  const r = walkBoth(p, bytes, fresh(p));
  assert.equal(r.stats.events, 3);
  assert.equal(r.stats.consumed, 3 * RECORD_SIZE);
  assert.equal(r.stats.stop, "past-end");
});

Deno.test("walk: a full batch area stops the walk, the rest follows", () => {
  const p = parser({ batchCapacity: 3, inputBytes: 4096 });
  const list = events(7, 2);
  const pieces: Piece[] = eventPieces(list);
  pieces.splice(3, 0, { kind: "discard", len: 32 }, { kind: "bad", len: 2 });
  const bytes = buildStream(pieces);
  const state = fresh(p);
  const got: ProfileEvent[] = [];
  let at = 0;
  const stops: string[] = [];
  while (at < bytes.byteLength) {
    const r = walkBoth(p, bytes.subarray(at), state);
    got.push(...r.events);
    stops.push(r.stats.stop);
    assert.ok(r.stats.consumed > 0);
    at += r.stats.consumed;
  }
  assert.deepStrictEqual(got, list);
  assert.deepStrictEqual(stops, ["batch-full", "batch-full", "end"]);
  // The discard and the short record after the third event were consumed by
  // the first walk, before it met the fourth event with a full batch.
  const first = walkBoth(p, bytes, fresh(p)).stats;
  assert.equal(first.consumed, 3 * RECORD_SIZE + 40 + 16);
  assert.equal(first.discarded, 1);
  assert.equal(first.shortRecords, 1);
  // Without the batch sink there is no batch limit.
  const all = walkBoth(p, bytes, fresh(p), { toBatch: false, toRing: true });
  assert.equal(all.stats.events, 7);
  assert.equal(all.stats.stop, "end");
  // A batch capacity of 0 takes no event at all.
  const z = parser({ batchCapacity: 0, inputBytes: 4096 });
  const s = walkBoth(z, bytes, fresh(z)).stats;
  assertStats(s, { stop: "batch-full", events: 0, consumed: 0 });
});

Deno.test("walk: walkAt returns the bytes consumed; getters match", () => {
  const p = parser();
  const bytes = buildStream([
    ...eventPieces(events(4)),
    { kind: "discard", len: 5 },
    { kind: "bad", len: 50 },
    { kind: "busy", len: 32 },
  ]);
  const r = walkBoth(p, bytes, fresh(p));
  assert.equal(r.stats.consumed, 4 * 40 + 16 + 64);
  assert.equal(p.lastEvents, 4);
  assert.equal(p.lastDiscarded, 1);
  assert.equal(p.lastMalformed, 1);
  assert.equal(p.lastOutOfOrder, 0);
  assert.equal(p.batchLength, 4);
  // walkAt over the same bytes, already in memory at the input area.
  const mem = new Uint8Array(p.memory.buffer);
  const at = p.heapTop - p.inputBytes;
  assert.deepStrictEqual(mem.subarray(at, at + bytes.byteLength), bytes);
  p.resetStream();
  assert.equal(p.walkAt(at, bytes.byteLength, false, false), 4 * 40 + 80);
  assert.equal(p.lastEvents, 4);
  assert.equal(p.batchLength, 0);
});

Deno.test("walk: sinks: batch only, ring only, both, neither", () => {
  const list = events(5);
  const bytes = referenceEncodeRecords(list);
  for (
    const [toRing, toBatch] of [[false, true], [true, false], [true, true], [
      false,
      false,
    ]]
  ) {
    const p = parser({ ringCapacity: 8 });
    const r = walkBoth(p, bytes, fresh(p), { toRing, toBatch });
    assert.equal(r.stats.events, 5);
    assert.deepStrictEqual(p.ring.snapshot(), toRing ? list : []);
    assert.deepStrictEqual(p.batchEvents(), toBatch ? list : []);
  }
});

// ---------------------------------------------------------------------------
// walk: per-CPU statistics

Deno.test("walk: per-CPU counts, CPU 1023 is fine, >= 1024 is badCpu", () => {
  const p = parser();
  const list = [
    ev({ cpu: 0 }),
    ev({ cpu: 1023 }),
    ev({ cpu: 1024, pid: 1 }),
    ev({ cpu: 0xffffffff, pid: 2 }),
    ev({ cpu: 5 }),
    ev({ cpu: 1023 }),
    ev({ cpu: 0x80000000, pid: 3 }),
  ];
  const r = walkBoth(p, referenceEncodeRecords(list), fresh(p));
  assert.equal(r.stats.events, 7);
  assert.equal(r.stats.badCpu, 3);
  assert.deepStrictEqual(
    r.stats.perCpu,
    perCpu([0, 1, 0], [1023, 2, 0], [5, 1, 0]),
  );
  // Bad-CPU events are still decoded and delivered.
  assert.deepStrictEqual(r.events, list);
});

Deno.test("walk: per-CPU counts are per batch, not cumulative", () => {
  const p = parser();
  const state = fresh(p);
  walkBoth(p, referenceEncodeRecords(events(8, 8)), state);
  const r = walkBoth(
    p,
    referenceEncodeRecords([ev({ cpu: 3, timestampNs: 1n << 40n })]),
    state,
  );
  assert.deepStrictEqual(r.stats.perCpu, perCpu([3, 1, 0]));
  // An empty batch has no CPUs at all.
  assert.equal(walkBoth(p, new Uint8Array(0), state).stats.perCpu.size, 0);
});

Deno.test("walk: out-of-order per CPU, across batches, until resetStream", () => {
  const p = parser();
  let state = fresh(p);
  const t = (cpu: number, ts: bigint) => ev({ cpu, timestampNs: ts });
  // One batch of these events, walked by both in the current stream.
  const walk = (...list: ProfileEvent[]) =>
    walkBoth(p, referenceEncodeRecords(list), state);
  // Batch 1: CPU 0 at 100, CPU 1 at 50, CPU 0 back to 90 (out of order).
  let r = walk(t(0, 100n), t(1, 50n), t(0, 90n));
  assert.equal(r.stats.outOfOrder, 1);
  assert.deepStrictEqual(r.stats.perCpu.get(0), { events: 2, outOfOrder: 1 });
  assert.deepStrictEqual(r.stats.perCpu.get(1), { events: 1, outOfOrder: 0 });
  // Batch 2: CPU 0 continues from 90: 80 is out of order, 90 (equal) is not;
  // CPU 1 at 60 is in order; a bad CPU never counts.
  r = walk(t(0, 80n), t(0, 90n), t(1, 60n), t(4096, 1n), t(4096, 0n));
  assert.equal(r.stats.outOfOrder, 1);
  assert.deepStrictEqual(r.stats.perCpu.get(0), { events: 2, outOfOrder: 1 });
  assert.deepStrictEqual(r.stats.perCpu.get(1), { events: 1, outOfOrder: 0 });
  // Without a reset, CPU 1 going back to 10 is out of order...
  r = walk(t(1, 10n));
  assert.equal(r.stats.outOfOrder, 1);
  // ...after resetStream() it starts a new stream.
  state = fresh(p);
  r = walk(t(1, 5n), t(0, 1n));
  assert.equal(r.stats.outOfOrder, 0);
  // Timestamps compare as unsigned 64-bit numbers.
  r = walk(
    t(2, 0x7fffffffffffffffn),
    t(2, 0x8000000000000000n),
    t(2, 0xffffffffffffffffn),
    t(2, 0xfffffffffffffffen),
  );
  assert.equal(r.stats.outOfOrder, 1);
});

Deno.test("walk: discarded and malformed records do not touch CPU state", () => {
  const p = parser();
  const state = fresh(p);
  walkBoth(
    p,
    referenceEncodeRecords([ev({ cpu: 0, timestampNs: 50n })]),
    state,
  );
  // A discarded record carrying an earlier timestamp, then a later event.
  const r = walkBoth(
    p,
    buildStream([
      { kind: "discard", len: 32, event: ev({ cpu: 0, timestampNs: 1n }) },
      { kind: "busy", len: 32, event: ev({ cpu: 0, timestampNs: 2n }) },
    ]),
    state,
  );
  assert.equal(r.stats.events, 0);
  const s = walkBoth(
    p,
    referenceEncodeRecords([ev({ cpu: 0, timestampNs: 50n })]),
    state,
  );
  assert.equal(s.stats.outOfOrder, 0);
});

// ---------------------------------------------------------------------------
// walk: errors

Deno.test("walk: input larger than inputBytes throws RangeError", () => {
  const p = parser({ inputBytes: 80 });
  assert.equal(p.inputBytes, 80);
  walkBoth(p, new Uint8Array(80), fresh(p));
  assert.throws(() => p.walk(new Uint8Array(81)), RangeError);
});

// ---------------------------------------------------------------------------
// Encoding and decoding

const EDGE_TIMESTAMPS = [
  0n,
  1n,
  0xffffffffn, // 2^32 - 1
  0x100000000n, // 2^32
  0x100000001n,
  0x7fffffffffffffffn,
  0x8000000000000000n, // 2^63
  0xffffffffffffffffn, // 2^64 - 1
];

function edgeEvents(): ProfileEvent[] {
  const out: ProfileEvent[] = [];
  const ints = [0, 1, -1, -14, -17, 0x7fffffff, -0x80000000];
  const uints = [0, 1, 1023, 1024, 0x7fffffff, 0x80000000, 0xffffffff];
  EDGE_TIMESTAMPS.forEach((timestampNs, i) => {
    out.push({
      timestampNs,
      pid: ints[i % ints.length],
      tid: ints[(i + 1) % ints.length],
      userStackId: ints[(i + 2) % ints.length],
      kernelStackId: ints[(i + 3) % ints.length],
      cpu: uints[i % uints.length],
      flags: uints[(i + 2) % uints.length],
    });
  });
  return out;
}

Deno.test("encode: encodeEvent matches the reference, both decode it back", () => {
  const p = parser();
  for (const e of edgeEvents()) {
    const bytes = assertEncodesAsReference(p, e);
    assert.equal(bytes.byteLength, EVENT_SIZE);
  }
});

Deno.test("encode: the byte layout is the header's (little-endian)", () => {
  const p = parser();
  const bytes = p.encodeEvent({
    timestampNs: 0x0807060504030201n,
    pid: 0x0c0b0a09,
    tid: -2, // fe ff ff ff
    userStackId: -14, // f2 ff ff ff
    kernelStackId: 0x14131211,
    cpu: 0x18171615,
    flags: 0x1c1b1a19,
  });
  assert.deepStrictEqual(
    [...bytes],
    [
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // timestamp_ns
      9,
      10,
      11,
      12, // pid
      0xfe,
      0xff,
      0xff,
      0xff, // tid
      0xf2,
      0xff,
      0xff,
      0xff, // user_stack_id
      0x11,
      0x12,
      0x13,
      0x14, // kernel_stack_id
      0x15,
      0x16,
      0x17,
      0x18, // cpu
      0x19,
      0x1a,
      0x1b,
      0x1c, // flags
    ],
  );
});

Deno.test("encode: encodeRecords equals the reference and walks back", () => {
  const p = parser();
  // A 32-byte record whose flags say FRAMES but whose counts claim frames
  // is malformed (tested elsewhere): here every event must walk back.
  const walksBack = (e: ProfileEvent) =>
    (e.flags & EventFlags.FRAMES) === 0 ||
    (e.userStackId <= 0 && e.kernelStackId <= 0);
  const list = [...edgeEvents(), ...events(20)].filter(walksBack);
  assert.ok(list.length > 20);
  const bytes = p.encodeRecords(list);
  assert.deepStrictEqual(bytes, referenceEncodeRecords(list));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < list.length; i++) {
    assert.equal(view.getUint32(i * RECORD_SIZE, true), EVENT_SIZE);
    assert.equal(view.getUint32(i * RECORD_SIZE + 4, true), 0);
  }
  const r = walkBoth(p, bytes, fresh(p));
  assert.deepStrictEqual(r.events, list);
  assert.equal(p.encodeRecords([]).byteLength, 0);
});

Deno.test("encode: decodeEvents reads packed events, rejects partial ones", () => {
  const p = parser();
  const list = edgeEvents();
  const packed = new Uint8Array(list.length * EVENT_SIZE + 8);
  const view = new DataView(packed.buffer);
  list.forEach((e, i) => referenceEncodeEvent(view, 8 + i * EVENT_SIZE, e));
  // An unaligned, offset view works too.
  assert.deepStrictEqual(p.decodeEvents(packed.subarray(8)), list);
  assert.deepStrictEqual(p.decodeEvents(new Uint8Array(0)), []);
  assert.throws(() => p.decodeEvents(new Uint8Array(33)), RangeError);
  assert.throws(() => p.decodeEvents(new Uint8Array(31)), RangeError);
});

Deno.test("encode: timestamps outside u64 throw RangeError everywhere", () => {
  const p = parser();
  for (const timestampNs of [-1n, 1n << 64n, (1n << 64n) + 5n, -(1n << 63n)]) {
    const e = ev({ timestampNs });
    assert.throws(() => p.encodeEvent(e), RangeError);
    assert.throws(() => p.encodeRecords([ev(), e]), RangeError);
    assert.throws(() => p.ring.push(e), RangeError);
  }
  assert.equal(p.ring.length, 0);
});

Deno.test("encode: too many events for the batch or input area throw", () => {
  const p = parser({ batchCapacity: 4 });
  assert.equal(p.encodeRecords(events(4)).byteLength, 4 * RECORD_SIZE);
  assert.throws(() => p.encodeRecords(events(5)), RangeError);
  const q = parser({ batchCapacity: 4, inputBytes: 100 });
  assert.throws(() => q.encodeRecords(events(3)), RangeError);
  assert.equal(q.encodeRecords(events(2)).byteLength, 80);
  const r = parser({ inputBytes: 31 });
  assert.throws(() => r.encodeEvent(ev()), RangeError);
});

Deno.test("encode: encodeRecords leaves no stale batch behind", () => {
  const p = parser();
  walkBoth(p, referenceEncodeRecords(events(3)), fresh(p));
  assert.equal(p.batchLength, 3);
  p.encodeRecords(events(2, 1, 500n));
  // The batch area now holds the encoded events, not the walk's batch.
  assert.equal(p.batchLength, 0);
  assert.deepStrictEqual(p.batchEvents(), []);
});

Deno.test("walk: a walk over an aligned view of the parser's own memory", () => {
  const p = parser();
  const list = events(6);
  const bytes = p.encodeRecords(list);
  // Walk records that sit inside the parser's memory: copying onto itself.
  const mem = new Uint8Array(p.memory.buffer);
  const at = p.heapTop - p.inputBytes;
  const r = walkBoth(p, mem.subarray(at, at + bytes.byteLength), fresh(p));
  assert.deepStrictEqual(r.events, list);
  // The reference on its own agrees with the hand count.
  assert.equal(referenceWalk(bytes).stats.events, 6);
});

Deno.test("walk: walkAt rejects unaligned or out-of-memory ranges", () => {
  const p = parser();
  const bytes = referenceEncodeRecords(events(2));
  const mem = new Uint8Array(p.memory.buffer);
  const at = p.heapTop - p.inputBytes;
  // At 4-aligned offsets the walk works (the atomic header load allows it).
  mem.set(bytes, at + 4);
  assert.equal(p.walkAt(at + 4, bytes.byteLength, false, true), 80);
  for (const off of [1, 2, 3, 5, 7]) {
    mem.set(bytes, at + off);
    assert.throws(
      () => p.walkAt(at + off, bytes.byteLength, false, true),
      RangeError,
    );
  }
  const end = p.memory.buffer.byteLength;
  assert.throws(() => p.walkAt(end - 8, 16, false, true), RangeError);
  assert.throws(() => p.walkAt(-8, 16, false, true), RangeError);
  assert.throws(() => p.walkAt(at, -1, false, true), RangeError);
  // Exactly up to the end of memory is fine.
  assert.equal(p.walkAt(end - 8, 8, false, true), 8);
  // Nothing was counted by the rejected calls: the last walk stands.
  assert.equal(p.lastMalformed, 1); // 8 zero bytes: one short record
});
