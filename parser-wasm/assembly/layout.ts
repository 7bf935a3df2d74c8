// The ProfileEvent wire format as the WASM parser sees it. The one definition
// is ebpf/profile_event.h; tests/layout_test.ts compiles that header and
// checks these numbers against it, so a change there fails until it is here.

/** Size of one ProfileEvent payload in bytes. */
export const EVENT_SIZE: u32 = 32;

/** Byte offsets of the fields inside a ProfileEvent. */
export const OFF_TIMESTAMP: u32 = 0;
export const OFF_PID: u32 = 8;
export const OFF_TID: u32 = 12;
export const OFF_USER_STACK: u32 = 16;
export const OFF_KERNEL_STACK: u32 = 20;
export const OFF_CPU: u32 = 24;
export const OFF_FLAGS: u32 = 28;

/**
 * BPF ring buffer record header: `u32 len; u32 pg_off;` then the payload,
 * padded so that the next header is 8-byte aligned (kernel/bpf/ringbuf.c,
 * BPF_RINGBUF_HDR_SZ and round_up(len + BPF_RINGBUF_HDR_SZ, 8)).
 */
export const RECORD_HEADER_SIZE: u32 = 8;
/** Set in `len` while the producer still owns the record (reserved). */
export const BUSY_BIT: u32 = 1 << 31;
/** Set in `len` when the producer discarded the record instead of submitting. */
export const DISCARD_BIT: u32 = 1 << 30;

/** CPUs the per-CPU statistics can tell apart; events beyond are counted. */
export const MAX_CPUS: u32 = 1024;

/** Flag bits of ProfileEvent.flags the walker reads (PE_FLAG_* in the header). */
export const FLAG_USER_TRUNCATED: u32 = 1 << 0;
export const FLAG_KERNEL_TRUNCATED: u32 = 1 << 1;
/** The record carries the stacks' frames after the event. */
export const FLAG_FRAMES: u32 = 1 << 5;
/** Frames per stack at most (PROFILER_STACK_DEPTH). */
export const STACK_DEPTH: u32 = 127;
/** Largest record payload: the event and two full stacks (PROFILE_RECORD_MAX). */
export const RECORD_MAX: u32 = 2064;

// ---------------------------------------------------------------------------
// The module's own interface, named once here. Hosts mirror these by name
// (lib/parser/layout.ts, harness-c/wasm_parser.h) and tests/layout_test.ts
// checks every mirror against this file.

/** Indexes (in u32 words) of the statistics block of the last walk. */
export const ST_EVENTS: u32 = 0;
export const ST_DISCARDED: u32 = 1;
export const ST_MALFORMED: u32 = 2;
export const ST_STOP: u32 = 3;
export const ST_CONSUMED: u32 = 4;
export const ST_OUT_OF_ORDER: u32 = 5;
export const ST_CPUS_TOUCHED: u32 = 6;
export const ST_BAD_CPU: u32 = 7;
export const ST_SHORT: u32 = 8;
export const ST_LONG: u32 = 9;
export const ST_PAST_END: u32 = 10;
export const ST_BATCH_WRITTEN: u32 = 11;
/** Events whose record carries no frames (PE_FLAG_FRAMES clear). */
export const ST_NO_FRAMES: u32 = 12;
/**
 * What became of each stack of the events with frames, one bucket each:
 * resolved (frames kept), truncated (kept, innermost DEPTH frames), empty
 * (0 frames: a kernel thread's user stack, a user-mode sample's kernel
 * stack), fault (the kernel could not walk it).
 */
export const ST_USER_RESOLVED: u32 = 13;
export const ST_USER_TRUNCATED: u32 = 14;
export const ST_USER_EMPTY: u32 = 15;
export const ST_USER_FAULT: u32 = 16;
export const ST_KERNEL_RESOLVED: u32 = 17;
export const ST_KERNEL_TRUNCATED: u32 = 18;
export const ST_KERNEL_EMPTY: u32 = 19;
export const ST_KERNEL_FAULT: u32 = 20;
/** Frames of the walked events, user and kernel. */
export const ST_USER_FRAMES: u32 = 21;
export const ST_KERNEL_FRAMES: u32 = 22;
/** Words in the statistics block. */
export const STATS_WORDS: u32 = 32;

/** Why walk() stopped (the ST_STOP word). */
export const STOP_END: u32 = 0;
export const STOP_BUSY: u32 = 1;
export const STOP_PAST_END: u32 = 2;
export const STOP_BATCH_FULL: u32 = 3;
/** The stack or aggregation tables have no room: cut them, walk again. */
export const STOP_TABLES_FULL: u32 = 4;

/** walk() sinks, OR-ed: where decoded events go. */
export const SINK_RING: u32 = 1;
export const SINK_BATCH: u32 = 2;
export const SINK_AGGREGATE: u32 = 4;

/** Per-CPU state slots: u64 last timestamp, u32 events, u32 out-of-order. */
export const CPU_STATE_SIZE: u32 = 16;
export const CS_LAST_TS: u32 = 0;
export const CS_COUNTS: u32 = 8;
export const CS_OUT_OF_ORDER: u32 = 12;

/**
 * Stack ids the walker writes into the events it hands on (as u32; hosts
 * read them as i32 -1 .. -4). A value below these is an index into the
 * stack table.
 */
export const STACK_ID_EMPTY: u32 = 0xffffffff;
export const STACK_ID_FAULT: u32 = 0xfffffffe;
export const STACK_ID_NOT_COLLECTED: u32 = 0xfffffffd;

/** A stack table entry: u32 hash, u32 first frame, u32 frames, i32 pid (-1: kernel). */
export const STACK_ENTRY_SIZE: u32 = 16;
export const SE_HASH: u32 = 0;
export const SE_FIRST: u32 = 4;
export const SE_FRAMES: u32 = 8;
export const SE_PID: u32 = 12;

/**
 * An aggregation entry: i32 pid, i32 tid, u32 cpu, u32 user stack id,
 * u32 kernel stack id, u32 samples, u32 key hash, 4 bytes reserved.
 */
export const AGG_ENTRY_SIZE: u32 = 32;
export const AG_PID: u32 = 0;
export const AG_TID: u32 = 4;
export const AG_CPU: u32 = 8;
export const AG_USER_STACK: u32 = 12;
export const AG_KERNEL_STACK: u32 = 16;
export const AG_SAMPLES: u32 = 20;
export const AG_HASH: u32 = 24;
