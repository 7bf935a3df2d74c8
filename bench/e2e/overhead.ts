/**
 * Section 2 of `bench:e2e`, overhead: 10 kHz sampling on every CPU while
 * streamprof-burn keeps them busy; each consumer's CPU as a share of one
 * core, over its whole run (its own getrusage) and in the steady state
 * (every thread's schedstat, start-up excluded).
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
  sampleCpuNs,
  WatchedProcess,
  withBusyCpus,
} from "./consumers.ts";
import type { Options } from "./options.ts";

/** The sampling rate of this section, per CPU. */
const OVERHEAD_FREQ = 10_000;
/** Start-up and JIT warm-up left out of the steady figure. */
const STEADY_AFTER_MS = 1500;

/** One consumer's row. */
export interface OverheadRow {
  consumer: string;
  eventsPerS: number;
  drops: number;
  reconciled: boolean;
  /** Consumer CPU from attach to the end of the drain (its own JSON). */
  cpuPercent: number;
  /**
   * Consumer CPU in the steady state: all its threads, from 1.5 s after
   * the start to its last sample (start-up and JIT warm-up excluded).
   */
  steadyCpuPercent: number;
  cpuNsPerEvent: number;
  detail: string;
  /** Why the run gave no valid figure (see consumerFailure), or null. */
  failure: string | null;
}

/** Steady-state CPU % of a running process, sampled every 250 ms. */
async function steadyCpu(
  proc: WatchedProcess,
  skipMs: number,
): Promise<number> {
  const t0 = performance.now();
  let first: { t: number; ns: number } | null = null;
  let last: { t: number; ns: number } | null = null;
  const timer = setInterval(() => {
    const ns = sampleCpuNs(proc.pid);
    const t = performance.now();
    if (ns === null || t - t0 < skipMs) return;
    if (!first) first = { t, ns };
    else last = { t, ns };
  }, 250);
  await proc.result();
  clearInterval(timer);
  const a = first as { t: number; ns: number } | null;
  const b = last as { t: number; ns: number } | null;
  return a && b && b.t > a.t ? (b.ns - a.ns) / ((b.t - a.t) * 1e6) * 100 : NaN;
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
        }),
        (o.overheadS + 60) * 1000,
      );
      const steady = await steadyCpu(proc, STEADY_AFTER_MS);
      const result = await proc.result();
      const json = result.json;
      const row: OverheadRow = {
        consumer: c.id,
        eventsPerS: Number(json?.events_per_s ?? 0),
        drops: Number(json?.drops ?? 0),
        reconciled: json?.reconciled === true,
        cpuPercent: cpuPercentOf(json),
        steadyCpuPercent: steady,
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
      "steady: all threads' schedstat from 1.5 s after launch to the end.",
  );
}
