// Zero allocation: after creation the parser never grows its memory. Ten
// million pushes from JS (pushRaw), ten million pushes inside WASM (walk
// toRing, pushBatch) and ten million decodes (walk into the batch) leave the
// memory's size, its ArrayBuffer (not detached, not replaced) and heapTop
// exactly as they were.
import assert from "node:assert/strict";
import { events, WASM_MODULE } from "./test_helpers.ts";
import { RECORD_SIZE } from "./layout.ts";
import { ProfileParser } from "./wasm_parser.ts";

const N = 10_000_000;
const BATCH = 65536;

Deno.test("zero allocation: 10M pushes and 10M decodes never grow memory", () => {
  const p = ProfileParser.fromModule(WASM_MODULE, {
    ringCapacity: 4096,
    batchCapacity: BATCH,
  });
  const buffer = p.memory.buffer;
  const bytesBefore = buffer.byteLength;
  const heapTopBefore = p.heapTop;
  const view = new Uint8Array(buffer);
  assert.ok(bytesBefore > 0 && heapTopBefore <= bytesBefore);

  // 1. 10M single pushes from JS.
  const ring = p.ring;
  for (let i = 0; i < N; i++) {
    ring.pushRaw(i, i >>> 20, i, i + 1, -1, i & 1023, i & 7, 0);
  }
  assert.equal(ring.length, 4096);
  assert.equal(ring.overwritten, N - 4096);
  const last = ring.latest(1)[0];
  assert.equal(last.pid, N - 1);
  assert.equal(
    last.timestampNs,
    BigInt(N - 1) + (BigInt((N - 1) >>> 20) << 32n),
  );

  // One batch of records in the input area, walked over and over.
  const stream = p.encodeRecords(events(BATCH, 8));
  const at = p.heapTop - p.inputBytes;
  view.set(stream, at);
  const len = BATCH * RECORD_SIZE;
  const rounds = Math.ceil(N / BATCH);

  // 2. 10M pushes inside WASM: walk toRing (no batch).
  ring.clear();
  let pushed = 0;
  for (let r = 0; r < rounds; r++) {
    assert.equal(p.walkAt(at, len, true, false), len);
    pushed += p.lastEvents;
  }
  assert.ok(pushed >= N);
  assert.equal(ring.length + ring.overwritten, pushed);

  // 3. 10M decodes into the batch area, each batch then pushed (pushBatch).
  ring.clear();
  let decoded = 0;
  for (let r = 0; r < rounds; r++) {
    p.resetStream(); // the same timestamps again are a new stream
    assert.equal(p.walkAt(at, len, false, true), len);
    assert.equal(p.batchLength, BATCH);
    assert.equal(p.lastOutOfOrder, 0);
    decoded += p.lastEvents;
    ring.pushBatch();
  }
  assert.ok(decoded >= N);
  assert.equal(ring.length + ring.overwritten, decoded);
  assert.equal(p.batchPid(BATCH - 1), 1000 + BATCH - 1);

  // Nothing moved: same buffer object, same size, not detached, same top.
  assert.equal(p.memory.buffer, buffer);
  assert.equal(buffer.byteLength, bytesBefore);
  assert.equal(view.byteLength, bytesBefore);
  assert.equal(p.heapTop, heapTopBefore);
  // The views made at the start still see the module's writes.
  assert.equal(view[at], 32);
});
