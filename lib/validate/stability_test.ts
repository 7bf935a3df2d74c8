import assert from "node:assert/strict";
import {
  ANON_RSS_GROWTH_BOUND,
  enoughSamples,
  growthAfterWarmUp,
  HEAP_GROWTH_BOUND,
  LOST_STACK_RATE_BOUND,
  plannedSampleTimes,
  type StabilitySample,
  stabilityVerdict,
  warmUpCount,
} from "./stability.ts";

const MB = 1_000_000;
const ok = { ok: true, problems: [] };

/** A run of `n` samples, 30 s apart, shaped by `f(i)`. */
function series(
  n: number,
  f: (i: number) => Partial<StabilitySample> = () => ({}),
): StabilitySample[] {
  return Array.from({ length: n }, (_, i) => ({
    elapsedS: 30 * (i + 1),
    events: 60_000 * (i + 1),
    drops: 0,
    heapUsed: 7.5 * MB,
    rss: 95 * MB,
    rssAnon: 30 * MB,
    rssFile: 65 * MB,
    wasmBytes: 20.8 * MB,
    cpuPercent: 0.7,
    intervalSamples: 60_000,
    intervalLostStacks: 0,
    lostStackRate: 0,
    distinctStacks: 9_200,
    ...f(i),
  }));
}

Deno.test("growthAfterWarmUp: settling in the first quarter is not growth", () => {
  // The shape of a measured 10-minute run: 24 -> 32 MB, then flat.
  const anon = [24.4, 28.2, 28.7, 30.1, 30.1, 30.7, 30.7, 30.8, 31.8, 31.8];
  // First quarter, rounded up: three samples (peak 28.7); the rest peaks
  // at 31.8.
  assert.equal(
    Math.round(growthAfterWarmUp(anon.map((x) => x * MB)) / 1e5) / 10,
    3.1,
  );
  // A short run whose first sample came as the load started (a TCG guest:
  // 3, 6, 7, 8, 10 s): two of five samples are the warm-up.
  assert.equal(
    Math.round(
      growthAfterWarmUp([18.9, 22.8, 23.1, 22.4, 23.3].map((x) => x * MB)) /
        1e5,
    ) / 10,
    0.5,
  );
  assert.equal(growthAfterWarmUp([5, 9, 7, 6, 8, 7, 6, 9]), 0);
});

Deno.test("growthAfterWarmUp: steady growth shows over the last three quarters", () => {
  const leak = Array.from({ length: 20 }, (_, i) => i * MB);
  // Warm-up: samples 0-4 (peak 4 MB); the rest peaks at 19 MB.
  assert.equal(growthAfterWarmUp(leak), 15 * MB);
});

Deno.test("growthAfterWarmUp: of three or more samples, the first two are the warm-up", () => {
  // A TCG guest's 10 s run: its first sample came as the load started.
  assert.equal(
    Math.round(growthAfterWarmUp([21.2, 24.8, 25.6].map((x) => x * MB)) / 1e5) /
      10,
    0.8,
  );
  assert.equal(growthAfterWarmUp([1, 5, 9, 13]), 8);
});

Deno.test("growthAfterWarmUp: two samples are the second minus the first", () => {
  assert.equal(growthAfterWarmUp([3, 8]), 5);
  assert.equal(growthAfterWarmUp([8, 3]), 0);
  assert.equal(growthAfterWarmUp([8]), 0);
});

Deno.test("stabilityVerdict: a run that settles, then stays flat, passes", () => {
  const v = stabilityVerdict({
    samples: series(
      20,
      (i) => ({ rssAnon: (i < 4 ? 24 + 2 * i : 31) * MB }),
    ),
    interrupted: false,
    reconciliation: ok,
  });
  assert.deepEqual(v, { pass: true, problems: [] });
});

Deno.test("stabilityVerdict: anonymous RSS that keeps growing fails", () => {
  const v = stabilityVerdict({
    samples: series(20, (i) => ({ rssAnon: (24 + 0.5 * i) * MB })),
    interrupted: false,
    reconciliation: ok,
  });
  assert.equal(v.pass, false);
  assert.equal(v.problems.length, 1);
  assert.match(v.problems[0], /anonymous RSS grew 7\.5 MB after the warm-up/);
  assert.ok(7.5 * MB > ANON_RSS_GROWTH_BOUND);
});

Deno.test("stabilityVerdict: a live heap that keeps growing fails", () => {
  const v = stabilityVerdict({
    samples: series(8, (i) => ({ heapUsed: 7 * MB + i * 0.3 * MB })),
    interrupted: false,
    reconciliation: ok,
  });
  // Warm-up: samples 0-1 (peak 7.3 MB); the rest peaks at 9.1 MB.
  assert.equal(v.pass, false);
  assert.match(v.problems[0], /live V8 heap grew 1\.8 MB after the warm-up/);
  assert.ok(1.8 * MB > HEAP_GROWTH_BOUND);
});

