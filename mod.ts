/**
 * streamprof: a streaming eBPF CPU profiler with a zero-allocation
 * WebAssembly parser at its core. This module is the public surface.
 *
 * The parser part works anywhere WebAssembly does (Deno, browsers); the
 * profiler part needs Deno on Linux, root, and a kernel with the BPF ring
 * buffer (5.8+).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProfileParser } from "./mod.ts";
 * const parser = await ProfileParser.create();
 * const stats = parser.walk(new Uint8Array(0));
 * assert.equal(stats.events, 0);
 * ```
 * @module
 */
export * from "./lib/parser/layout.ts";
export * from "./lib/parser/profile_event.ts";
export * from "./lib/parser/walk_stats.ts";
export * from "./lib/parser/wasm_parser.ts";
