// The reference decoder checked against hand-written bytes and hand-computed
// results (so that it is not only "equal to the WASM parser"), the stream
// builder the other tests use checked the same way, and both decoders agreeing
// on every hand-written input.
import assert from "node:assert/strict";
import {
  buildStream,
  ev,
  recordTotal,
  walkBoth,
  WASM_MODULE,
} from "./test_helpers.ts";
import {
  BUSY_BIT,
  DISCARD_BIT,
  EVENT_SIZE,
  RECORD_HEADER_SIZE,
  RECORD_SIZE,
} from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  referenceDecodeEvent,
  referenceEncodeEvent,
  referenceEncodeRecords,
  referenceWalk,
} from "./reference_decoder.ts";
import { ProfileParser } from "./wasm_parser.ts";
import { zeroWalkStats as zeroStats } from "./test_walk_counts.ts";

const MODULE = WASM_MODULE;
const wasm = () =>
  ProfileParser.fromModule(MODULE, { ringCapacity: 16, batchCapacity: 64 });

/** Little-endian bytes of a u32. */
const le32 = (
  v: number,
) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];

/** A hand-written committed event record: 8 + 32 bytes. */
function handRecord(pid: number, cpu: number, tsLow: number): number[] {
  return [
    ...le32(32), // len
    ...le32(0), // pg_off
    ...le32(tsLow), // timestamp_ns low
    ...le32(0), // timestamp_ns high
    ...le32(pid), // pid
    ...le32(pid + 1), // tid
    ...le32(-1 >>> 0), // user_stack_id = -1
    ...le32(7), // kernel_stack_id
    ...le32(cpu), // cpu
    ...le32(0), // flags
  ];
}

function handEvent(pid: number, cpu: number, ts: number): ProfileEvent {
  return {
    timestampNs: BigInt(ts),
    pid,
    tid: pid + 1,
    userStackId: -1,
    kernelStackId: 7,
    cpu,
    flags: 0,
  };
}

Deno.test("reference: decodes a hand-written event field by field", () => {
  const bytes = new Uint8Array([
    0x10,
    0x32,
    0x54,
    0x76,
    0x98,
    0xba,
    0xdc,
    0xfe, // ts
    0xff,
    0xff,
    0xff,
    0xff, // pid -1
    0x01,
    0x00,
    0x00,
    0x80, // tid -2^31 + 1
    0xf2,
    0xff,
    0xff,
    0xff, // user -14
    0xef,
    0xff,
    0xff,
    0xff, // kernel -17
    0x00,
    0x04,
    0x00,
    0x00, // cpu 1024
    0x1f,
    0x00,
    0x00,
    0x80, // flags
  ]);
  const e = referenceDecodeEvent(new DataView(bytes.buffer), 0);
  assert.deepStrictEqual(e, {
    timestampNs: 0xfedcba9876543210n,
    pid: -1,
    tid: -0x7fffffff,
    userStackId: -14,
    kernelStackId: -17,
    cpu: 1024,
    flags: 0x8000001f,
  });
  const back = new Uint8Array(32);
  referenceEncodeEvent(new DataView(back.buffer), 0, e);
  assert.deepStrictEqual(back, bytes);
});

Deno.test("reference: encodes records with header len 32, pg_off 0", () => {
  const list = [handEvent(5, 1, 100), handEvent(6, 2, 200)];
  const bytes = referenceEncodeRecords(list);
  assert.deepStrictEqual(
    [...bytes],
    [...handRecord(5, 1, 100), ...handRecord(6, 2, 200)],
  );
  assert.equal(referenceEncodeRecords([]).byteLength, 0);
});

