/**
 * Summary statistics for benchmark and measurement series.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { median } from "./stats.ts";
 * assert.equal(median([3, 1, 2]), 2);
 * assert.equal(median([4, 1, 3, 2]), 2.5);
 * ```
 * @module
 */

/**
 * The median of a series (the mean of the middle two for an even count);
 * NaN for an empty one. Does not reorder its argument.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { median } from "./stats.ts";
 * assert.ok(Number.isNaN(median([])));
 * ```
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The p-th percentile (0-100) by nearest rank; NaN for an empty series.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { percentile } from "./stats.ts";
 * assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
 * ```
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}
