/**
 * Reconciliation: what the kernel produced must equal what we consumed plus
 * what was dropped, exactly, and every stack of every consumed sample must
 * be accounted for by one named outcome, the same count on both sides. Any
 * difference is an error, never a warning.
 *
 * Two words, kept apart: *balanced* means every equation holds (the books
 * are exact); *lossless* means nothing was dropped. A run with drops can be
 * balanced (we know exactly what was lost) but is never lossless, and only
 * a balanced, lossless run is `ok`.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { zeroCounters } from "../bpf/profiler_object.ts";
 * import { emptyConsumed, reconcile } from "./reconcile.ts";
 * const r = reconcile(
 *   { ...zeroCounters(), samplesSeen: 10, eventsSubmitted: 8, idleSkipped: 2 },
 *   { ...emptyConsumed(), events: 8, noFrames: 8 },
 * );
 * assert.ok(r.ok);
 * assert.match(r.line, /^reconciled: produced 8 = consumed 8 \+ dropped 0/);
 * ```
 * @module
 */
import type { ProfilerCounters } from "../bpf/profiler_object.ts";
import type { StackOutcomes } from "../parser/walk_stats.ts";
import { formatCount } from "../common/format.ts";

/** What the consumer counted (the reader's totals carry these). */
export interface ConsumedCounts {
  events: number;
  discarded: number;
  malformed: number;
  /** Events whose records carried no frames. */
  noFrames: number;
  userStacks: StackOutcomes;
  kernelStacks: StackOutcomes;
  userFrames: number;
  kernelFrames: number;
}

/** Consumed counts that are all zero. */
export function emptyConsumed(): ConsumedCounts {
  const none = () => ({ resolved: 0, truncated: 0, empty: 0, fault: 0 });
  return {
    events: 0,
    discarded: 0,
    malformed: 0,
    noFrames: 0,
    userStacks: none(),
    kernelStacks: none(),
    userFrames: 0,
    kernelFrames: 0,
  };
}

/** The accounting of one stack kind over the consumed samples. */
export interface StackAccount {
  /** Samples the account covers: the consumed events that carried frames. */
  samples: number;
  /** Stacks with frames, whole. */
  resolved: number;
  /** Stacks with frames, cut at the depth (kept, flagged). */
  truncated: number;
  /**
   * No frames: for user stacks a kernel thread (no user code to show), for
   * kernel stacks a sample taken in user mode (absent, not a loss).
   */
  empty: number;
  /** The kernel could not walk the stack: lost. */
  fault: number;
  /** Lost to a stack-map bucket collision: always 0, no stack map is used. */
  collision: 0;
  /** Lost to a full stack store: always 0, frames travel in the record. */
  storageFull: 0;
  /** Stacks lost (fault + collision + storage full). */
  lost: number;
}

/** The result of reconciling kernel counters with consumed events. */
export interface Reconciliation {
  /** Balanced and lossless: the run proves nothing was lost. */
  ok: boolean;
  /** Every equation holds (drops may be > 0 and still balance). */
  balanced: boolean;
  /** Nothing was dropped. */
  lossless: boolean;
  produced: number;
  consumed: number;
  dropped: number;
  /** Stack accounting; null when no record carried frames. */
  stacks: { user: StackAccount; kernel: StackAccount } | null;
  /** Human-readable problems; empty when ok. */
  problems: string[];
  /** One line for humans: the events. */
  line: string;
  /** One line for humans: the stacks ("" when none were collected). */
  stackLine: string;
}

function account(o: StackOutcomes, samples: number): StackAccount {
  return {
    samples,
    ...o,
    collision: 0,
    storageFull: 0,
    lost: o.fault,
  };
}

/**
 * The stack half of the books: every consumed event with frames has
 * exactly one outcome per stack kind (resolved, truncated, empty or fault),
 * and the truncated, fault and empty counts and the frames summed equal
 * the kernel's. Returns the problems, none when they hold. {@link
 * reconcile} applies it to the reader's totals; a consumer that tallies the
 * events it was handed can apply it to its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { zeroCounters } from "../bpf/profiler_object.ts";
 * import { emptyConsumed, stackProblems } from "./reconcile.ts";
 * const consumed = { ...emptyConsumed(), events: 2, userFrames: 6 };
 * consumed.userStacks.resolved = 2;
 * consumed.kernelStacks.empty = 2;
 * const kernel = { ...zeroCounters(), userFrames: 6, kernelStackEmpty: 2 };
 * assert.deepEqual(stackProblems(kernel, consumed), []);
 * assert.match(stackProblems({ ...kernel, userFrames: 7 }, consumed)[0], /user stack frames: consumed 6, the kernel counted 7/);
 * ```
 */
