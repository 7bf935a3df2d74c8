// The overwrite ring (EventRing) at capacities 1, 2, 7, 64 and 1000 against
// the array model: length, capacity, overwritten count, exact contents
// oldest -> newest, latest(n), clear, and the four ways in (push, pushRaw,
// pushBatch, walk toRing) leaving identical rings.
import assert from "node:assert/strict";
import {
  assertRing,
  buildStream,
  ev,
  events,
  type Piece,
  rawFields,
  RingModel,
  walkBoth,
  WASM_MODULE,
} from "./test_helpers.ts";
import type { ProfileEvent } from "./profile_event.ts";
import { referenceEncodeRecords } from "./reference_decoder.ts";
import { type EventRing, ProfileParser } from "./wasm_parser.ts";

const MODULE = WASM_MODULE;
const CAPACITIES = [1, 2, 7, 64, 1000];

// No stack tables: the ring tests walk plain events only, and the raw
// instance below (init() alone) must have the same layout.
function parser(ringCapacity: number, batchCapacity = 4096): ProfileParser {
  return ProfileParser.fromModule(MODULE, {
    ringCapacity,
    batchCapacity,
    inputBytes: 1 << 16,
    tables: false,
  });
}

function pushRaw(ring: EventRing, e: ProfileEvent): void {
  ring.pushRaw(...rawFields(e));
}

/** Checks latest(n) for the interesting n against the model. */
function assertLatest(p: ProfileParser, model: RingModel): void {
  const len = model.items.length;
  for (const n of [0, 1, 2, len - 1, len, len + 1, model.capacity + 3]) {
    if (n < 0) continue;
    const want = Math.min(n, len, p.batchCapacity);
    assert.deepStrictEqual(
      p.ring.latest(n),
      want === 0 ? [] : model.items.slice(len - want),
      `latest(${n}) of ${len}`,
    );
  }
  // Nonsense counts take nothing and write nothing.
  assert.deepStrictEqual(p.ring.latest(-1), []);
  assert.deepStrictEqual(p.ring.latest(NaN), []);
  assert.deepStrictEqual(p.ring.latest(-Infinity), []);
  // latest() only reads: the ring is unchanged.
  assertRing(p.ring, model);
}

for (const cap of CAPACITIES) {
  Deno.test(`ring: capacity ${cap}: fills, wraps and overwrites oldest first`, () => {
    const p = parser(cap);
    const model = new RingModel(cap);
    assertRing(p.ring, model);
    assertLatest(p, model);
    const list = events(3 * cap + 5, 5);
    // Check at every step for small rings, at the edges for large ones.
    const checkAt = new Set([
      0,
      1,
      cap - 1,
      cap,
      cap + 1,
      2 * cap,
      3 * cap + 4,
    ]);
    list.forEach((e, i) => {
      p.ring.push(e);
      model.push(e);
      if (cap <= 7 || checkAt.has(i)) {
        assertRing(p.ring, model);
        assertLatest(p, model);
      }
    });
    assert.equal(p.ring.length, cap);
    assert.equal(p.ring.overwritten, 2 * cap + 5);
    assert.deepStrictEqual(p.ring.snapshot(), list.slice(-cap));
    // clear empties the ring and the overwritten count; it refills cleanly.
    p.ring.clear();
    model.clear();
    assertRing(p.ring, model);
    assert.deepStrictEqual(p.ring.latest(cap), []);
    for (const e of list.slice(0, cap + 1)) {
      p.ring.push(e);
      model.push(e);
    }
    assertRing(p.ring, model);
    assertLatest(p, model);
  });

  Deno.test(`ring: capacity ${cap}: push, pushRaw, pushBatch, walk toRing agree`, () => {
    const viaPush = parser(cap);
    const viaRaw = parser(cap);
    const viaBatch = parser(cap, 17);
    const viaWalk = parser(cap, 17);
    const model = new RingModel(cap);
    const list = events(2 * cap + 40, 3, 1n << 40n);
    // Chunks of varied sizes, including empty ones and ones longer than the
    // ring; each chunk as a record stream with noise records in between.
    let at = 0;
    let k = 0;
    while (at < list.length) {
      const size = [0, 1, 5, 17, cap + 2][k++ % 5];
      const chunk = list.slice(at, at + size);
      at += chunk.length;
      for (const e of chunk) {
        viaPush.ring.push(e);
        pushRaw(viaRaw.ring, e);
        model.push(e);
      }
      const pieces: Piece[] = [];
      chunk.forEach((event, i) => {
        pieces.push({ kind: "event", event });
        if (i % 3 === 1) pieces.push({ kind: "discard", len: 32, event: ev() });
        if (i % 4 === 2) pieces.push({ kind: "bad", len: 12 });
      });
      const bytes = buildStream(pieces);
      // pushBatch: walk into the batch area (17 at a time), then push it.
      let off = 0;
      do {
        const s = viaBatch.walk(bytes.subarray(off));
        viaBatch.ring.pushBatch();
        off += s.consumed;
        assert.ok(s.stop === "end" || s.stop === "batch-full", s.stop);
        assert.ok(s.consumed > 0 || bytes.byteLength === 0);
      } while (off < bytes.byteLength);
      // walk toRing: the walk pushes as it decodes (batch-full stops too).
      off = 0;
      do {
        const s = viaWalk.walk(bytes.subarray(off), { toRing: true });
        off += s.consumed;
        assert.ok(s.stop === "end" || s.stop === "batch-full", s.stop);
        assert.ok(s.consumed > 0 || bytes.byteLength === 0);
      } while (off < bytes.byteLength);
    }
    for (const p of [viaPush, viaRaw, viaBatch, viaWalk]) {
      assertRing(p.ring, model);
      assertLatest(p, model);
    }
  });
}

