/**
 * Memory figures a long-running process can watch itself with: the live
 * V8 heap after a forced full garbage collection (so a figure is the live
 * heap, not wherever the GC saw-tooth happens to be) and the resident set
 * split into anonymous (what allocation grows) and file-backed memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { fullGc, residentBreakdown } from "./memory.ts";
 * const gc = fullGc();
 * gc?.();
 * const r = residentBreakdown();
 * assert.ok(r.anon > 0 && r.file > 0);
 * ```
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";

/**
 * A function that forces a full garbage collection: V8's gc(), exposed at
 * run time through node:v8 (no command-line flag needed). Undefined if the
 * runtime refuses.
 */
export function fullGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc : undefined;
  } catch {
    return undefined;
  }
}

/** Anonymous and file-backed resident memory of this process, in bytes. */
export function residentBreakdown(): { anon: number; file: number } {
  const s = Deno.readTextFileSync("/proc/self/status");
  const kb = (k: string) =>
    Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}
