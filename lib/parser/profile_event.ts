/**
 * The ProfileEvent value type: one CPU sample as a plain object.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import type { ProfileEvent } from "./profile_event.ts";
 * import { EventFlags } from "./layout.ts";
 * const e: ProfileEvent = {
 *   timestampNs: 1n, pid: 1, tid: 1, userStackId: 3, kernelStackId: 0,
 *   cpu: 0, flags: EventFlags.FRAMES,
 * };
 * assert.ok(e.flags & EventFlags.FRAMES);
 * ```
 * @module
 */

/**
 * One CPU sample. On the wire (a ring record with `EventFlags.FRAMES`) the
 * two stack fields count the frames that follow the event, or hold a
 * negative errno; in the events the parser hands on (its batch and ring)
 * they are stack table ids, or a negative `StackId` sentinel.
 */
export interface ProfileEvent {
  /** Nanoseconds since boot (`bpf_ktime_get_ns`), full u64 range. */
  timestampNs: bigint;
  /** Process id (thread group id). */
  pid: number;
  /** Thread id. */
  tid: number;
  /** User stack: frame count on the wire, table id once parsed. */
  userStackId: number;
  /** Kernel stack: frame count on the wire, table id once parsed. */
  kernelStackId: number;
  /** CPU the sample was taken on. */
  cpu: number;
  /** `EventFlags` bits. */
  flags: number;
}
