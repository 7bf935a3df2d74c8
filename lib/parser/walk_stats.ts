/**
 * What one walk over a BPF ring buffer record stream found.
 *
 * @example
 * ```ts
 * import type { WalkStats } from "./walk_stats.ts";
 * import { ProfileParser } from "./wasm_parser.ts";
 * const parser = await ProfileParser.create();
 * const s: WalkStats = parser.walk(new Uint8Array(0));
 * console.log(s.stop, s.events); // "end" 0
 * ```
 * @module
 */

/** Why a walk stopped before the end of the data (or `end` if it did not). */
export type StopReason = "end" | "busy" | "past-end" | "batch-full";

/** The stop reasons in the order the WASM module numbers them. */
export const STOP_REASONS: readonly StopReason[] = [
  "end",
  "busy",
  "past-end",
  "batch-full",
];

/** Per-CPU statistics of one batch. */
export interface CpuBatchStats {
  /** Events of this CPU in the batch. */
  events: number;
  /** Events whose timestamp was lower than the previous one of this CPU. */
  outOfOrder: number;
}

/** Statistics of one batch, computed while decoding. */
export interface WalkStats {
  /** Committed 32-byte events decoded. */
  events: number;
  /** Records the producer discarded (DISCARD bit), skipped. */
  discarded: number;
  /** shortRecords + longRecords + pastEnd. */
  malformed: number;
  /** Committed records shorter than an event, skipped. */
  shortRecords: number;
  /** Committed records longer than an event, skipped. */
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
}