export function stackProblems(
  kernel: ProfilerCounters,
  consumed: Pick<
    ConsumedCounts,
    | "events"
    | "noFrames"
    | "userStacks"
    | "kernelStacks"
    | "userFrames"
    | "kernelFrames"
  >,
): string[] {
  const problems: string[] = [];
  const withFrames = consumed.events - consumed.noFrames;
  const kinds = [
    [
      "user",
      consumed.userStacks,
      kernel.userStackTruncated,
      kernel.userStackErrors,
      kernel.userStackEmpty,
      consumed.userFrames,
      kernel.userFrames,
    ],
    [
      "kernel",
      consumed.kernelStacks,
      kernel.kernelStackTruncated,
      kernel.kernelStackErrors,
      kernel.kernelStackEmpty,
      consumed.kernelFrames,
      kernel.kernelFrames,
    ],
  ] as const;
  for (const [kind, o, kTrunc, kFault, kEmpty, cFrames, kFrames] of kinds) {
    const sum = o.resolved + o.truncated + o.empty + o.fault;
    if (sum !== withFrames) {
      problems.push(
        `${kind} stacks: ${o.resolved} resolved + ${o.truncated} truncated + ${o.empty} empty + ${o.fault} faults = ${sum}, but ${withFrames} samples carried frames`,
      );
    }
    for (
      const [what, mine, theirs] of [
        ["truncated", o.truncated, kTrunc],
        ["faults", o.fault, kFault],
        ["empty", o.empty, kEmpty],
        ["frames", cFrames, kFrames],
      ] as const
    ) {
      if (mine !== theirs) {
        problems.push(
          `${kind} stack ${what}: consumed ${mine}, the kernel counted ${theirs}`,
        );
      }
    }
  }
  return problems;
}

/** Checks the counters against what was consumed. */
export function reconcile(
  kernel: ProfilerCounters,
  consumed: ConsumedCounts,
): Reconciliation {
  const problems: string[] = [];
  const accounted = kernel.idleSkipped + kernel.filtered +
    kernel.reserveFailed +
    kernel.eventsSubmitted;
  if (kernel.samplesSeen !== accounted) {
    problems.push(
      `kernel samples seen ${kernel.samplesSeen} != idle ${kernel.idleSkipped} + filtered ${kernel.filtered} + dropped ${kernel.reserveFailed} + submitted ${kernel.eventsSubmitted} (${accounted})`,
    );
  }
  if (consumed.events !== kernel.eventsSubmitted) {
    problems.push(
      `consumed ${consumed.events} events but the kernel submitted ${kernel.eventsSubmitted} (${
        consumed.events - kernel.eventsSubmitted > 0 ? "+" : ""
      }${consumed.events - kernel.eventsSubmitted})`,
    );
  }
  if (consumed.discarded !== 0) {
    problems.push(`${consumed.discarded} discarded records in the ring`);
  }
  if (consumed.malformed !== 0) {
    problems.push(`${consumed.malformed} malformed records in the ring`);
  }
  // Stacks: every consumed event with frames is in exactly one bucket per
  // kind, and each bucket the kernel counted has the same count here.
  const withFrames = consumed.events - consumed.noFrames;
  let stacks: Reconciliation["stacks"] = null;
  if (withFrames > 0 || kernel.userFrames + kernel.kernelFrames > 0) {
    problems.push(...stackProblems(kernel, consumed));
    stacks = {
      user: account(consumed.userStacks, withFrames),
      kernel: account(consumed.kernelStacks, withFrames),
    };
  }
  const balanced = problems.length === 0;
  const lossless = kernel.reserveFailed === 0;
  if (!lossless) {
    problems.push(
      `${kernel.reserveFailed} events dropped: the ring buffer was full`,
    );
  }
  const ok = balanced && lossless;
  const n = formatCount;
  const produced = kernel.eventsSubmitted + kernel.reserveFailed;
  const verdict = ok
    ? "reconciled"
    : balanced
    ? "balanced but LOSSY"
    : "NOT RECONCILED";
  const equation = `produced ${n(produced)} = consumed ${
    n(consumed.events)
  } + dropped ${n(kernel.reserveFailed)}`;
  const tail = ok
    ? " (exact, nothing lost)"
    : balanced
    ? ` (exact; ${
      n(kernel.reserveFailed)
    } events dropped: the ring buffer was full)`
    : ` (${problems.join("; ")})`;
  const line = `${verdict}: ${equation}; samples ${
    n(kernel.samplesSeen)
  } = events ${n(kernel.eventsSubmitted)} + dropped ${
    n(kernel.reserveFailed)
  } + idle ${n(kernel.idleSkipped)} + filtered ${n(kernel.filtered)}${tail}`;
  return {
    ok,
    balanced,
    lossless,
    produced,
    consumed: consumed.events,
    dropped: kernel.reserveFailed,
    stacks,
    problems,
    line,
    stackLine: stacks ? stackLine(stacks) : "",
  };
}

/** The stack accounting as one line. */
function stackLine(s: NonNullable<Reconciliation["stacks"]>): string {
  const n = formatCount;
  const u = s.user;
  const k = s.kernel;
  return `stacks of ${n(u.samples)} samples: user ${n(u.resolved)} resolved + ${
    n(u.truncated)
  } truncated (kept) + ${n(u.empty)} kernel threads + ${
    n(u.fault)
  } faults; kernel ${n(k.resolved)} resolved + ${n(k.truncated)} truncated + ${
    n(k.empty)
  } in user mode + ${n(k.fault)} faults; lost ${
    n(u.lost + k.lost)
  } (0 to collisions or a full stack store: frames travel in each record)`;
}
