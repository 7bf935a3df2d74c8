/**
 * A temporary folder for the length of a test step: made, handed to the
 * step, removed with everything in it however the step ends (an assertion
 * that failed too), so a failing test leaves nothing in /tmp.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withTempDir } from "./temp_dir.ts";
 * let kept = "";
 * const n = await withTempDir(async (dir) => {
 *   kept = dir;
 *   await Deno.writeTextFile(`${dir}/f`, "x");
 *   return 1;
 * });
 * assert.equal(n, 1);
 * await assert.rejects(Deno.stat(kept));
 * ```
 *
 * @module
 */

/**
 * Runs `fn` with a new empty folder (named with `prefix`, if given);
 * removes the folder afterwards and returns what `fn` returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withTempDir } from "./temp_dir.ts";
 * await withTempDir((dir) => {
 *   assert.match(dir, /\/demo-[^/]+$/);
 *   return Promise.resolve();
 * }, "demo-");
 * ```
 */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix?: string,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
