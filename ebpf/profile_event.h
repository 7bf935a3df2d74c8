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

/* One CPU sample: exactly 32 bytes in the ring buffer payload. */
struct profile_event {
	__u64 timestamp_ns;    /*  0: bpf_ktime_get_ns(), nanoseconds since boot */
	__s32 pid;             /*  8: thread group id (process id) */
	__s32 tid;             /* 12: thread id */
	__s32 user_stack_id;   /* 16: id in the stack map, or a negative errno */
	__s32 kernel_stack_id; /* 20: id in the stack map, or a negative errno */
	__u32 cpu;             /* 24: CPU the sample was taken on */
	__u32 flags;           /* 28: PE_FLAG_* */
};

#define PROFILE_EVENT_SIZE 32

/* Stack deeper than the stack map's depth: only the innermost frames kept. */
#define PE_FLAG_USER_TRUNCATED (1u << 0)
#define PE_FLAG_KERNEL_TRUNCATED (1u << 1)
/* bpf_get_stackid() said -EEXIST: another stack owns the hash bucket. */
#define PE_FLAG_STACK_COLLISION (1u << 2)
/*
 * bpf_get_stackid() failed for another reason (-EFAULT: no usable stack, as
 * for a kernel thread's user stack; -ENOMEM: the map is full). Defined
 * because a profile must tell "stack lost" apart from "stack cut short" and
 * from "bucket taken": the stack id field then carries the negative errno.
 */
#define PE_FLAG_USER_STACK_ERROR (1u << 3)
#define PE_FLAG_KERNEL_STACK_ERROR (1u << 4)

/* Depth of each stack in the stack trace map (frames of 8 bytes). */
#define PROFILER_STACK_DEPTH 127

/*
 * Exact counters, one copy per CPU in a BPF_MAP_TYPE_PERCPU_ARRAY (key 0).
 * Only the CPU's own program instance writes its copy, so plain increments
 * are exact and need no atomics (whose fetch variants 5.10 rejects anyway).
 *
 * Reconciliation: samples_seen = idle_skipped + filtered + reserve_failed +
 * events_submitted, and user space must consume exactly events_submitted.
 */
struct profiler_counters {
	__u64 samples_seen;       /*  0: program invocations */
	__u64 events_submitted;   /*  8: events committed to the ring */
	__u64 reserve_failed;     /* 16: ring full: the event was dropped */
	__u64 idle_skipped;       /* 24: samples of the idle task, not sent */
	__u64 filtered;           /* 32: samples of other processes (pid filter) */
	__u64 user_stack_truncated;  /* 40 */
	__u64 kernel_stack_truncated;/* 48 */
	__u64 stack_collisions;   /* 56: -EEXIST from bpf_get_stackid */
	__u64 user_stack_errors;  /* 64: other user stack errors */
	__u64 kernel_stack_errors;/* 72: other kernel stack errors */
};

#define PROFILER_COUNTERS_SIZE 80

/*
 * Load-time configuration, in .rodata so the verifier prunes disabled paths.
 * User space writes it through bpf_map__initial_value() before loading.
 */
struct profiler_config {
	__u32 target_pid;  /* 0: 0 = every process, else only this tgid */
	__u32 skip_idle;   /* 4: 1 = count idle samples, do not send them */
	__u32 detect_truncation; /* 8: 1 = probe stack depth to set *_TRUNCATED */
	__u32 reserved;    /* 12 */
};

#define PROFILER_CONFIG_SIZE 16

/* Names of the objects in profiler.bpf.o that user space looks up. */
#define PROFILER_PROG_NAME "on_cpu_sample"
#define PROFILER_RINGBUF_MAP "events"
#define PROFILER_STACK_MAP "stacks"
#define PROFILER_COUNTERS_MAP "counters"
#define PROFILER_RODATA_MAP "profiler.rodata"

#endif /* STREAMPROF_PROFILE_EVENT_H */
