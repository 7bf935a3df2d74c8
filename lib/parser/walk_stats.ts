/**
 * What one walk over a BPF ring buffer record stream found.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import type { WalkStats } from "./walk_stats.ts";
 * import { ProfileParser } from "./wasm_parser.ts";
 * const parser = await ProfileParser.create();
 * const s: WalkStats = parser.walk(new Uint8Array(0));
 * assert.equal(s.stop, "end");
 * assert.equal(s.events, 0);
 * ```
 * @module
 */

/** Why a walk stopped before the end of the data (or `end` if it did not). */
export type StopReason =
  | "end"
  | "busy"
  | "past-end"
  | "batch-full"
  | "tables-full";

/**
 * The stop reasons in the order the WASM module numbers them (STOP_* in
 * layout.ts; the layout test checks the order).
 */
export const STOP_REASONS: readonly StopReason[] = [
  "end",
  "busy",
  "past-end",
  "batch-full",
  "tables-full",
];

/**
 * What became of one kind of stack (user or kernel) in the events that
 * carried frames: every such event lands in exactly one bucket.
 */
export interface StackOutcomes {
  /** Frames kept, the whole stack. */
  resolved: number;
  /** Frames kept, but the stack filled every slot (innermost frames only). */
  truncated: number;
  /**
   * No frames. For user stacks: a kernel thread (a loss of nothing, but no
   * user code to show). For kernel stacks: sampled in user mode (absent).
   */
  empty: number;
  /** The kernel could not walk this stack (bpf_get_stack() failed). */
  fault: number;
}

/** Per-CPU statistics of one batch. */
export interface CpuBatchStats {
  /** Events of this CPU in the batch. */
  events: number;
  /** Events whose timestamp was lower than the previous one of this CPU. */
  outOfOrder: number;
}

/** Statistics of one batch, computed while decoding. */
export interface WalkStats {
  /** Committed events decoded (with or without frames). */
  events: number;
  /** Records the producer discarded (DISCARD bit), skipped. */
  discarded: number;
  /** shortRecords + longRecords + pastEnd. */
  malformed: number;
  /** Committed records shorter than an event (or than its frame counts say), skipped. */
  shortRecords: number;
  /**
   * Committed records longer than they should be, skipped: a plain event
   * record over 32 bytes, or a record with frames whose length is not
   * 32 + 8 x (user + kernel frames) or whose counts exceed the depth.
   */
  longRecords: number;
  /**
   * Records running past the end of the data: a header claiming more bytes
   * than were given, or 1-7 trailing bytes of a cut header (walk stops there).
   */
  pastEnd: number;
  /** Why the walk stopped. */
  stop: StopReason;
  /** Bytes consumed: advance the ring's consumer position by this much. */
  consumed: number;
  /** Events out of timestamp order within their CPU. */
  outOfOrder: number;
  /** Events whose cpu field is beyond the per-CPU table (1024 CPUs). */
  badCpu: number;
  /** Per-CPU counts, keyed by CPU number, for CPUs seen in this batch. */
  perCpu: Map<number, CpuBatchStats>;
  /** Events whose record carried no frames (stacks not collected). */
  noFrames: number;
  /** User stacks of the events with frames, by outcome. */
  userStacks: StackOutcomes;
  /** Kernel stacks of the events with frames, by outcome. */
  kernelStacks: StackOutcomes;
  /** User frames in the events with frames. */
  userFrames: number;
  /** Kernel frames in the events with frames. */
  kernelFrames: number;
}
