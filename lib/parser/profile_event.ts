/**
 * The ProfileEvent value type and helpers that work on plain objects.
 *
 * @example
 * ```ts
 * import { describeFlags, type ProfileEvent } from "./profile_event.ts";
 * const e: ProfileEvent = {
 *   timestampNs: 1n, pid: 1, tid: 1, userStackId: -14, kernelStackId: 3,
 *   cpu: 0, flags: 8,
 * };
 * console.log(describeFlags(e.flags)); // ["user-stack-error"]
 * ```
 * @module
 */
import { EventFlags } from "./layout.ts";

/** One CPU sample as the BPF program wrote it. */
export interface ProfileEvent {
  /** Nanoseconds since boot (`bpf_ktime_get_ns`), full u64 range. */
  timestampNs: bigint;
  /** Process id (thread group id). */
  pid: number;
  /** Thread id. */
  tid: number;
  /** Stack map id of the user stack, or a negative errno. */
  userStackId: number;
  /** Stack map id of the kernel stack, or a negative errno. */
  kernelStackId: number;
  /** CPU the sample was taken on. */
  cpu: number;
  /** `EventFlags` bits. */
  flags: number;
}

const FLAG_NAMES: ReadonlyArray<[number, string]> = [
  [EventFlags.USER_TRUNCATED, "user-truncated"],
  [EventFlags.KERNEL_TRUNCATED, "kernel-truncated"],
  [EventFlags.STACK_COLLISION, "stack-collision"],
  [EventFlags.USER_STACK_ERROR, "user-stack-error"],
  [EventFlags.KERNEL_STACK_ERROR, "kernel-stack-error"],
];

/**
 * Names the flag bits that are set; unknown bits come out as `bit-N`.
 *
 * @example
 * ```ts
 * import { describeFlags } from "./profile_event.ts";
 * describeFlags(5); // ["user-truncated", "stack-collision"]
 * ```
 */
export function describeFlags(flags: number): string[] {
  const names: string[] = [];
  let rest = flags >>> 0;
  for (const [bit, name] of FLAG_NAMES) {
    if (rest & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  for (let b = 0; b < 32; b++) {
    if (rest & (1 << b)) names.push(`bit-${b}`);
  }
  return names;
}