Deno.test("reference: walks a hand-written stream with every record kind", () => {
  const bytes = new Uint8Array([
    ...handRecord(1, 0, 10), // 40: event
    ...le32(5 | DISCARD_BIT),
    ...le32(0),
    1,
    2,
    3,
    4,
    5,
    0,
    0,
    0, // 16: discard
    ...le32(16),
    ...le32(0),
    ...new Array(16).fill(9), // 24: short
    ...le32(48),
    ...le32(0),
    ...new Array(48).fill(9), // 56: long
    ...handRecord(2, 1, 5), // 40: event
    ...handRecord(3, 0, 9), // 40: event, CPU 0 out of order
    ...handRecord(4, 2000, 1), // 40: event on a bad CPU
    ...le32((32 | BUSY_BIT) >>> 0),
    ...le32(0),
    ...handRecord(9, 0, 1).slice(8), // busy
    ...handRecord(5, 0, 99), // after the busy one: not reached
  ]);
  const r = referenceWalk(bytes);
  assert.deepStrictEqual(r.stats, {
    ...zeroStats(),
    events: 4,
    discarded: 1,
    malformed: 2,
    shortRecords: 1,
    longRecords: 1,
    stop: "busy",
    consumed: 40 + 16 + 24 + 56 + 40 + 40 + 40,
    outOfOrder: 1,
    badCpu: 1,
    noFrames: 4,
    perCpu: new Map([
      [0, { events: 2, outOfOrder: 1 }],
      [1, { events: 1, outOfOrder: 0 }],
    ]),
  });
  assert.deepStrictEqual(r.events, [
    handEvent(1, 0, 10),
    handEvent(2, 1, 5),
    handEvent(3, 0, 9),
    handEvent(4, 2000, 1),
  ]);
  // The WASM parser says exactly the same.
  const p = wasm();
  assert.deepStrictEqual(walkBoth(p, bytes, new Map()), r);
});

Deno.test("reference: past-end, cut header, batch capacity, stream state", () => {
  const rec = handRecord(1, 3, 50);
  // Cut inside the payload: past-end, nothing consumed.
  let r = referenceWalk(new Uint8Array(rec.slice(0, 39)));
  assert.deepStrictEqual(r.stats, {
    ...zeroStats(),
    malformed: 1,
    pastEnd: 1,
    stop: "past-end",
  });
  // Cut inside the header.
  r = referenceWalk(new Uint8Array([...rec, ...rec.slice(0, 3)]));
  assert.equal(r.stats.events, 1);
  assert.equal(r.stats.consumed, 40);
  assert.equal(r.stats.stop, "past-end");
  assert.equal(r.stats.pastEnd, 1);
  // Batch capacity 1 of 2 events.
  const two = new Uint8Array([...rec, ...handRecord(2, 3, 60)]);
  r = referenceWalk(two, new Map(), 1);
  assert.equal(r.stats.stop, "batch-full");
  assert.equal(r.stats.events, 1);
  assert.equal(r.stats.consumed, 40);
  // State carries the per-CPU last timestamp from call to call.
  const state = new Map<number, bigint>();
  referenceWalk(two, state);
  assert.equal(state.get(3), 60n);
  r = referenceWalk(new Uint8Array(rec), state); // 50 after 60
  assert.equal(r.stats.outOfOrder, 1);
  assert.deepStrictEqual(r.stats.perCpu.get(3), { events: 1, outOfOrder: 1 });
  // Each of these agrees with the WASM parser.
  const p = wasm();
  walkBoth(p, new Uint8Array(rec.slice(0, 39)), new Map());
  walkBoth(p, new Uint8Array([...rec, ...rec.slice(0, 3)]), new Map());
  p.resetStream();
  const st = new Map<number, bigint>();
  walkBoth(p, two, st);
  walkBoth(p, new Uint8Array(rec), st);
});

Deno.test("fixtures: buildStream lays records out as the kernel does", () => {
  const e = ev({ pid: 42 });
  const bytes = buildStream([
    { kind: "event", event: e, pgOff: 3 },
    { kind: "discard", len: 13 },
    { kind: "bad", len: 33, fill: 0xee },
    { kind: "busy", len: 32, discard: true },
    { kind: "raw", bytes: new Uint8Array([1, 2, 3]) },
  ]);
  const v = new DataView(bytes.buffer);
  assert.equal(bytes.byteLength, 40 + 24 + 48 + 40 + 3);
  assert.equal(v.getUint32(0, true), 32);
  assert.equal(v.getUint32(4, true), 3);
  assert.deepStrictEqual(referenceDecodeEvent(v, 8), e);
  assert.equal(v.getUint32(40, true), (13 | DISCARD_BIT) >>> 0);
  assert.equal(v.getUint32(64, true), 33);
  assert.equal(bytes[64 + 8], 0xee);
  assert.equal(bytes[64 + 47], 0xee); // the fill covers the padding
  assert.equal(v.getUint32(112, true), (32 | BUSY_BIT | DISCARD_BIT) >>> 0);
  assert.deepStrictEqual([...bytes.subarray(152)], [1, 2, 3]);
  assert.equal(recordTotal(EVENT_SIZE), RECORD_SIZE);
  assert.equal(RECORD_SIZE, RECORD_HEADER_SIZE + EVENT_SIZE);
  for (let len = 0; len < 64; len++) {
    const t = recordTotal(len);
    assert.equal(t % 8, 0);
    assert.ok(t >= len + 8 && t < len + 16);
  }
});
