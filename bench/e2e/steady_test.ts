import assert from "node:assert/strict";
import type { StepStatus, StressStep } from "./consumers.ts";
import type { SteadyWindow } from "./cpu_costs.ts";
import { costRows, steadyFigure, steadyRows } from "./steady.ts";

const CONSUMERS = [
  { id: "deno-wasm", family: "deno" as const },
  { id: "c-libbpf", family: "c" as const },
  { id: "c-libbpf-poll10", family: "c" as const },
  { id: "c-wasm2c", family: "c" as const },
];

function window(nsPerEvent: number): SteadyWindow {
  const events = 100_000;
  return {
    fromS: 1,
    toS: 3,
    events,
    cpuNs: events * nsPerEvent,
    threadsCpuNs: events * nsPerEvent,
    nsPerEvent,
  };
}

/** A step of `consumer` at `rate` whose steady window cost `ns` per event. */
function step(
  consumer: string,
  rate: number,
  ns: number | null,
  status: StepStatus = "held",
  more: Partial<StressStep["costs"]> = {},
): StressStep {
  return {
    consumer,
    rate,
    status,
    achievedRate: status === "not reached" ? rate * 0.8 : rate,
    consumed: 3 * rate,
    drops: status === "dropped" ? 10 : 0,
    reconciled: status !== "failed",
    consumerCpuNs: 0,
    cpuNsPerEvent: 0,
    cpuPercent: 0,
    costs: {
      startupCpuNs: 4e6,
      steady: ns === null ? null : window(ns),
      resolveCpuNs: null,
      totalCpuNs: 9e6,
      totalNsPerEvent: 9e6 / (3 * rate),
      ...more,
    },
    detail: "",
  };
}

Deno.test("steadyFigure: only steps that kept up count", () => {
  assert.equal(steadyFigure(step("c", 1, 50)), 50);
  assert.equal(steadyFigure(step("c", 1, 50, "not reached")), 50);
  assert.equal(steadyFigure(step("c", 1, 50, "dropped")), null);
  assert.equal(steadyFigure(step("c", 1, 50, "failed")), null);
  assert.equal(steadyFigure(step("c", 1, null)), null);
});

Deno.test("steadyRows: the best C consumer at each rate, and Deno over it", () => {
  const steps = [
    step("deno-wasm", 1000, 90),
    step("c-libbpf", 1000, 1500),
    step("c-libbpf-poll10", 1000, 70),
    step("c-wasm2c", 1000, 60),
    step("deno-wasm", 2000, 30),
    step("c-libbpf", 2000, 800),
    step("c-libbpf-poll10", 2000, 20),
    step("c-wasm2c", 2000, 25),
  ];
  const rows = steadyRows([1000, 2000], CONSUMERS, steps);
  assert.deepEqual(rows.map((r) => r.bestC), [
    { consumer: "c-wasm2c", nsPerEvent: 60 },
    { consumer: "c-libbpf-poll10", nsPerEvent: 20 },
  ]);
  assert.deepEqual(rows.map((r) => r.denoOverBestC), [1.5, 1.5]);
  assert.deepEqual(rows[0].nsPerEvent, {
    "deno-wasm": 90,
    "c-libbpf": 1500,
    "c-libbpf-poll10": 70,
    "c-wasm2c": 60,
  });
});

Deno.test("steadyRows: a dropped, failed or skipped consumer has no figure there", () => {
  const steps = [
    step("deno-wasm", 1000, 90),
    step("c-libbpf", 1000, 500, "dropped"), // and so not run at 2000
    step("c-wasm2c", 1000, 60),
    step("deno-wasm", 2000, 95, "dropped"),
    step("c-wasm2c", 2000, 61, "failed"),
  ];
  const consumers = CONSUMERS.filter((c) => c.id !== "c-libbpf-poll10");
  const [r1, r2] = steadyRows([1000, 2000], consumers, steps);
  assert.equal(r1.nsPerEvent["c-libbpf"], null);
  assert.deepEqual(r1.bestC, { consumer: "c-wasm2c", nsPerEvent: 60 });
  assert.equal(r1.denoOverBestC, 1.5);
  assert.deepEqual(r2.nsPerEvent, {
    "deno-wasm": null,
    "c-libbpf": null,
    "c-wasm2c": null,
  });
  assert.equal(r2.bestC, null);
  assert.equal(r2.denoOverBestC, null);
});

Deno.test("steadyRows: figures from steps the generator fell short in are flagged", () => {
  const rows = steadyRows([4000], CONSUMERS, [
    step("deno-wasm", 4000, 20, "not reached"),
    step("c-wasm2c", 4000, 15),
  ]);
  assert.deepEqual(rows[0].notReached, ["deno-wasm"]);
  assert.equal(rows[0].denoOverBestC, 20 / 15);
});

Deno.test("steadyRows: without a C consumer there is no ratio; Deno variants are not C", () => {
  const consumers = [
    { id: "deno-wasm", family: "deno" as const },
    { id: "deno-wasm-bare", family: "deno" as const },
  ];
  const [row] = steadyRows([1000], consumers, [
    step("deno-wasm", 1000, 90),
    step("deno-wasm-bare", 1000, 40),
  ]);
  assert.equal(row.bestC, null);
  assert.equal(row.denoOverBestC, null);
});

Deno.test("costRows: medians of start-up and resolution, the total at each rate", () => {
  const steps = [
    step("deno-wasm", 1000, 90, "held", {
      startupCpuNs: 50e6,
      resolveCpuNs: 100e6,
      totalNsPerEvent: 5000,
    }),
    step("deno-wasm", 2000, 90, "held", {
      startupCpuNs: 70e6,
      resolveCpuNs: 120e6,
      totalNsPerEvent: 2600,
    }),
    // A failed step still says what its start-up cost.
    step("deno-wasm", 4000, null, "failed", {
      startupCpuNs: 60e6,
      resolveCpuNs: null,
      totalNsPerEvent: null,
    }),
    step("c-wasm2c", 1000, 60),
  ];
  const [deno, c] = costRows([1000, 2000, 4000], [
    CONSUMERS[0],
    CONSUMERS[3],
  ], steps);
  assert.equal(deno.startupCpuNs, 60e6);
  assert.equal(deno.resolveCpuNs, 110e6);
  assert.deepEqual(deno.totals, [
    { rate: 1000, nsPerEvent: 5000 },
    { rate: 2000, nsPerEvent: 2600 },
    { rate: 4000, nsPerEvent: null },
  ]);
  assert.equal(c.startupCpuNs, 4e6);
  assert.equal(c.resolveCpuNs, null); // C resolves nothing
  assert.deepEqual(c.totals.map((t) => t.nsPerEvent), [3000, null, null]);
});
