// Tables at their default size, full of keys: the property tests use
// tables of a few keys; these walk thousands of distinct stacks and keys
// through several cuts, checked by the reference (a parser that loses an
// index entry, or keeps one past a cut, fails here).
import assert from "node:assert/strict";
import { referenceEncodeSamples } from "./reference_decoder.ts";
import {
  cutBoth,
  ev,
  framesOf,
  walkBoth,
  WASM_MODULE,
} from "./test_helpers.ts";
import { ProfileParser } from "./wasm_parser.ts";

const TABLES = { stacks: 16384, frames: 262144, aggregates: 16384 };

/** `n` samples over `distinct` stacks of 1-4 frames in 7 processes. */
function samples(n: number, distinct: number, seed: number) {
  return Array.from({ length: n }, (_, i) => {
    const s = (i * 7 + seed) % distinct;
    return {
      event: ev({
        timestampNs: BigInt(1_000 + i),
        pid: 100 + (s % 7),
        tid: 200 + (s % 11),
        cpu: s % 3,
      }),
      user: framesOf(1 + (s % 4), s + seed * 100_003),
      kernel: s % 5 === 0 ? framesOf(2, s, true) : [],
    };
  });
}

Deno.test("tables: thousands of stacks and keys, through cuts, agree with the reference", () => {
  const p = ProfileParser.fromModule(WASM_MODULE, {
    ringCapacity: 16,
    batchCapacity: 20_000,
    inputBytes: 2 << 20,
    tables: TABLES,
  });
  // Grow to 6,000 keys, cut, stay small (300), cut, grow again (9,000).
  for (
    const [n, distinct, seed] of [[15_000, 6_000, 1], [900, 300, 2], [
      18_000,
      9_000,
      3,
    ]]
  ) {
    const bytes = referenceEncodeSamples(samples(n, distinct, seed));
    p.resetStream();
    const r = walkBoth(p, bytes, new Map(), { toAggregate: true });
    assert.equal(r.stats.stop, "end");
    assert.equal(r.stats.events, n);
    // Every sample counted once, under its own key: walkBoth checked the
    // key count against the reference; here the counts add up.
    const aggs = p.readAggregates();
    assert.equal(aggs.reduce((t, a) => t + a.samples, 0), n);
    assert.ok(p.aggregateCount >= distinct, `${p.aggregateCount} keys`);
    assert.ok(p.stackCount >= distinct, `${p.stackCount} stacks`);
    // The same walk again finds every stack it interned: no new ones.
    const stacks = p.stackCount;
    p.resetStream(); // the same timestamps again
    const again = walkBoth(p, bytes, new Map(), { toAggregate: true });
    assert.equal(again.stats.events, n);
    assert.equal(p.stackCount, stacks);
    assert.equal(
      p.readAggregates().reduce((t, a) => t + a.samples, 0),
      2 * n,
    );
    cutBoth(p);
    assert.equal(p.stackCount, 0);
    assert.equal(p.aggregateCount, 0);
  }
});
