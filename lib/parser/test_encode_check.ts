/**
 * Test support: one event through the parser's encoder and decoder and the
 * reference's, which must agree byte for byte and field for field. The unit
 * tests run it on edge values, the property tests on arbitrary ones.
 *
 * It holds no tests of its own (and is not named *_test.ts): a module that
 * registered tests would run them again in every test file importing it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { EVENT_SIZE } from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import {
  referenceDecodeEvent,
  referenceEncodeEvent,
} from "./reference_decoder.ts";
import type { ProfileParser } from "./wasm_parser.ts";

/**
 * Asserts that `parser` encodes `e` to the bytes the reference encoder
 * writes, and that the reference decoder and `parser.decodeEvents` both
 * read those bytes back as `e`. Returns the parser's bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertEncodesAsReference } from "./test_encode_check.ts";
 * import { ev, WASM_MODULE } from "./test_helpers.ts";
 * import { ProfileParser } from "./wasm_parser.ts";
 * const p = ProfileParser.fromModule(WASM_MODULE, {
 *   ringCapacity: 4,
 *   batchCapacity: 8,
 * });
 * assert.equal(assertEncodesAsReference(p, ev({ pid: -1 })).byteLength, 32);
 * // 2^64 does not fit the u64 field: it cannot come back as it went.
 * assert.throws(() =>
 *   assertEncodesAsReference(p, { ...ev(), timestampNs: 1n << 64n })
 * );
 * ```
 */
export function assertEncodesAsReference(
  parser: ProfileParser,
  e: ProfileEvent,
): Uint8Array {
  const bytes = parser.encodeEvent(e);
  const ref = new Uint8Array(EVENT_SIZE);
  referenceEncodeEvent(new DataView(ref.buffer), 0, e);
  assert.deepStrictEqual(bytes, ref);
  assert.deepStrictEqual(
    referenceDecodeEvent(new DataView(bytes.buffer), 0),
    e,
  );
  assert.deepStrictEqual(parser.decodeEvents(bytes), [e]);
  return bytes;
}