Deno.test("stabilityVerdict: WASM memory, lost stacks, interruption and the reconciliation each fail", () => {
  const v = stabilityVerdict({
    samples: series(6, (i) => ({
      wasmBytes: i === 5 ? 21 * MB : 20.8 * MB,
      lostStackRate: i === 3 ? LOST_STACK_RATE_BOUND : 0,
    })),
    interrupted: true,
    reconciliation: { ok: false, problems: ["consumed 9 != produced 10"] },
  });
  assert.equal(v.pass, false);
  assert.deepEqual(v.problems, [
    "consumed 9 != produced 10",
    "interrupted by a stop signal before the end",
    "WASM memory changed size",
    "lost-stack rate at or above 0.1% in 1 intervals (worst 0.100% at 120 s)",
  ]);
});

Deno.test("warmUpCount: the first quarter, at least two, and the first 10 s", () => {
  assert.equal(warmUpCount(0), 0);
  assert.equal(warmUpCount(1), 0);
  assert.equal(warmUpCount(2), 1);
  assert.equal(warmUpCount(3), 2);
  assert.equal(warmUpCount(9), 3);
  assert.equal(warmUpCount(20), 5);
  // With times, every sample of the first 10 s is warm-up too.
  assert.equal(warmUpCount(5, [3, 6, 9, 12, 15]), 3);
  assert.equal(warmUpCount(5, [2, 4, 6, 8, 10]), 5);
  assert.equal(warmUpCount(20, [30, 60, 90]), 5);
});

Deno.test("enoughSamples and plannedSampleTimes: a short run goes on until two samples follow the warm-up", () => {
  assert.equal(enoughSamples([]), false);
  assert.equal(enoughSamples([12, 14]), false); // one warm-up, one after
  assert.equal(enoughSamples([2, 4, 6, 8, 10, 12]), false);
  assert.equal(enoughSamples([2, 4, 6, 8, 10, 12, 14]), true);
  assert.equal(enoughSamples([30, 60, 90, 120]), true);
  // What the guests run (10 s at 2 s) and the kernel test (15 s at 3 s).
  assert.deepEqual(plannedSampleTimes(10_000, 2_000), [2, 4, 6, 8, 10, 12, 14]);
  assert.deepEqual(plannedSampleTimes(15_000, 3_000), [3, 6, 9, 12, 15]);
  // A duration that is not a multiple of the interval ends on it.
  assert.deepEqual(plannedSampleTimes(25_000, 10_000), [10, 20, 25, 35]);
  assert.equal(plannedSampleTimes(600_000, 30_000).length, 20);
});

Deno.test("stabilityVerdict: too few samples after the warm-up fail, however flat", () => {
  for (
    const [n, after] of [[0, 0], [1, 1], [2, 1], [3, 1]] as const
  ) {
    const v = stabilityVerdict({
      samples: series(n),
      interrupted: false,
      reconciliation: ok,
    });
    assert.equal(v.pass, false, `${n} samples`);
    assert.deepEqual(v.problems, [
      `${n} samples, ${after} after the warm-up: memory is judged on 2 or more after it (the first quarter, at least two, and the first 10 s)`,
    ]);
  }
  // Seven samples every 2 s: five are in the first 10 s, two follow.
  const short = series(7, (i) => ({ elapsedS: 2 * (i + 1) }));
  assert.deepEqual(
    stabilityVerdict({
      samples: short.slice(0, 6),
      interrupted: false,
      reconciliation: ok,
    })
      .problems,
    [
      "6 samples, 1 after the warm-up: memory is judged on 2 or more after it (the first quarter, at least two, and the first 10 s)",
    ],
  );
  assert.equal(
    stabilityVerdict({ samples: short, interrupted: false, reconciliation: ok })
      .pass,
    true,
  );
});

Deno.test("stabilityVerdict: a TCG guest's settling step is warm-up; growth after it still fails", () => {
  // Measured in an arm64 guest (6.1): a step of 3 MB between 5.2 and 6.5 s,
  // then flat; the run goes on to two samples after 10 s.
  const at = [3.0, 5.2, 6.5, 8.2, 10.2, 12.2, 14.2];
  const step = [19.4, 20.1, 23.1, 23.2, 23.6, 23.5, 23.7];
  const pass = stabilityVerdict({
    samples: series(7, (i) => ({ elapsedS: at[i], rssAnon: step[i] * MB })),
    interrupted: false,
    reconciliation: ok,
  });
  assert.deepEqual(pass, { pass: true, problems: [] });
  // The same start, then growth after the first 10 s: 28.1 MB against the
  // warm-up's peak of 23.2 MB.
  const growing = [19.4, 20.1, 23.1, 23.2, 23.6, 25.9, 28.1];
  const fail = stabilityVerdict({
    samples: series(7, (i) => ({ elapsedS: at[i], rssAnon: growing[i] * MB })),
    interrupted: false,
    reconciliation: ok,
  });
  assert.equal(fail.pass, false);
  assert.match(
    fail.problems[0],
    /anonymous RSS grew 4\.9 MB after the warm-up/,
  );
});
