import assert from "node:assert/strict";
import { judgeGoals, STEADY_GOAL, steadyGoal } from "./goals.ts";
import type { RatesResult } from "./rates.ts";
import type { SteadyRow } from "./steady.ts";

/** A rate's row with Deno at `deno` ns/event and the best C at `c`. */
function row(rate: number, deno: number | null, c: number | null): SteadyRow {
  return {
    rate,
    nsPerEvent: { "deno-wasm": deno, "c-wasm2c": c },
    notReached: [],
    bestC: c === null ? null : { consumer: "c-wasm2c", nsPerEvent: c },
    denoOverBestC: deno !== null && c !== null ? deno / c : null,
  };
}

Deno.test("steadyGoal: met when Deno is within 1.5x at every rate, 1.5x itself included", () => {
  const g = steadyGoal([row(1e5, 45, 30), row(1e6, 30, 20)]);
  assert.deepEqual(g, {
    value:
      "worst 1.50x at 100k/s (45.0 vs c-wasm2c 30.0 ns); 2 of 2 rates within",
    met: true,
  });
});

Deno.test("steadyGoal: one rate over the bound misses it, and names the worst", () => {
  const g = steadyGoal([row(1e5, 210, 30), row(2e6, 35, 20)])!;
  assert.equal(g.met, false);
  assert.match(
    g.value,
    /^worst 7\.00x at 100k\/s \(210\.0 vs c-wasm2c 30\.0 ns\); 0 of 2 rates within$/,
  );
});

Deno.test("steadyGoal: a rate where Deno has no figure but a C consumer has is a miss", () => {
  const g = steadyGoal([row(1e5, 40, 30), row(4e6, null, 20)])!;
  assert.equal(g.met, false);
  assert.match(g.value, /1 of 2 rates within; no Deno figure at 4M\/s$/);
  // Deno with no figure anywhere: still judged, and missed.
  assert.deepEqual(steadyGoal([row(1e5, null, 30)]), {
    value: "0 of 1 rates within; no Deno figure at 100k/s",
    met: false,
  });
});

Deno.test("steadyGoal: rates where no C consumer kept up are not judged", () => {
  const g = steadyGoal([row(1e5, 40, 30), row(4e6, 90, null)])!;
  assert.equal(g.met, true);
  assert.match(g.value, /1 of 1 rates within/);
  // Nothing to compare with at all: no verdict.
  assert.equal(steadyGoal([row(4e6, 90, null)]), null);
  assert.equal(steadyGoal([]), null);
});

Deno.test("steadyGoal: a run without the Deno consumer has no verdict", () => {
  const r: SteadyRow = {
    rate: 1e5,
    nsPerEvent: { "c-wasm2c": 30 },
    notReached: [],
    bestC: { consumer: "c-wasm2c", nsPerEvent: 30 },
    denoOverBestC: null,
  };
  assert.equal(steadyGoal([r]), null);
});

Deno.test("judgeGoals: the steady goal is judged from the rates section", () => {
  const rates: RatesResult = {
    steps: [],
    summary: [],
    steady: [row(1e5, 60, 30)],
    costs: [],
  };
  const goals = judgeGoals({
    rates,
    overhead: null,
    decode: null,
    memory: null,
  });
  assert.equal(goals[STEADY_GOAL]?.met, false);
  assert.equal(
    STEADY_GOAL,
    "Deno+WASM steady CPU/event within 1.5x of the best C consumer at every rate",
  );
  assert.deepEqual(
    judgeGoals({ rates: null, overhead: null, decode: null, memory: null }),
    {},
  );
});
