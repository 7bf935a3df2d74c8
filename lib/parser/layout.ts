/**
 * The ProfileEvent wire format as TypeScript constants.
 *
 * The one definition is `ebpf/profile_event.h`; `tests/layout_test.ts`
 * compiles that header and checks every number here (and in the WASM parser's
 * `parser-wasm/assembly/layout.ts`) against it.
 *
 * @example
 * ```ts
 * import { EVENT_SIZE, RECORD_SIZE } from "./layout.ts";
 * console.log(EVENT_SIZE, RECORD_SIZE); // 32 40
 * ```
 * @module
 */

/** Size of one ProfileEvent payload in bytes. */
export const EVENT_SIZE = 32;
/** Size of a BPF ring buffer record header (`u32 len; u32 pg_off`). */
export const RECORD_HEADER_SIZE = 8;
/** Bytes one ProfileEvent record takes in the ring: header + payload. */
export const RECORD_SIZE = RECORD_HEADER_SIZE + EVENT_SIZE;
/** `len` bit set while the producer has reserved but not committed a record. */
export const BUSY_BIT = 0x80000000;
/** `len` bit set when the producer discarded the record. */
export const DISCARD_BIT = 0x40000000;

/** Byte offsets of the ProfileEvent fields. */
export const EVENT_OFFSETS = {
  timestampNs: 0,
  pid: 8,
  tid: 12,
  userStackId: 16,
  kernelStackId: 20,
  cpu: 24,
  flags: 28,
} as const;

/** ProfileEvent flag bits (`PE_FLAG_*` in the header). */
export const EventFlags = {
  USER_TRUNCATED: 1 << 0,
  KERNEL_TRUNCATED: 1 << 1,
  STACK_COLLISION: 1 << 2,
  USER_STACK_ERROR: 1 << 3,
  KERNEL_STACK_ERROR: 1 << 4,
} as const;

/** Field names of `struct profiler_counters`, in order (each a u64). */
export const COUNTER_FIELDS = [
  "samplesSeen",
  "eventsSubmitted",
  "reserveFailed",
  "idleSkipped",
  "filtered",
  "userStackTruncated",
  "kernelStackTruncated",
  "stackCollisions",
  "userStackErrors",
  "kernelStackErrors",
] as const;

/** Size of `struct profiler_counters` in bytes. */
export const COUNTERS_SIZE = COUNTER_FIELDS.length * 8;

/** Byte offsets of `struct profiler_config`. */
export const CONFIG_OFFSETS = {
  targetPid: 0,
  skipIdle: 4,
  detectTruncation: 8,
} as const;

/** Size of `struct profiler_config` in bytes. */
export const CONFIG_SIZE = 16;

/** Names of the objects inside `profiler.bpf.o`. */
export const BPF_NAMES = {
  program: "on_cpu_sample",
  ringbuf: "events",
  stacks: "stacks",
  counters: "counters",
  rodata: "profiler.rodata",
} as const;

/** Depth of each stack in the stack trace map. */
export const STACK_DEPTH = 127;
