// @ts-check
/**
 * The live view's WebSocket protocol, one definition for the server
 * (lib/live/server.ts) and the page.
 *
 * Server to page:
 * - binary: a chunk of raw ring buffer records as the profiler consumed
 *   them, whole records only, after a 16-byte header (little-endian u32s):
 *   {@link CHUNK_MAGIC}, the chunk's sequence number (every chunk the
 *   server forwards gets the next one, whether a page receives it or not),
 *   the number of events the server's walker counted in it, and 0.
 * - text: JSON objects with a `t` field: `hello` (once, first), `symbols`,
 *   `processes`, `counters` (about every second, after the chunks it counts:
 *   the socket keeps order, so the page has received exactly the chunks up
 *   to `seq` when it reads one), `end`.
 *
 * Page to server: only `{"t":"ack","bytes":N}`, the total bytes of binary
 * messages it has processed, at most {@link MAX_CLIENT_MESSAGE_BYTES}
 * long. The server bounds the bytes sent to a page and not yet acked, and
 * skips (and counts) chunks while a page is that far behind. Anything else
 * a page sends closes its connection, and nothing else.
 *
 * @example
 * ```js
 * import assert from "node:assert";
 * import { decodeChunk, encodeChunk, parseClientMessage } from "./protocol.js";
 * const msg = encodeChunk(7, 2, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
 * const c = decodeChunk(msg.buffer);
 * assert.deepEqual([c?.seq, c?.events, c?.records.length], [7, 2, 8]);
 * assert.deepEqual(parseClientMessage('{"t":"ack","bytes":24}'), { t: "ack", bytes: 24 });
 * assert.equal(parseClientMessage('{"t":"ack","bytes":-1}'), null);
 * ```
 * @module
 */

// Plain JS, inlined into the page as it is: these constants are the
// protocol's own, alike in shape only to lib/parser/layout.ts's.

/** First word of every chunk message ("SPRF" little-endian). */
export const CHUNK_MAGIC = 0x46525053;
/** Bytes of a chunk message before the records. */
export const CHUNK_HEADER_BYTES = 16;
/** Longest message a page may send; a longer one closes its connection. */
export const MAX_CLIENT_MESSAGE_BYTES = 256;
/** WebSocket close codes the server uses (RFC 6455). */
export const CLOSE = {
  /** The run ended (going away). */
  END: 1001,
  /** A binary message from the page. */
  UNSUPPORTED: 1003,
  /** A message that is not a valid ack. */
  POLICY: 1008,
  /** A message over MAX_CLIENT_MESSAGE_BYTES. */
  TOO_BIG: 1009,
};

/**
 * A chunk message: the header, then a copy of the records.
 * @param {number} seq
 * @param {number} events
 * @param {Uint8Array} records
 * @returns {Uint8Array}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { CHUNK_HEADER_BYTES, encodeChunk } from "./protocol.js";
 * assert.equal(encodeChunk(0, 0, new Uint8Array(40)).length, CHUNK_HEADER_BYTES + 40);
 * ```
 */
export function encodeChunk(seq, events, records) {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + records.byteLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, CHUNK_MAGIC, true);
  v.setUint32(4, seq >>> 0, true);
  v.setUint32(8, events >>> 0, true);
  out.set(records, CHUNK_HEADER_BYTES);
  return out;
}

/**
 * Reads a chunk message; null if it is not one.
 * @param {ArrayBuffer} buf
 * @returns {{ seq: number, events: number, records: Uint8Array } | null}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { decodeChunk } from "./protocol.js";
 * assert.equal(decodeChunk(new ArrayBuffer(4)), null);
 * ```
 */
export function decodeChunk(buf) {
  if (buf.byteLength < CHUNK_HEADER_BYTES) return null;
  const v = new DataView(buf);
  if (v.getUint32(0, true) !== CHUNK_MAGIC) return null;
  return {
    seq: v.getUint32(4, true),
    events: v.getUint32(8, true),
    records: new Uint8Array(buf, CHUNK_HEADER_BYTES),
  };
}

/**
 * A page's message if it is a valid ack (`{"t":"ack","bytes":N}` with N a
 * whole number >= 0, nothing else, within the size limit); else null.
 * @param {string} text
 * @returns {{ t: "ack", bytes: number } | null}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { parseClientMessage } from "./protocol.js";
 * assert.equal(parseClientMessage("not json"), null);
 * assert.equal(parseClientMessage('{"t":"ack","bytes":1,"x":2}'), null);
 * ```
 */
export function parseClientMessage(text) {
  if (typeof text !== "string" || text.length > MAX_CLIENT_MESSAGE_BYTES) {
    return null;
  }
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (
    typeof v !== "object" || v === null || Array.isArray(v) ||
    Object.keys(v).length !== 2 || v.t !== "ack" ||
    !Number.isSafeInteger(v.bytes) || v.bytes < 0
  ) return null;
  return { t: "ack", bytes: v.bytes };
}
