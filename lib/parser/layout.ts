/**
 * The ProfileEvent wire format as TypeScript constants.
 *
 * The one definition is `ebpf/profile_event.h`; `tests/layout_test.ts`
 * compiles that header and checks every number here (and in the WASM parser's
 * `parser-wasm/assembly/layout.ts`) against it.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { EVENT_SIZE, RECORD_SIZE } from "./layout.ts";
 * assert.equal(EVENT_SIZE, 32);
 * assert.equal(RECORD_SIZE, 40);
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
  /** The user stack filled every slot: only the innermost frames kept. */
  USER_TRUNCATED: 1 << 0,
  /** The kernel stack filled every slot. */
  KERNEL_TRUNCATED: 1 << 1,
  /** bpf_get_stack() failed for the user stack (negative errno in the field). */
  USER_STACK_ERROR: 1 << 3,
  /** bpf_get_stack() failed for the kernel stack. */
  KERNEL_STACK_ERROR: 1 << 4,
  /** The record carries the frames after the event (counts in the id fields). */
  FRAMES: 1 << 5,
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
  "userStackErrors",
  "kernelStackErrors",
  "userStackEmpty",
  "kernelStackEmpty",
  "userFrames",
  "kernelFrames",
] as const;

/** Size of `struct profiler_counters` in bytes. */
export const COUNTERS_SIZE = COUNTER_FIELDS.length * 8;

/** Byte offsets of `struct profiler_config`. */
export const CONFIG_OFFSETS = {
  targetPid: 0,
  skipIdle: 4,
  collectStacks: 8,
  targetTid: 12,
} as const;

/** Size of `struct profiler_config` in bytes. */
export const CONFIG_SIZE = 16;

/** Names of the objects inside `profiler.bpf.o` and `stress.bpf.o`. */
export const BPF_NAMES = {
  program: "on_cpu_sample",
  ringbuf: "events",
  counters: "counters",
  rodata: "profiler.rodata",
  stressProgram: "on_sys_enter",
  stressRodata: "stress.rodata",
} as const;

/** Frames kept per stack (`PROFILER_STACK_DEPTH`). */
export const STACK_DEPTH = 127;

/** Largest record payload: the event and two full stacks. */
export const RECORD_MAX = EVENT_SIZE + 2 * STACK_DEPTH * 8;

/**
 * The parser module's own interface: statistics word indexes, stop
 * reasons, sinks, per-CPU state and table entry layouts, and the stack id
 * sentinels, under the names `parser-wasm/assembly/layout.ts` gives them
 * (`tests/layout_test.ts` checks every value against that file). Stack ids
 * are u32 there; read as i32 the sentinels are -1, -2, -3.
 */
export const MODULE_ABI = {
  ST_EVENTS: 0,
  ST_DISCARDED: 1,
  ST_MALFORMED: 2,
  ST_STOP: 3,
  ST_CONSUMED: 4,
  ST_OUT_OF_ORDER: 5,
  ST_CPUS_TOUCHED: 6,
  ST_BAD_CPU: 7,
  ST_SHORT: 8,
  ST_LONG: 9,
  ST_PAST_END: 10,
  ST_BATCH_WRITTEN: 11,
  ST_NO_FRAMES: 12,
  ST_USER_RESOLVED: 13,
  ST_USER_TRUNCATED: 14,
  ST_USER_EMPTY: 15,
  ST_USER_FAULT: 16,
  ST_KERNEL_RESOLVED: 17,
  ST_KERNEL_TRUNCATED: 18,
  ST_KERNEL_EMPTY: 19,
  ST_KERNEL_FAULT: 20,
  ST_USER_FRAMES: 21,
  ST_KERNEL_FRAMES: 22,
  STATS_WORDS: 32,
  STOP_END: 0,
  STOP_BUSY: 1,
  STOP_PAST_END: 2,
  STOP_BATCH_FULL: 3,
  STOP_TABLES_FULL: 4,
  SINK_RING: 1,
  SINK_BATCH: 2,
  SINK_AGGREGATE: 4,
  CPU_STATE_SIZE: 16,
  CS_LAST_TS: 0,
  CS_COUNTS: 8,
  CS_OUT_OF_ORDER: 12,
  STACK_ID_EMPTY: 0xffffffff,
  STACK_ID_FAULT: 0xfffffffe,
  STACK_ID_NOT_COLLECTED: 0xfffffffd,
  STACK_ENTRY_SIZE: 16,
  SE_HASH: 0,
  SE_FIRST: 4,
  SE_FRAMES: 8,
  SE_PID: 12,
  AGG_ENTRY_SIZE: 32,
  AG_PID: 0,
  AG_TID: 4,
  AG_CPU: 8,
  AG_USER_STACK: 12,
  AG_KERNEL_STACK: 16,
  AG_SAMPLES: 20,
  AG_HASH: 24,
  MAX_CPUS: 1024,
} as const;

/**
 * Stack ids below zero (as i32) in the events the parser hands on: why an
 * event has no stack of that kind.
 */
export const StackId = {
  /** No frames: a kernel thread's user stack, a user-mode sample's kernel stack. */
  EMPTY: MODULE_ABI.STACK_ID_EMPTY | 0,
  /** The kernel could not walk the stack. */
  FAULT: MODULE_ABI.STACK_ID_FAULT | 0,
  /** The record carried no frames (stacks off, or the stress source). */
  NOT_COLLECTED: MODULE_ABI.STACK_ID_NOT_COLLECTED | 0,
} as const;
