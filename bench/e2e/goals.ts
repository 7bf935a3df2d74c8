/**
 * `bench:e2e`'s verdicts: the project's goals, judged on what the sections
 * measured (missed goals are findings, printed MISSED, and do not fail the
 * run), and the baseline of held rates a later run must not fall below
 * (a regression fails the run).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { regressions } from "./goals.ts";
 * const baseline = { note: "", machine: {}, date: "", ring_bytes: 4096, step_duration_s: 1,
 *   rates: [1000], max_held_rate: { "c-libbpf": 1000 } };
 * const costs = { startupCpuNs: null, steady: null, resolveCpuNs: null, totalCpuNs: null,
 *   totalNsPerEvent: null };
 * const step = { consumer: "c-libbpf", rate: 1000, status: "dropped" as const, achievedRate: 1000,
 *   consumed: 900, drops: 100, reconciled: true, consumerCpuNs: 0, cpuNsPerEvent: 0,
 *   cpuPercent: 0, costs, detail: "100 events dropped" };
 * assert.equal(regressions([step], baseline, 4096).length, 1);
 * assert.equal(regressions([step], baseline, 8192).length, 0); // other ring: not compared
 * ```
 * @module
 */
import { formatMB, formatMiB } from "../../lib/common/format.ts";
import { formatTable } from "../../lib/report/table.ts";
import { DENO_CONSUMER, type StressStep } from "./consumers.ts";
import { costOf, type DecodeResult } from "./decode.ts";
import type { MemoryRow } from "./memory.ts";
import type { OverheadRow } from "./overhead.ts";
import type { RatesResult } from "./rates.ts";
import { formatRate } from "./report.ts";
import type { SteadyRow } from "./steady.ts";

/** The memory bound of the README's goals, bytes (10^6 per MB). */
const MEMORY_BOUND_BYTES = 20e6;
/** Issue 11: Deno's steady CPU per event over the best C consumer's, at most. */
export const STEADY_RATIO_BOUND = 1.5;
/** The steady-state goal's line. */
export const STEADY_GOAL =
  `Deno+WASM steady CPU/event within ${STEADY_RATIO_BOUND}x of the best C consumer at every rate`;

/** One goal's measured value and whether it was met. */
export interface GoalResult {
  value: string;
  met: boolean;
}

/** What the sections that ran measured (null: not run). */
export interface Measurements {
  rates: RatesResult | null;
  overhead: OverheadRow[] | null;
  decode: DecodeResult | null;
  memory: MemoryRow[] | null;
}

function rateGoals(r: RatesResult, out: Record<string, GoalResult>): void {
  const deno = r.summary.find((s) => s.consumer === "deno-wasm");
  const libbpf = r.summary.find((s) => s.consumer === "c-libbpf");
  if (!deno || !libbpf) return;
  const ratio = libbpf.maxHeldRate
    ? deno.maxHeldRate / libbpf.maxHeldRate
    : Infinity;
  // CPU per event compared at the same rate: libbpf's highest held one.
  const atLibbpfMax = r.steps.find((s) =>
    s.consumer === "deno-wasm" && s.rate === libbpf.maxHeldRate
  );
  const denoCpu = atLibbpfMax?.cpuNsPerEvent ?? deno.cpuNsPerEventAtMax;
  out["Deno+WASM zero-drop rate >= 1.5x libbpf's"] = {
    value: `${formatRate(deno.maxHeldRate)}/s vs ${
      formatRate(libbpf.maxHeldRate)
    }/s = ${ratio.toFixed(2)}x`,
    met: ratio >= 1.5,
  };
  out["Deno+WASM CPU/event < libbpf's (at libbpf's max rate)"] = {
    value: `${denoCpu.toFixed(1)} vs ${
      libbpf.cpuNsPerEventAtMax.toFixed(1)
    } ns`,
    met: libbpf.maxHeldRate > 0 && denoCpu < libbpf.cpuNsPerEventAtMax,
  };
}

