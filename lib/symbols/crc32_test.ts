import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import { crc32 } from "./crc32.ts";

Deno.test("crc32: equals node:zlib's over random buffers, whole and in pieces", () => {
  for (const size of [0, 1, 7, 255, 4096, 100_003]) {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (i * 2654435761 + size) >>> 24;
    const want = zlibCrc32(b) >>> 0;
    assert.equal(crc32(b), want, `${size} bytes`);
    const cut = size >> 1;
    assert.equal(crc32(b.subarray(cut), crc32(b.subarray(0, cut))), want);
  }
});

Deno.test("crc32: the check value of the CRC-32/ISO-HDLC catalogue", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});
