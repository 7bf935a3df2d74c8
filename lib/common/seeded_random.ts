/**
 * A small seeded generator (mulberry32): the same seed gives the same
 * numbers on every run and machine, so a benchmark stream or a fuzz corpus
 * is reproducible and a failing random case can be replayed from its seed.
 * Not for anything that must be unpredictable.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { seededRandom } from "./seeded_random.ts";
 * const a = seededRandom(42);
 * const b = seededRandom(42);
 * const xs = [a(), a(), a()];
 * assert.deepEqual([b(), b(), b()], xs);
 * assert.ok(xs.every((x) => x >= 0 && x < 1));
 * ```
 * @module
 */

/**
 * A generator of numbers uniform in [0, 1), determined by `seed` (taken as
 * an unsigned 32-bit integer).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { seededRandom } from "./seeded_random.ts";
 * assert.notEqual(seededRandom(1)(), seededRandom(2)());
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