/**
 * The steady-state goal, judged at every rate where a C consumer has a
 * steady figure (where none has, there is nothing to be within 1.5x of):
 * met when the Deno consumer has one there too and it is at most 1.5x the
 * best C consumer's at each. Null (not judged) when the run had no Deno
 * consumer or no C consumer kept up at any rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { steadyGoal } from "./goals.ts";
 * const row = (rate: number, deno: number | null, c: number) => ({ rate, notReached: [],
 *   nsPerEvent: { "deno-wasm": deno, "c-wasm2c": c },
 *   bestC: { consumer: "c-wasm2c", nsPerEvent: c }, denoOverBestC: deno === null ? null : deno / c });
 * assert.equal(steadyGoal([row(1000, 50, 40), row(2000, 55, 40)])?.met, true);
 * assert.equal(steadyGoal([row(1000, 50, 40), row(2000, 70, 40)])?.met, false);
 * assert.equal(steadyGoal([row(1000, 50, 40), row(2000, null, 40)])?.met, false); // Deno dropped
 * assert.equal(steadyGoal([row(1000, null, 40)])?.met, false);
 * ```
 */
export function steadyGoal(rows: SteadyRow[]): GoalResult | null {
  const ran = rows.length > 0 &&
    Object.hasOwn(rows[0].nsPerEvent, DENO_CONSUMER);
  const judged = rows.filter((r) => r.bestC !== null);
  if (!ran || judged.length === 0) return null;
  const withDeno = judged.filter((r) => r.denoOverBestC !== null);
  const within = withDeno.filter((r) => r.denoOverBestC! <= STEADY_RATIO_BOUND);
  const parts: string[] = [];
  if (withDeno.length) {
    const worst = withDeno.reduce((a, r) =>
      r.denoOverBestC! > a.denoOverBestC! ? r : a
    );
    parts.push(
      `worst ${worst.denoOverBestC!.toFixed(2)}x at ${
        formatRate(worst.rate)
      }/s (${worst.nsPerEvent[DENO_CONSUMER]!.toFixed(1)} vs ${
        worst.bestC!.consumer
      } ${worst.bestC!.nsPerEvent.toFixed(1)} ns)`,
    );
  }
  parts.push(`${within.length} of ${judged.length} rates within`);
  const missing = judged.filter((r) => r.denoOverBestC === null);
  if (missing.length) {
    parts.push(
      `no Deno figure at ${
        missing.map((r) => `${formatRate(r.rate)}/s`).join(", ")
      }`,
    );
  }
  return {
    value: parts.join("; "),
    met: within.length === judged.length,
  };
}

function overheadGoals(
  rows: OverheadRow[],
  out: Record<string, GoalResult>,
): void {
  const deno = rows.find((r) => r.consumer === "deno-wasm");
  if (!deno) return;
  out["Deno+WASM at 10 kHz x all CPUs <= 1% of a core (steady)"] = {
    value: `${deno.steadyCpuPercent.toFixed(2)}% steady, ${
      deno.cpuPercent.toFixed(2)
    }% whole run`,
    met: deno.steadyCpuPercent <= 1 && deno.drops === 0 && deno.reconciled,
  };
}

function decodeGoals(d: DecodeResult, out: Record<string, GoalResult>): void {
  const wasm = costOf(d, "wasm-deno");
  // The stricter baseline: the faster of the two hand-written C figures.
  const c = Math.min(
    costOf(d, "hand-written-c"),
    costOf(d, "hand-written-c-ffi"),
  );
  out["WASM decode within 1.3x of hand-written C"] = {
    value: `${wasm.toFixed(2)} vs ${c.toFixed(2)} ns = ${
      (wasm / c).toFixed(2)
    }x`,
    met: wasm <= 1.3 * c,
  };
}

