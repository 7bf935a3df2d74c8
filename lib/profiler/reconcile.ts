/**
 * Reconciliation: what the kernel produced must equal what we consumed plus
 * what was dropped, exactly. Any difference is an error, never a warning.
 *
 * @example
 * ```ts
 * import { reconcile } from "./reconcile.ts";
 * const r = reconcile({
 *   samplesSeen: 10, eventsSubmitted: 8, reserveFailed: 0, idleSkipped: 2,
 *   filtered: 0, userStackTruncated: 0, kernelStackTruncated: 0,
 *   stackCollisions: 0, userStackErrors: 0, kernelStackErrors: 0,
 * }, { events: 8, discarded: 0, malformed: 0 });
 * console.log(r.ok, r.line); // true "reconciled: ..."
 * ```
 * @module
 */
import type { ProfilerCounters } from "../bpf/profiler_object.ts";

/** What the consumer counted. */
export interface ConsumedCounts {
  events: number;
  discarded: number;
  malformed: number;
}

/** The result of reconciling kernel counters with consumed events. */
export interface Reconciliation {
  /** True only if every equation holds and nothing was dropped. */
  ok: boolean;
  /** True if every equation holds (drops may be > 0 and still balance). */
  balanced: boolean;
  produced: number;
  consumed: number;
  dropped: number;
  /** Human-readable problems; empty when ok. */
  problems: string[];
  /** One line for humans. */
  line: string;
}

/** Checks the counters against what was consumed. */
export function reconcile(
  k: ProfilerCounters,
  c: ConsumedCounts,
): Reconciliation {
  const problems: string[] = [];
  const accounted = k.idleSkipped + k.filtered + k.reserveFailed +
    k.eventsSubmitted;
  if (k.samplesSeen !== accounted) {
    problems.push(
      `kernel samples seen ${k.samplesSeen} != idle ${k.idleSkipped} + filtered ${k.filtered} + dropped ${k.reserveFailed} + submitted ${k.eventsSubmitted} (${accounted})`,
    );
  }
  if (c.events !== k.eventsSubmitted) {
    problems.push(
      `consumed ${c.events} events but the kernel submitted ${k.eventsSubmitted} (${
        c.events - k.eventsSubmitted > 0 ? "+" : ""
      }${c.events - k.eventsSubmitted})`,
    );
  }
  if (c.discarded !== 0) {
    problems.push(`${c.discarded} discarded records in the ring`);
  }
  if (c.malformed !== 0) {
    problems.push(`${c.malformed} malformed records in the ring`);
  }
  const balanced = problems.length === 0;
  if (k.reserveFailed !== 0) {
    problems.push(
      `${k.reserveFailed} events dropped: the ring buffer was full`,
    );
  }
  const ok = problems.length === 0;
  const line = `${ok ? "reconciled" : "NOT RECONCILED"}: produced ${
    k.eventsSubmitted + k.reserveFailed
  } = consumed ${c.events} + dropped ${k.reserveFailed}; samples ${k.samplesSeen} = events ${k.eventsSubmitted} + dropped ${k.reserveFailed} + idle ${k.idleSkipped} + filtered ${k.filtered}${
    ok ? "" : ` (${problems.join("; ")})`
  }`;
  return {
    ok,
    balanced,
    produced: k.eventsSubmitted + k.reserveFailed,
    consumed: c.events,
    dropped: k.reserveFailed,
    problems,
    line,
  };
}
