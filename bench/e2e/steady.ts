/**
 * The rate ladder's steady-state comparison: at each rate, every
 * consumer's CPU per event in its steady window (cpu_costs.ts), the best C
 * consumer's, and the Deno consumer's over it; and per consumer what the
 * window leaves out: start-up, the Deno consumer's resolution, and the
 * total per event with both in.
 *
 * A step's steady figure counts when the consumer kept up: it dropped
 * nothing and reconciled ("held", or "not reached" when the generator fell
 * short of the rate with it attached), and its window consumed events. A
 * consumer that dropped, failed or was skipped has no figure at that rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { steadyRows } from "./steady.ts";
 * const costs = (ns: number) => ({ startupCpuNs: 1e6, resolveCpuNs: null, totalCpuNs: 2e6,
 *   totalNsPerEvent: 2 * ns, steady: { fromS: 1, toS: 3, events: 1000, cpuNs: 1000 * ns,
 *   threadsCpuNs: 1000 * ns, nsPerEvent: ns } });
 * const step = (consumer: string, ns: number) => ({ consumer, rate: 1000, status: "held" as const,
 *   achievedRate: 1000, consumed: 3000, drops: 0, reconciled: true, consumerCpuNs: 0,
 *   cpuNsPerEvent: 0, cpuPercent: 0, costs: costs(ns), detail: "" });
 * const consumers = [{ id: "deno-wasm", family: "deno" as const },
 *   { id: "c-libbpf", family: "c" as const }, { id: "c-wasm2c", family: "c" as const }];
 * const [row] = steadyRows([1000], consumers,
 *   [step("deno-wasm", 60), step("c-libbpf", 900), step("c-wasm2c", 40)]);
 * assert.deepEqual(row.bestC, { consumer: "c-wasm2c", nsPerEvent: 40 });
 * assert.equal(row.denoOverBestC, 1.5);
 * ```
 * @module
 */
import { median } from "../../lib/common/stats.ts";
import { formatTable } from "../../lib/report/table.ts";
import { type Consumer, DENO_CONSUMER, type StressStep } from "./consumers.ts";
import { formatRate } from "./report.ts";

/** The consumers as the comparison needs them. */
type ConsumerKind = Pick<Consumer, "id" | "family">;

/** One rate of the comparison. */
export interface SteadyRow {
  rate: number;
  /** Steady ns/event by consumer id; null: no figure at this rate. */
  nsPerEvent: Record<string, number | null>;
  /** Consumers whose figure is from a step the generator fell short in. */
  notReached: string[];
  /** The C consumer with the lowest figure here (null: none has one). */
  bestC: { consumer: string; nsPerEvent: number } | null;
  /** The Deno consumer's ({@link DENO_CONSUMER}) figure over bestC's. */
  denoOverBestC: number | null;
}

/** What the steady window leaves out, per consumer. */
export interface CostRow {
  consumer: string;
  /** Spawn to attach, median over the steps that ran (ns). */
  startupCpuNs: number | null;
  /** Resolution after the run, median over the steps that ran (ns). */
  resolveCpuNs: number | null;
  /** Spawn to the end, resolution included, per consumed event. */
  totals: { rate: number; nsPerEvent: number | null }[];
}

/**
 * A step's steady ns/event if it counts (kept up, events in the window),
 * else null.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { steadyFigure } from "./steady.ts";
 * const steady = { fromS: 1, toS: 2, events: 10, cpuNs: 500, threadsCpuNs: 500, nsPerEvent: 50 };
 * const costs = { startupCpuNs: 0, resolveCpuNs: null, totalCpuNs: 0, totalNsPerEvent: 0, steady };
 * const step = { consumer: "c", rate: 1, status: "held" as const, achievedRate: 1, consumed: 10,
 *   drops: 0, reconciled: true, consumerCpuNs: 0, cpuNsPerEvent: 0, cpuPercent: 0, costs, detail: "" };
 * assert.equal(steadyFigure(step), 50);
 * assert.equal(steadyFigure({ ...step, status: "dropped", drops: 3 }), null);
 * ```
 */
export function steadyFigure(s: StressStep): number | null {
  if (s.status !== "held" && s.status !== "not reached") return null;
  return s.costs.steady?.nsPerEvent ?? null;
}

/** The comparison at each of `rates`. */
export function steadyRows(
  rates: number[],
  consumers: ConsumerKind[],
  steps: StressStep[],
): SteadyRow[] {
  return rates.map((rate) => {
    const nsPerEvent: Record<string, number | null> = {};
    const notReached: string[] = [];
    let bestC: SteadyRow["bestC"] = null;
    for (const c of consumers) {
      const s = steps.find((x) => x.consumer === c.id && x.rate === rate);
      const ns = s ? steadyFigure(s) : null;
      nsPerEvent[c.id] = ns;
      if (ns !== null && s?.status === "not reached") notReached.push(c.id);
      if (
        ns !== null && c.family === "c" && (!bestC || ns < bestC.nsPerEvent)
      ) {
        bestC = { consumer: c.id, nsPerEvent: ns };
      }
    }
    const deno = nsPerEvent[DENO_CONSUMER] ?? null;
    return {
      rate,
      nsPerEvent,
      notReached,
      bestC,
      denoOverBestC: deno !== null && bestC ? deno / bestC.nsPerEvent : null,
    };
  });
}