function memoryGoals(rows: MemoryRow[], out: Record<string, GoalResult>): void {
  const wasm2c = rows.find((r) => r.consumer === "c-wasm2c");
  if (wasm2c) {
    out["C+wasm2c consumer peak RSS < 20 MB (ring included)"] = {
      value: `${formatMB(wasm2c.peakRssBytes)} (${
        formatMiB(wasm2c.peakRssBytes)
      })`,
      met: wasm2c.peakRssBytes < MEMORY_BOUND_BYTES,
    };
  }
  const deno = rows.find((r) => r.consumer === "deno-wasm");
  if (deno) {
    out["Deno consumer heap + WASM memory < 20 MB"] = {
      value: `${formatMB(deno.heapBytes)} + ${formatMB(deno.wasmOwnBytes)} = ${
        formatMB(deno.heapBytes + deno.wasmOwnBytes)
      }`,
      met: deno.heapBytes + deno.wasmOwnBytes < MEMORY_BOUND_BYTES,
    };
  }
}

/** Every goal the sections that ran can judge. */
export function judgeGoals(m: Measurements): Record<string, GoalResult> {
  const out: Record<string, GoalResult> = {};
  if (m.rates) rateGoals(m.rates, out);
  const steady = m.rates ? steadyGoal(m.rates.steady) : null;
  if (steady) out[STEADY_GOAL] = steady;
  if (m.overhead) overheadGoals(m.overhead, out);
  if (m.decode) decodeGoals(m.decode, out);
  if (m.memory) memoryGoals(m.memory, out);
  return out;
}

/** Prints the goals table (nothing if no goal could be judged). */
export function printGoals(goals: Record<string, GoalResult>): void {
  if (Object.keys(goals).length === 0) return;
  console.log("\n## Goals\n");
  console.log(formatTable(
    ["goal", "measured", ""],
    Object.entries(goals).map(([k, v]) => [
      k,
      v.value,
      v.met ? "MET" : "MISSED",
    ]),
  ));
}

/** The baseline file: the highest rate each consumer held in one run. */
export interface Baseline {
  note: string;
  machine: Record<string, unknown>;
  date: string;
  ring_bytes: number;
  step_duration_s: number;
  rates: number[];
  max_held_rate: Record<string, number>;
}

/**
 * Steps that dropped or failed at a rate the baseline says was held. Only
 * runs with the baseline's ring size compare: a smaller ring drops sooner.
 */
export function regressions(
  steps: StressStep[],
  base: Baseline | null,
  ringBytes: number,
): string[] {
  if (!base || base.ring_bytes !== ringBytes) return [];
  return steps
    .filter((s) =>
      (s.status === "dropped" || s.status === "failed") &&
      s.rate <= (base.max_held_rate[s.consumer] ?? 0)
    )
    .map((s) =>
      `${s.consumer} ${s.status} at ${formatRate(s.rate)}/s (baseline held ${
        formatRate(base.max_held_rate[s.consumer])
      }/s): ${s.detail}`
    );
}

/** Reads the baseline; null if there is none. */
export async function readBaseline(path: string): Promise<Baseline | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new Error(`cannot read baseline ${path}: ${(err as Error).message}`);
  }
}

/** The baseline this run makes (for --update-baseline). */
export function baselineOf(
  rates: RatesResult,
  machine: Record<string, unknown>,
  ringBytes: number,
  stepS: number,
  rateList: number[],
): Baseline {
  return {
    note:
      "Highest zero-drop stress rate each consumer held (bench/e2e/main.ts). A later run fails if a consumer drops at or below its rate here.",
    machine,
    date: new Date().toISOString(),
    ring_bytes: ringBytes,
    step_duration_s: stepS,
    rates: rateList,
    max_held_rate: Object.fromEntries(
      rates.summary.map((s) => [s.consumer, s.maxHeldRate]),
    ),
  };
}

/** The line that says how the run compared with the baseline. */
export function baselineLine(
  path: string,
  base: Baseline | null,
  ringBytes: number,
  regressionCount: number,
): string | null {
  if (!base) return `no baseline at ${path}: nothing to compare with`;
  if (base.ring_bytes !== ringBytes) {
    return `baseline ${path} is for a ${
      formatMiB(base.ring_bytes)
    } ring, this run used ${formatMiB(ringBytes)}: not compared`;
  }
  return regressionCount === 0
    ? `baseline ${path}: no consumer dropped at a rate it held there`
    : null;
}
