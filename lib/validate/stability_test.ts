import assert from "node:assert/strict";
import {
  ANON_RSS_GROWTH_BOUND,
  growthAfterWarmUp,
  HEAP_GROWTH_BOUND,
  LOST_STACK_RATE_BOUND,
  MIN_SAMPLES,
  type StabilitySample,
  stabilityVerdict,
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

Deno.test("stabilityVerdict: fewer than MIN_SAMPLES samples fail, however flat", () => {
  for (let n = 0; n < MIN_SAMPLES; n++) {
    const v = stabilityVerdict({
      samples: series(n),
      interrupted: false,
      reconciliation: ok,
    });
    assert.equal(v.pass, false, `${n} samples`);
    assert.deepEqual(v.problems, [
      `fewer than 4 samples (${n}): memory is judged after a warm-up of two`,
    ]);
  }
});

Deno.test("stabilityVerdict: a TCG guest's start-up is warm-up; growth after it still fails", () => {
  // The shape measured in an x86_64 guest: 19.7 MB as the load started,
  // 24.1 MB at the next sample, then settled.
  const settled = [19.7, 24.1, 24.3, 24.2].map((x) => ({ rssAnon: x * MB }));
  const pass = stabilityVerdict({
    samples: series(4, (i) => settled[i]),
    interrupted: false,
    reconciliation: ok,
  });
  assert.deepEqual(pass, { pass: true, problems: [] });
  // The same start, then 4.5 MB more after the warm-up.
  const growing = [19.7, 24.1, 26.3, 28.6].map((x) => ({ rssAnon: x * MB }));
  const fail = stabilityVerdict({
    samples: series(4, (i) => growing[i]),
    interrupted: false,
    reconciliation: ok,
  });
  assert.equal(fail.pass, false);
  assert.match(
    fail.problems[0],
    /anonymous RSS grew 4\.5 MB after the warm-up/,
  );
});