/** The median of the non-null values; null if there is none. */
function medianOf(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? median(v) : null;
}

/**
 * Start-up, resolution and totals per consumer, over the steps it ran
 * (failed steps included when they said: a start-up is a start-up).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { costRows } from "./steady.ts";
 * const costs = (startup: number) => ({ startupCpuNs: startup, resolveCpuNs: 5e6,
 *   totalCpuNs: 0, totalNsPerEvent: 300, steady: null });
 * const step = (rate: number, startup: number) => ({ consumer: "deno-wasm", rate,
 *   status: "held" as const, achievedRate: rate, consumed: 1, drops: 0, reconciled: true,
 *   consumerCpuNs: 0, cpuNsPerEvent: 0, cpuPercent: 0, costs: costs(startup), detail: "" });
 * const [row] = costRows([1000, 2000, 4000], [{ id: "deno-wasm", family: "deno" }],
 *   [step(1000, 60e6), step(2000, 80e6)]);
 * assert.equal(row.startupCpuNs, 70e6);
 * assert.deepEqual(row.totals.map((t) => t.nsPerEvent), [300, 300, null]);
 * ```
 */
export function costRows(
  rates: number[],
  consumers: ConsumerKind[],
  steps: StressStep[],
): CostRow[] {
  return consumers.map((c) => {
    const mine = steps.filter((s) => s.consumer === c.id);
    return {
      consumer: c.id,
      startupCpuNs: medianOf(mine.map((s) => s.costs.startupCpuNs)),
      resolveCpuNs: medianOf(mine.map((s) => s.costs.resolveCpuNs)),
      totals: rates.map((rate) => ({
        rate,
        nsPerEvent: mine.find((s) => s.rate === rate)?.costs.totalNsPerEvent ??
          null,
      })),
    };
  });
}

/** A steady table cell: the figure, or why there is none. */
function cell(s: StressStep | undefined, ns: number | null): string {
  if (!s) return "skipped";
  if (ns === null) {
    return s.status === "held" || s.status === "not reached"
      ? "no window"
      : s.status;
  }
  return `${ns.toFixed(1)}${s.status === "not reached" ? "*" : ""}`;
}

const ms = (ns: number | null) => ns === null ? "-" : (ns / 1e6).toFixed(1);

/** Prints the steady table and the start-up / resolution / total table. */
export function printSteady(
  warmupS: number,
  consumers: ConsumerKind[],
  steps: StressStep[],
  rows: SteadyRow[],
  costs: CostRow[],
): void {
  console.log(
    `\n## 1b. Steady-state CPU ns per event (window: ${warmupS} s after attach to the end of the generator's run)\n`,
  );
  console.log(formatTable(
    [
      "rate/s",
      ...consumers.map((c) => c.id),
      "best C",
      `${DENO_CONSUMER} / best C`,
    ],
    rows.map((r) => [
      formatRate(r.rate),
      ...consumers.map((c) =>
        cell(
          steps.find((s) => s.consumer === c.id && s.rate === r.rate),
          r.nsPerEvent[c.id],
        )
      ),
      r.bestC ? r.bestC.consumer : "-",
      r.denoOverBestC === null ? "-" : `${r.denoOverBestC.toFixed(2)}x`,
    ]),
  ));
  console.log(
    "\nEvery thread's CPU (getrusage) over the events consumed in the window, both read by the consumer\n" +
      "at the same point between two polls; start-up, the drain and resolution are not in it.\n" +
      "* the generator fell short of the rate with this consumer attached.",
  );
  console.log(
    "\n## 1c. Outside the window: start-up, resolution, and the total per event\n",
  );
  console.log(formatTable(
    [
      "consumer",
      "start-up CPU ms (spawn to attach)",
      "resolution CPU ms",
      ...rows.map((r) => `total ns/ev ${formatRate(r.rate)}`),
    ],
    costs.map((c) => [
      c.consumer,
      ms(c.startupCpuNs),
      ms(c.resolveCpuNs),
      ...c.totals.map((t) =>
        t.nsPerEvent === null ? "-" : t.nsPerEvent.toFixed(1)
      ),
    ]),
  ));
  console.log(
    "\nstart-up and resolution: medians over the consumer's steps; total: its CPU from spawn to the end\n" +
      "of its work (start-up, run, drain and resolution) over every event it consumed.",
  );
}
