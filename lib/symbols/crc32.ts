/**
 * CRC-32 (the zlib/IEEE 802.3 polynomial, reflected, 0xEDB88320), which a
 * `.gnu_debuglink` section holds for its debug file.
 *
 * Why not `node:zlib`'s crc32: importing it loads Deno's Node compatibility
 * layer and its zlib, 13 ms of every `profile` run's start-up on this
 * machine (52 ms -> 39 ms for `profile --help`, 10 runs each) and about 0.5 s
 * in a TCG guest, for a function only a stripped binary with a debuglink
 * needs. The price: 370 MB/s here against zlib's 7.6 GB/s (32 MiB: 85 ms
 * against 4 ms), paid once per debug file found by debuglink (Debian's debug
 * packages are found by build id, with no CRC). crc32_test.ts checks this
 * one against node:zlib's.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { crc32 } from "./crc32.ts";
 * assert.equal(crc32(new TextEncoder().encode("hello")), 0x3610a686);
 * // Continued over pieces, as a file is read.
 * const a = crc32(new TextEncoder().encode("hel"));
 * assert.equal(crc32(new TextEncoder().encode("lo"), a), 0x3610a686);
 * ```
 * @module
 */

/** The byte-at-a-time table, built on first use. */
let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 of `bytes`, continuing from `crc` (the CRC of what came before). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table ??= makeTable();
  let c = ~crc;
  for (let i = 0; i < bytes.length; i++) {
    c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  }
  return ~c >>> 0;
}
