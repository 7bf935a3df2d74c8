import assert from "node:assert/strict";
import {
  processCpuNs,
  runCostsOf,
  steadyJson,
  takeMark,
  threadsCpuNs,
} from "./cpu_costs.ts";

// The fields as harness-c/consumer.c prints them (no "resolve").
const C_JSON = {
  consumed: 300_000,
  startup_cpu_ns: 4_200_000,
  steady: {
    from_s: 1.000102,
    to_s: 3.000098,
    events: 200_000,
    cpu_ns: 5_000_000,
    threads_cpu_ns: 5_100_000,
    ns_per_event: 25,
  },
  total_cpu_ns: 12_000_000,
};

Deno.test("runCostsOf: a C consumer's JSON", () => {
  const c = runCostsOf(C_JSON);
  assert.equal(c.startupCpuNs, 4_200_000);
  assert.deepEqual(c.steady, {
    fromS: 1.000102,
    toS: 3.000098,
    events: 200_000,
    cpuNs: 5_000_000,
    threadsCpuNs: 5_100_000,
    nsPerEvent: 25,
  });
  assert.equal(c.resolveCpuNs, null);
  assert.equal(c.totalCpuNs, 12_000_000);
  assert.equal(c.totalNsPerEvent, 40);
});

Deno.test("runCostsOf: the Deno consumer's resolution is its own figure, and in the total", () => {
  const c = runCostsOf({
    ...C_JSON,
    resolve: { cpu_ns: 90_000_000, wall_ms: 80, samples: 300_000 },
    total_cpu_ns: 150_000_000,
  });
  assert.equal(c.resolveCpuNs, 90_000_000);
  assert.equal(c.totalNsPerEvent, 500);
  // The steady figure does not move: resolution is after the window.
  assert.equal(c.steady?.nsPerEvent, 25);
});

Deno.test("runCostsOf: the figure is recomputed from the exact counts, not the printed rounding", () => {
  const c = runCostsOf({
    ...C_JSON,
    steady: { ...C_JSON.steady, events: 3, cpu_ns: 100, ns_per_event: 33.3 },
  });
  assert.equal(c.steady?.nsPerEvent, 100 / 3);
});

Deno.test("runCostsOf: no window, an empty window, and no JSON at all", () => {
  assert.equal(runCostsOf({ ...C_JSON, steady: null }).steady, null);
  // Nothing consumed in the window: no figure, rather than 0 ns/event.
  const empty = { ...C_JSON.steady, events: 0, cpu_ns: 700_000 };
  assert.equal(runCostsOf({ ...C_JSON, steady: empty }).steady, null);
  assert.deepEqual(runCostsOf(null), {
    startupCpuNs: null,
    steady: null,
    resolveCpuNs: null,
    totalCpuNs: null,
    totalNsPerEvent: null,
  });
  // A consumer that consumed nothing has no total per event.
  assert.equal(
    runCostsOf({ ...C_JSON, consumed: 0, steady: null }).totalNsPerEvent,
    null,
  );
});

Deno.test("runCostsOf: fields of the wrong kind are no figure", () => {
  const c = runCostsOf({
    consumed: 10,
    startup_cpu_ns: "4000",
    total_cpu_ns: -1,
    steady: { events: 5, cpu_ns: Number.NaN },
  });
  assert.equal(c.startupCpuNs, null);
  assert.equal(c.totalCpuNs, null);
  assert.equal(c.steady, null);
});

Deno.test("steadyJson: what the C consumer prints, from two marks", () => {
  const w = steadyJson(
    {
      atS: 1.0000004,
      consumed: 500,
      cpuNs: 2_000_000,
      threadsCpuNs: 2_100_000,
    },
    { atS: 2.5, consumed: 1500, cpuNs: 2_150_000, threadsCpuNs: 2_240_000 },
  );
  assert.deepEqual(w, {
    from_s: 1,
    to_s: 2.5,
    events: 1000,
    cpu_ns: 150_000,
    threads_cpu_ns: 140_000,
    ns_per_event: 150,
  });
  // Read back, it is the same window.
  assert.equal(runCostsOf({ consumed: 2000, steady: w }).steady?.events, 1000);
});

Deno.test("takeMark: the two clocks of a mark agree while no thread has ended", () => {
  // Both are the scheduler's run time; getrusage also keeps the time of
  // threads that ended, so the live threads' sum is never above it (bar
  // getrusage's µs truncation of user and system time, 2 µs at most).
  const start = takeMark(true, 0, 0);
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += i % 7;
  const end = takeMark(false, 1, 1);
  assert.ok(x > 0);
  assert.ok(end.cpuNs > start.cpuNs, "CPU went by");
  assert.ok(start.threadsCpuNs <= start.cpuNs + 2000);
  assert.ok(threadsCpuNs()! <= processCpuNs() + 2000);
});
