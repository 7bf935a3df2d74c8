/**
 * Section 1 of `bench:e2e`, the rate ladder: the maximum sustained zero-drop
 * rate of each consumer. A generator makes system calls at each rate of
 * --rates (one ring event per call, stress.bpf.o) for --step-duration, once
 * per consumer, same ring size; a step is "held" when nothing was dropped,
 * the run reconciled exactly and the generator reached 90% of the rate. A
 * consumer that dropped is not tried at higher rates. Per consumer: the
 * highest held rate and the consumer's CPU ns per event there (whole run);
 * per rate: every consumer's steady-state CPU per event and the Deno
 * consumer's over the best C consumer's, with start-up and resolution
 * reported on their own (steady.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { summarizeRates } from "./rates.ts";
 * const costs = { startupCpuNs: 4e6, steady: null, resolveCpuNs: null, totalCpuNs: 5e6,
 *   totalNsPerEvent: 5000 };
 * const step = { consumer: "c-libbpf", rate: 1000, status: "held" as const, achievedRate: 1000,
 *   consumed: 1000, drops: 0, reconciled: true, consumerCpuNs: 1e6, cpuNsPerEvent: 1000,
 *   cpuPercent: 0.1, costs, detail: "" };
 * const [summary] = summarizeRates(["c-libbpf"], [step]);
 * assert.equal(summary.maxHeldRate, 1000);
 * ```
 * @module
 */
import { formatCount, formatMiB } from "../../lib/common/format.ts";
import { formatTable } from "../../lib/report/table.ts";
import { runStressStep, type StressStep } from "./consumers.ts";
import type { Options } from "./options.ts";
import { formatRate } from "./report.ts";
import {
  type CostRow,
  costRows,
  printSteady,
  type SteadyRow,
  steadyRows,
} from "./steady.ts";

/** One consumer's result on the ladder. */
export interface RateSummary {
  consumer: string;
  maxHeldRate: number;
  cpuNsPerEventAtMax: number;
  achievedAtMax: number;
  maxZeroDropAchieved: number;
}

/**
 * The section's result: every step run, the summary per consumer, the
 * steady comparison per rate and the costs outside the window.
 */
export interface RatesResult {
  steps: StressStep[];
  summary: RateSummary[];
  steady: SteadyRow[];
  costs: CostRow[];
}

/** Summarizes the steps of each consumer in `consumerIds`. */
export function summarizeRates(
  consumerIds: string[],
  steps: StressStep[],
): RateSummary[] {
  return consumerIds.map((id) => {
    const mine = steps.filter((s) => s.consumer === id);
    const held = mine.filter((s) => s.status === "held");
    const top = held.reduce<StressStep | null>(
      (a, s) => (!a || s.rate > a.rate ? s : a),
      null,
    );
    const zeroDrop = mine.filter((s) => s.drops === 0 && s.reconciled);
    return {
      consumer: id,
      maxHeldRate: top?.rate ?? 0,
      cpuNsPerEventAtMax: top?.cpuNsPerEvent ?? 0,
      achievedAtMax: top?.achievedRate ?? 0,
      maxZeroDropAchieved: Math.max(0, ...zeroDrop.map((s) => s.achievedRate)),
    };
  });
}

/** Runs the ladder, logging each step on stderr. */
export async function runRates(o: Options): Promise<RatesResult> {
  const steps: StressStep[] = [];
  // Consumers that dropped: not tried at higher rates.
  const droppedAlready = new Set<string>();
  for (const rate of o.rates) {
    for (const c of o.consumers) {
      if (droppedAlready.has(c.id)) continue;
      const s = await runStressStep(c, rate, o.stepS, o.warmupS, o.ringBytes);
      steps.push(s);
      const steady = s.costs.steady;
      console.error(
        `  ${formatRate(rate).padStart(6)}/s ${c.id.padEnd(16)} ${
          s.status.padEnd(11)
        } ` +
          `achieved ${formatRate(s.achievedRate)}/s, ${s.drops} drops, ` +
          `${s.cpuNsPerEvent.toFixed(1)} ns/event whole run, ${
            steady ? steady.nsPerEvent.toFixed(1) : "-"
          } steady ${s.detail}`,
      );
      if (s.status === "dropped") droppedAlready.add(c.id);
    }
  }
  return {
    steps,
    summary: summarizeRates(o.consumers.map((c) => c.id), steps),
    steady: steadyRows(o.rates, o.consumers, steps),
    costs: costRows(o.rates, o.consumers, steps),
  };
}

/**
 * The consumers the ladder could not measure at all: every step they ran
 * failed (crashed, hung, did not reconcile, or their generator failed).
 */
export function ratesFailures(r: RatesResult): string[] {
  return r.summary.flatMap(({ consumer }) => {
    const mine = r.steps.filter((s) => s.consumer === consumer);
    return mine.length > 0 && mine.every((s) => s.status === "failed")
      ? [`${consumer} failed every step (${mine[0].detail})`]
      : [];
  });
}

/** Deno+WASM's held rate over libbpf's usual consumer's, if both ran. */
export function denoOverLibbpf(r: RatesResult): number | null {
  const deno = r.summary.find((s) => s.consumer === "deno-wasm");
  const libbpf = r.summary.find((s) => s.consumer === "c-libbpf");
  if (!deno || !libbpf) return null;
  return libbpf.maxHeldRate ? deno.maxHeldRate / libbpf.maxHeldRate : Infinity;
}

/** Prints the ladder and the summary tables. */
export function printRates(o: Options, r: RatesResult): void {
  console.log(
    `\n## 1. Zero-drop rate ladder (stress source, ring ${
      formatMiB(o.ringBytes)
    }, ${o.stepS} s per step)\n`,
  );
  const header = ["rate/s", ...o.consumers.map((c) => c.id)];
  const rows = o.rates.map((rate) => [
    formatRate(rate),
    ...o.consumers.map((c) => {
      const s = r.steps.find((x) => x.consumer === c.id && x.rate === rate);
      if (!s) return "skipped";
      const tag = s.status === "held" ? "ok" : s.status;
      return `${tag}, ${s.cpuNsPerEvent.toFixed(1)} ns/ev, ${
        s.cpuPercent.toFixed(1)
      }% CPU${
        s.status === "not reached" ? ` (${formatRate(s.achievedRate)})` : ""
      }${s.drops ? `, ${formatCount(s.drops)} drops` : ""}`;
    }),
  ]);
  console.log(formatTable(header, rows));
  console.log(
    "\nns/ev and % CPU over the whole run: the consumer's getrusage from attach to the end of the drain.\n",
  );
  console.log(formatTable(
    [
      "consumer",
      "max zero-drop rate held",
      "CPU ns/event there",
      "highest 0-drop rate achieved",
    ],
    r.summary.map((s) => [
      s.consumer,
      s.maxHeldRate ? `${formatRate(s.maxHeldRate)}/s` : "none",
      s.maxHeldRate ? s.cpuNsPerEventAtMax.toFixed(1) : "-",
      `${formatRate(s.maxZeroDropAchieved)}/s`,
    ]),
  ));
  const ratio = denoOverLibbpf(r);
  if (ratio !== null) {
    console.log(
      `\nDeno+WASM vs libbpf (ring_buffer__poll): ${
        Number.isFinite(ratio) ? ratio.toFixed(2) : "inf"
      }x the zero-drop rate`,
    );
  }
  printSteady(o.warmupS, o.consumers, r.steps, r.steady, r.costs);
}