Deno.test("ring: latest(n) is limited by the batch capacity", () => {
  const p = parser(100, 10);
  const model = new RingModel(100);
  for (const e of events(150)) {
    p.ring.push(e);
    model.push(e);
  }
  assert.deepStrictEqual(p.ring.latest(50), model.items.slice(-10));
  assert.deepStrictEqual(p.ring.latest(3), model.items.slice(-3));
  // Not past the batch area: the input area behind it is intact.
  const bytes = referenceEncodeRecords(events(2));
  p.walk(bytes);
  p.ring.latest(1000);
  const mem = new Uint8Array(p.memory.buffer);
  const inputAt = p.heapTop - p.inputBytes;
  assert.deepStrictEqual(mem.subarray(inputAt, inputAt + bytes.length), bytes);
  assertRing(p.ring, model);
});

Deno.test("ring: latest() reuses the batch area, so batchLength becomes 0", () => {
  const p = parser(8, 8);
  const list = events(4);
  walkBoth(p, referenceEncodeRecords(list), new Map(), { toRing: true });
  assert.equal(p.batchLength, 4);
  assert.deepStrictEqual(p.ring.latest(2), list.slice(2));
  assert.equal(p.batchLength, 0);
  // pushBatch after that pushes nothing stale.
  p.ring.pushBatch();
  assert.deepStrictEqual(p.ring.snapshot(), list);
});

Deno.test("ring: pushBatch pushes exactly the last walk's batch", () => {
  const p = parser(16, 3);
  const list = events(5);
  const s = p.walk(referenceEncodeRecords(list));
  assert.equal(s.stop, "batch-full");
  p.ring.pushBatch();
  assert.deepStrictEqual(p.ring.snapshot(), list.slice(0, 3));
  // A walk without the batch sink leaves nothing to push.
  p.walk(referenceEncodeRecords(list.slice(3)), { toBatch: false });
  p.ring.pushBatch();
  assert.deepStrictEqual(p.ring.snapshot(), list.slice(0, 3));
  // Nor does a walk that found only noise.
  p.walk(buildStream([{ kind: "discard", len: 32 }, { kind: "bad", len: 3 }]));
  p.ring.pushBatch();
  assert.equal(p.ring.length, 3);
});

Deno.test("ring: pushRaw keeps full 64-bit timestamps and sign of fields", () => {
  const p = parser(4);
  const e: ProfileEvent = {
    timestampNs: 0xfedcba9876543210n,
    pid: -1,
    tid: 0x7fffffff,
    userStackId: -14,
    kernelStackId: -0x80000000,
    cpu: 0xffffffff,
    flags: 0x80000001,
  };
  pushRaw(p.ring, e);
  p.ring.push(e);
  assert.deepStrictEqual(p.ring.snapshot(), [e, e]);
});

// Hosts other than JS (C through wasm2c, say) push with the module's own
// ringPush export; EventRing.pushRaw writes the same slots from JS. Both must
// leave the same ring, wrap-around and overwritten count included.
Deno.test("ring: the module's ringPush export and JS pushRaw leave the same ring", () => {
  const cap = 7;
  const raw = new WebAssembly.Instance(MODULE, {}).exports as unknown as {
    memory: WebAssembly.Memory;
    init(r: number, b: number, i: number, m: number, a: number): number;
    ringPush(...fields: number[]): void;
    ringLength(): number;
    ringHead(): number;
    ringOverwrittenCount(): number;
    ringPtr(): number;
  };
  // The same init arguments as parser(cap): the same layout, so the ring
  // sits at the same offset in both memories.
  assert.equal(raw.init(cap, 4096, 1 << 16, 0, 65536), 0);
  const p = parser(cap);
  const list = events(20, 3);
  for (const e of list) {
    raw.ringPush(...rawFields(e));
    pushRaw(p.ring, e);
  }
  assert.equal(raw.ringLength(), p.ring.length);
  assert.equal(raw.ringOverwrittenCount(), p.ring.overwritten);
  assert.equal(p.ring.overwritten, 20 - cap);
  // Same slots, byte for byte (so the same head), and the same order.
  const bytes = (m: WebAssembly.Memory) =>
    Array.from(new Uint8Array(m.buffer, raw.ringPtr() >>> 0, cap * 32));
  assert.deepStrictEqual(bytes(raw.memory), bytes(p.memory));
  assert.equal(raw.ringHead(), 20 % cap);
  assert.deepStrictEqual(p.ring.snapshot(), list.slice(20 - cap));
});
