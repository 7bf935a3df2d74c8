/**
 * Section 2 of `bench:e2e`, overhead: 10 kHz sampling on every CPU while
 * streamprof-burn keeps them busy; each consumer's CPU as a share of one
 * core, over its whole run (its own getrusage) and in the steady state
 * (the consumer's own steady window from --warmup after attach to the end
 * of its consumption: start-up, drain and the Deno consumer's resolution
 * excluded; see cpu_costs.ts).
 *
 * @example
 * ```ts ignore
 * // ignored: needs root, BPF and the built harness (see bench/e2e/main.ts).
 * import { printOverhead, runOverhead } from "./overhead.ts";
 * printOverhead(options, await runOverhead(options));
 * ```
 * @module
 */
import { formatCount } from "../../lib/common/format.ts";
import { formatTable } from "../../lib/report/table.ts";
import {
  consumerFailure,
  cpuPercentOf,
  WatchedProcess,
  withBusyCpus,
} from "./consumers.ts";
import { runCostsOf, type SteadyWindow } from "./cpu_costs.ts";
import type { Options } from "./options.ts";

/** The sampling rate of this section, per CPU. */
const OVERHEAD_FREQ = 10_000;

/** One consumer's row. */
export interface OverheadRow {
  consumer: string;
  eventsPerS: number;
  drops: number;
  reconciled: boolean;
  /** Consumer CPU from attach to the end of the drain (its own JSON). */
  cpuPercent: number;
  /**
   * Consumer CPU in the steady state: all its threads, from --warmup after
   * attach to the end of its consumption (start-up, JIT warm-up, the drain
   * and resolution excluded); NaN if the run gave no window.
   */
  steadyCpuPercent: number;
  cpuNsPerEvent: number;
  detail: string;
  /** Why the run gave no valid figure (see consumerFailure), or null. */
  failure: string | null;
}

/**
 * A steady window's CPU as a share of one core over its wall time.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { steadyPercent } from "./overhead.ts";
 * const w = { fromS: 1, toS: 3, events: 1000, cpuNs: 20e6, threadsCpuNs: 20e6, nsPerEvent: 2e4 };
 * assert.equal(steadyPercent(w), 1);
 * assert.ok(Number.isNaN(steadyPercent(null)));
 * ```
 */
export function steadyPercent(w: SteadyWindow | null): number {
  return w && w.toS > w.fromS ? w.cpuNs / ((w.toS - w.fromS) * 1e9) * 100 : NaN;
}

/** Runs each consumer in turn at 10 kHz on busy CPUs. */
export function runOverhead(o: Options): Promise<OverheadRow[]> {
  const burnS = o.consumers.length * (o.overheadS + 3) + 10;
  return withBusyCpus(burnS, async () => {
    const rows: OverheadRow[] = [];
    for (const c of o.consumers) {
      const proc = new WatchedProcess(
        c.argv({
          source: "perf",
          freq: OVERHEAD_FREQ,
          durationS: o.overheadS,
          ringBytes: o.ringBytes,
          steadyFromS: o.warmupS,
        }),
        (o.overheadS + 60) * 1000,
      );
      const result = await proc.result();
      const json = result.json;
      const row: OverheadRow = {
        consumer: c.id,
        eventsPerS: Number(json?.events_per_s ?? 0),
        drops: Number(json?.drops ?? 0),
        reconciled: json?.reconciled === true,
        cpuPercent: cpuPercentOf(json),
        steadyCpuPercent: steadyPercent(runCostsOf(json).steady),
        cpuNsPerEvent: Number(json?.cpu_ns_per_event ?? 0),
        detail: result.code === 0
          ? ""
          : `exit ${result.code}: ${result.stderr.slice(-200)}`,
        failure: consumerFailure(result),
      };
      rows.push(row);
      console.error(
        `  10 kHz ${c.id.padEnd(16)} ${
          row.cpuPercent.toFixed(2)
        }% CPU (steady ${row.steadyCpuPercent.toFixed(2)}%), ${
          formatCount(row.eventsPerS)
        } events/s, ${row.drops} drops ${row.detail}`,
      );
    }
    return rows;
  });
}

/** Prints the section's table. */
export function printOverhead(o: Options, rows: OverheadRow[]): void {
  console.log(
    `\n## 2. Overhead: 10 kHz cpu-clock sampling on all ${navigator.hardwareConcurrency} CPUs (busy), ${o.overheadS} s each\n`,
  );
  console.log(formatTable(
    [
      "consumer",
      "events/s",
      "drops",
      "reconciled",
      "CPU % of a core, whole run",
      "CPU % steady",
      "CPU ns/event, whole run",
    ],
    rows.map((r) => [
      r.consumer,
      formatCount(r.eventsPerS),
      String(r.drops),
      r.reconciled ? "yes" : `NO ${r.detail}`,
      r.cpuPercent.toFixed(2),
      r.steadyCpuPercent.toFixed(2),
      r.cpuNsPerEvent.toFixed(0),
    ]),
  ));
  console.log(
    "\nwhole run: getrusage from attach to the end of the drain (start-up after attach included);\n" +
      `steady: the consumer's own window, every thread, from ${o.warmupS} s after attach to the end of its consumption\n` +
      "(start-up, the drain and the Deno consumer's resolution of its profile left out).",
  );
}
