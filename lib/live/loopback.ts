/**
 * Whether an address is a loopback one: its own module, so that checking
 * `profile --serve` costs no import of the live view's server.
 *
 * @module
 */

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Whether `hostname` is a loopback address (or `localhost`).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { isLoopback } from "./loopback.ts";
 * assert.ok(isLoopback("127.0.0.1") && isLoopback("[::1]") && isLoopback("localhost"));
 * assert.ok(!isLoopback("0.0.0.0") && !isLoopback("192.168.1.5"));
 * ```
 */
export function isLoopback(hostname: string): boolean {
  return LOOPBACK.test(hostname.replace(/^\[|\]$/g, ""));
}
