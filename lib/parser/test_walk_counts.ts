/**
 * Test support: the plain counts of a walk's statistics, zeroed and summed.
 * The property and fuzz tests tally them over many walks (to check that
 * their generators reached every case), and the reference decoder's tests
 * write expected statistics as "zero but for these".
 *
 * It holds no tests of its own (and is not named *_test.ts): a module that
 * registered tests would run them again in every test file importing it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addCounts, zeroCounts, zeroWalkStats } from "./test_walk_counts.ts";
 * const tally = { ...zeroCounts(), walks: 0 };
 * addCounts(tally, { ...zeroWalkStats(), events: 3, shortRecords: 1 });
 * addCounts(tally, { ...zeroWalkStats(), events: 2 });
 * assert.equal(tally.events, 5);
 * assert.equal(tally.shortRecords, 1);
 * assert.equal(tally.walks, 0); // not a count of WalkStats: left alone
 * ```
 * @module
 */
import { emptyConsumed } from "../profiler/reconcile.ts";
import type { WalkStats } from "./walk_stats.ts";

/** The counts of WalkStats that add up over walks: records and events. */
export type WalkCounts = Pick<
  WalkStats,
  | "events"
  | "discarded"
  | "malformed"
  | "shortRecords"
  | "longRecords"
  | "pastEnd"
  | "outOfOrder"
  | "badCpu"
>;

/**
 * Each of {@link WalkCounts} at 0: spread it into a tally that also has
 * counts of its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zeroCounts } from "./test_walk_counts.ts";
 * assert.equal(zeroCounts().malformed, 0);
 * assert.equal(Object.keys(zeroCounts()).length, 8);
 * ```
 */
export function zeroCounts(): WalkCounts {
  return {
    events: 0,
    discarded: 0,
    malformed: 0,
    shortRecords: 0,
    longRecords: 0,
    pastEnd: 0,
    outOfOrder: 0,
    badCpu: 0,
  };
}

/**
 * Adds each of {@link WalkCounts} of `stats` into `tally` (its other keys
 * are the caller's to count).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addCounts, zeroCounts, zeroWalkStats } from "./test_walk_counts.ts";
 * const tally = zeroCounts();
 * addCounts(tally, { ...zeroWalkStats(), pastEnd: 1, malformed: 1 });
 * assert.deepEqual(tally, { ...zeroCounts(), pastEnd: 1, malformed: 1 });
 * ```
 */
export function addCounts(tally: WalkCounts, stats: WalkStats): void {
  // The keys of zeroCounts(), not of the tally: a tally may have keys that
  // WalkStats also has (noFrames, say) and counts them its own way.
  for (const k of Object.keys(zeroCounts()) as (keyof WalkCounts)[]) {
    tally[k] += stats[k];
  }
}

/**
 * The statistics of a walk over nothing: every count 0, no CPU seen,
 * stopped at the end. Spread it and name what a test expects to differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zeroWalkStats } from "./test_walk_counts.ts";
 * import { ProfileParser } from "./wasm_parser.ts";
 * const parser = await ProfileParser.create();
 * assert.deepStrictEqual(parser.walk(new Uint8Array(0)), zeroWalkStats());
 * ```
 */
export function zeroWalkStats(): WalkStats {
  return {
    ...emptyConsumed(),
    ...zeroCounts(),
    stop: "end",
    consumed: 0,
    perCpu: new Map(),
  };
}
