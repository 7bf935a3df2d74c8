import assert from "node:assert/strict";
import { BUSY_BIT, DISCARD_BIT, RECORD_SIZE } from "./layout.ts";
import { ProfileParser } from "./wasm_parser.ts";

const ev = (i: number) => ({
  timestampNs: BigInt(i),
  pid: i,
  tid: i,
  userStackId: 0,
  kernelStackId: 0,
  cpu: 0,
  flags: 0,
});

async function fixture(n: number) {
  const p = await ProfileParser.create({
    ringCapacity: 8,
    batchCapacity: 64,
    inputBytes: 256 * 1024,
  });
  const bytes = p.encodeRecords(Array.from({ length: n }, (_, i) => ev(i)));
  return { p, bytes, view: new DataView(bytes.buffer) };
}

Deno.test("committedAt: everything when all records are committed", async () => {
  const { p, bytes } = await fixture(5);
  const mem = new Uint8Array(p.memory.buffer);
  const off = 64 * 1024; // inside the input area: aligned and unused
  mem.set(bytes, off);
  assert.equal(p.committedAt(off, bytes.length), 5 * RECORD_SIZE);
});

Deno.test("committedAt stops at the first BUSY record, counts DISCARD ones", async () => {
  const { p, bytes, view } = await fixture(5);
  view.setUint32(1 * RECORD_SIZE, 32 | DISCARD_BIT, true);
  view.setUint32(3 * RECORD_SIZE, 32 | BUSY_BIT, true);
  const mem = new Uint8Array(p.memory.buffer);
  const off = 64 * 1024;
  mem.set(bytes, off);
  assert.equal(p.committedAt(off, bytes.length), 3 * RECORD_SIZE);
  // And walkAt over exactly that span decodes the two committed events.
  assert.equal(p.walkAt(off, 3 * RECORD_SIZE, false, true), 3 * RECORD_SIZE);
  assert.equal(p.lastEvents, 2);
  assert.equal(p.lastDiscarded, 1);
});

Deno.test("committedAt stops before a header claiming bytes past the end", async () => {
  const { p, bytes, view } = await fixture(3);
  view.setUint32(2 * RECORD_SIZE, 4096, true);
  const off = 64 * 1024;
  new Uint8Array(p.memory.buffer).set(bytes, off);
  assert.equal(p.committedAt(off, bytes.length), 2 * RECORD_SIZE);
  assert.equal(p.committedAt(off, 7), 0, "less than a header");
  assert.throws(() => p.committedAt(off + 2, 8), RangeError);
});
