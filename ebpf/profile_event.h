/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The wire format shared by the BPF program (ebpf/profiler.bpf.c), the C
 * harness (harness-c/) and, through tests that compile this header and compare
 * offsets, the WebAssembly parser (parser-wasm/) and the Deno library (lib/).
 *
 * This is the only definition of the layout. Anything that changes here must
 * change in parser-wasm/assembly/layout.ts and lib/parser/layout.ts too; the
 * test tests/layout_test.ts fails until it does.
 *
 * Everything is little-endian (both target architectures, x86_64 and arm64,
 * are) and packed without holes: the natural alignment of every field already
 * gives the offsets below, so no packing attribute is needed.
 */
#ifndef STREAMPROF_PROFILE_EVENT_H
#define STREAMPROF_PROFILE_EVENT_H

#ifdef __BPF__
/* The BPF side gets the fixed-width types from its own includes. */
#else
/*
 * User space uses the kernel's own definitions: typedefs of our own would
 * clash with <linux/types.h> (__u64 is unsigned long long there, uint64_t is
 * unsigned long on LP64), which every program that also includes
 * <linux/perf_event.h> or libbpf's <bpf/bpf.h> pulls in.
 */
#include <linux/types.h>
#endif

/*
 * One CPU sample: exactly 32 bytes, the head of every ring buffer record.
 *
 * With PE_FLAG_FRAMES set (the profiler's default), the sample's stacks
 * follow the event in the same record: user_stack_id holds the number of
 * user frames (u64 instruction pointers, innermost first) that come right
 * after the 32 bytes, kernel_stack_id the number of kernel frames after
 * those, or a negative errno when the kernel could not walk that stack. The
 * record's payload is then exactly 32 + 8 * (user + kernel) bytes.
 *
 * Carrying the frames in the record, rather than an id into a
 * BPF_MAP_TYPE_STACK_TRACE map, is what makes stacks exact: a stack map
 * loses a stack whenever two stacks hash to one bucket (-EEXIST), and
 * reusing or deleting an id while an event naming it is still queued in the
 * ring gives that event another sample's stack. A record owns its frames.
 * User space (the WASM parser) interns each distinct stack once and writes
 * its own stack table id into the copies of the event it hands on.
 *
 * Without PE_FLAG_FRAMES (the stress source, or stacks switched off) the
 * record is the 32-byte event alone and the two fields carry no stack.
 */
struct profile_event {
	__u64 timestamp_ns;    /*  0: bpf_ktime_get_ns(), nanoseconds since boot */
	__s32 pid;             /*  8: thread group id (process id) */
	__s32 tid;             /* 12: thread id */
	__s32 user_stack_id;   /* 16: user frames that follow, or a negative errno */
	__s32 kernel_stack_id; /* 20: kernel frames that follow, or a negative errno */
	__u32 cpu;             /* 24: CPU the sample was taken on */
	__u32 flags;           /* 28: PE_FLAG_* */
};

#define PROFILE_EVENT_SIZE 32

/* The stack filled every slot: only the innermost frames are kept. */
#define PE_FLAG_USER_TRUNCATED (1u << 0)
#define PE_FLAG_KERNEL_TRUNCATED (1u << 1)
/* Bit 2 was PE_FLAG_STACK_COLLISION (stack map bucket taken): no stack map
 * is used any more, so it is never set. */
/*
 * bpf_get_stack() failed for this stack (the id field carries its negative
 * errno). Defined because a profile must tell "stack lost" apart from
 * "stack cut short" and from "no stack" (0 frames: a kernel thread has no
 * user stack, a sample taken in user mode has no kernel stack).
 */
#define PE_FLAG_USER_STACK_ERROR (1u << 3)
#define PE_FLAG_KERNEL_STACK_ERROR (1u << 4)
/* The record carries the frames after the event (see struct profile_event). */
#define PE_FLAG_FRAMES (1u << 5)

/*
 * Frames kept per stack: the kernel's default kernel.perf_event_max_stack,
 * which bounds what bpf_get_stack() collects anyway.
 */
#define PROFILER_STACK_DEPTH 127

/* Largest record payload: the event and two full stacks. */
#define PROFILE_RECORD_MAX (PROFILE_EVENT_SIZE + 2 * PROFILER_STACK_DEPTH * 8)

/*
 * Exact counters, one copy per CPU in a BPF_MAP_TYPE_PERCPU_ARRAY (key 0).
 * Only the CPU's own program instance writes its copy, so plain increments
 * are exact and need no atomics (whose fetch variants 5.10 rejects anyway).
 *
 * Reconciliation: samples_seen = idle_skipped + filtered + reserve_failed +
 * events_submitted, and user space must consume exactly events_submitted.
 * The stack counters count submitted events only (a dropped event's stacks
 * are not counted), so for each stack kind: events_submitted with frames =
 * (non-empty, untruncated) + truncated + errors + empty, and user space
 * must find the same numbers in what it consumed.
 */
struct profiler_counters {
	__u64 samples_seen;           /*  0: program invocations */
	__u64 events_submitted;       /*  8: events committed to the ring */
	__u64 reserve_failed;         /* 16: ring full: the event was dropped */
	__u64 idle_skipped;           /* 24: samples of the idle task, not sent */
	__u64 filtered;               /* 32: samples of other processes (pid filter) */
	__u64 user_stack_truncated;   /* 40: user stack filled every slot */
	__u64 kernel_stack_truncated; /* 48: kernel stack filled every slot */
	__u64 user_stack_errors;      /* 56: bpf_get_stack() failed (user) */
	__u64 kernel_stack_errors;    /* 64: bpf_get_stack() failed (kernel) */
	__u64 user_stack_empty;       /* 72: 0 user frames (kernel thread) */
	__u64 kernel_stack_empty;     /* 80: 0 kernel frames (user mode) */
	__u64 user_frames;            /* 88: user frames submitted */
	__u64 kernel_frames;          /* 96: kernel frames submitted */
};

#define PROFILER_COUNTERS_SIZE 104

/*
 * Load-time configuration, in .rodata so the verifier prunes disabled paths.
 * User space writes it through bpf_map__initial_value() before loading.
 */
struct profiler_config {
	__u32 target_pid;     /* 0: 0 = every process, else only this tgid */
	__u32 skip_idle;      /* 4: 1 = count idle samples, do not send them */
	__u32 collect_stacks; /* 8: 1 = frames in every record, 0 = events only */
	__u32 target_tid;     /* 12: 0 = every thread, else only this tid */
};

#define PROFILER_CONFIG_SIZE 16

/* Names of the objects in profiler.bpf.o that user space looks up. */
#define PROFILER_PROG_NAME "on_cpu_sample"
#define PROFILER_RINGBUF_MAP "events"
#define PROFILER_COUNTERS_MAP "counters"
#define PROFILER_RODATA_MAP "profiler.rodata"
/* The stress source (stress.bpf.c): same maps, its own program and .rodata. */
#define STRESS_PROG_NAME "on_sys_enter"
#define STRESS_RODATA_MAP "stress.rodata"

#endif /* STREAMPROF_PROFILE_EVENT_H */
