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
