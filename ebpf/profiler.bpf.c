// SPDX-License-Identifier: GPL-2.0
/*
 * streamprof's sampling program: one run per perf CPU-clock sample, one
 * 32-byte struct profile_event (see profile_event.h) per interesting sample
 * into the "events" ring buffer, and exact per-CPU counters so user space can
 * prove that nothing was lost between the kernel and itself.
 *
 * Portability rules (one object for x86_64 and arm64, kernels 5.8+):
 *  - only <linux/bpf.h> and <bpf/bpf_helpers.h>: no vmlinux.h, no CO-RE, no
 *    pt_regs field access, so nothing in the object depends on the
 *    architecture it was compiled for (-D__TARGET_ARCH_* is irrelevant);
 *  - only helpers that exist in 5.8 (ringbuf helpers are the newest, 5.8);
 *  - no bpf_loop, no atomic instructions (5.10 rejects fetch variants, and
 *    per-CPU counters written only by their own CPU do not need them);
 *  - no stack trace map: the frames travel in the ring record itself (see
 *    profile_event.h for why that is the only way to never misattribute).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "profile_event.h"
#include "event_maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Load-time configuration, in the "profiler.rodata" map: stacks on. */
PROFILER_CONFIG(1);

/*
 * The record under construction: the event, then the user frames, then the
 * kernel frames. 2 KiB is far too big for the 512-byte BPF stack, so it
 * lives in a per-CPU array; the program never runs twice at once on one CPU
 * (perf overflow handlers do not nest), so one slot per CPU is enough.
 *
 * One frame more than two full stacks: the kernel frames start at a
 * variable offset (after the user frames), and the verifier must see that
 * offset's upper bound plus a whole stack inside the value. Masking the
 * offset with 0x3ff (1023 >= 127 * 8 = 1016) is what it can follow on
 * every kernel from 5.8 on; the extra 8 bytes cover 1023 - 1016.
 */
struct sample_record {
	struct profile_event event;
	__u64 frames[2 * PROFILER_STACK_DEPTH + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample_record);
} scratch SEC(".maps");

#define STACK_BYTES (PROFILER_STACK_DEPTH * 8)

/*
 * Walks one stack into buf (at most PROFILER_STACK_DEPTH frames) and
 * returns its length in bytes, 0 for no stack, or a negative errno.
 *
 * bpf_get_stack() (4.18+) collects at most kernel.perf_event_max_stack
 * frames (default 127 = PROFILER_STACK_DEPTH) and tells how many bytes it
 * wrote, so one walk gives both the frames and the truncation verdict. A
 * stack of exactly DEPTH frames looks like a deeper one cut at DEPTH, so
 * "filled every slot" is reported as truncated: no truncated stack is ever
 * missed, and the only false positive is a stack of exactly DEPTH frames.
 */
static __always_inline long walk_stack(void *ctx, void *buf, __u64 flags)
{
	long n = bpf_get_stack(ctx, buf, STACK_BYTES, flags);

	if (n > STACK_BYTES)
		n = STACK_BYTES; /* cannot happen; keeps the verifier's bounds */
	return n;
}

/*
 * One stack of the sample, walked into buf: its field of the event set to
 * the frame count, or to the negative errno of a failed walk (error_flag
 * added to *flags); truncated_flag added when it filled every slot. Returns
 * its length in bytes, 0 after a failure: unsigned, so that dividing it by
 * 8 is a shift (the BPF backend has no signed division).
 */
static __always_inline __u64 take_stack(void *ctx, void *buf, __u64 walk_flags,
					__s32 *field, __u32 *flags,
					__u32 error_flag, __u32 truncated_flag)
{
	long len = walk_stack(ctx, buf, walk_flags);

	if (len < 0) {
		*flags |= error_flag;
		*field = (__s32)len;
		return 0;
	}
	*field = (__s32)(len / 8);
	if (len == STACK_BYTES)
		*flags |= truncated_flag;
	return (__u64)len;
}

/* One submitted stack in its kind's counters (see profile_event.h). */
static __always_inline void count_stack(__u32 failed, __u64 len,
					__u64 *errors, __u64 *empty,
					__u64 *truncated)
{
	if (failed)
		(*errors)++;
	else if (len == 0)
		(*empty)++;
	else if (len == STACK_BYTES)
		(*truncated)++;
}

SEC("perf_event")
int on_cpu_sample(void *ctx)
{
	__u32 zero = 0;
	struct profiler_counters *c;
	struct sample_record *r;
	__u64 pid_tgid, size;
	__u32 tid, tgid, flags = 0;
	__u64 ulen = 0, klen = 0; /* stack bytes, <= STACK_BYTES */

	c = bpf_map_lookup_elem(&counters, &zero);
	if (!c)
		return 0; /* cannot happen for a 1-entry array; keeps the verifier happy */
	c->samples_seen++;

	pid_tgid = bpf_get_current_pid_tgid();
	tid = (__u32)pid_tgid;
	tgid = (__u32)(pid_tgid >> 32);

	/* The idle task is thread 0 on every CPU. */
	if (config.skip_idle && tid == 0) {
		c->idle_skipped++;
		return 0;
	}
	if ((config.target_pid != 0 && tgid != config.target_pid) ||
	    (config.target_tid != 0 && tid != config.target_tid)) {
		c->filtered++;
		return 0;
	}

	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	r->event.timestamp_ns = bpf_ktime_get_ns();
	r->event.pid = (__s32)tgid;
	r->event.tid = (__s32)tid;
	r->event.cpu = bpf_get_smp_processor_id();

	if (config.collect_stacks) {
		flags |= PE_FLAG_FRAMES;
		ulen = take_stack(ctx, r->frames, BPF_F_USER_STACK,
				  &r->event.user_stack_id, &flags,
				  PE_FLAG_USER_STACK_ERROR, PE_FLAG_USER_TRUNCATED);
		/* See struct sample_record for why the offset is masked. */
		klen = take_stack(ctx, (void *)r->frames + (ulen & 0x3ff), 0,
				  &r->event.kernel_stack_id, &flags,
				  PE_FLAG_KERNEL_STACK_ERROR,
				  PE_FLAG_KERNEL_TRUNCATED);
	} else {
		r->event.user_stack_id = 0;
		r->event.kernel_stack_id = 0;
	}
	r->event.flags = flags;

	/*
	 * bpf_ringbuf_output() copies exactly the bytes used, so a record is as
	 * long as its stacks (the payload a reserve would need is a constant).
	 * The copy of a few hundred bytes is cheap next to the stack walks.
	 * The bound keeps the verifier's view of the size inside the value.
	 */
	size = PROFILE_EVENT_SIZE + (__u64)(ulen & 0x3ff) + (__u64)(klen & 0x3ff);
	if (size > PROFILE_RECORD_MAX)
		return 0; /* cannot happen: both lengths are <= STACK_BYTES */
	if (bpf_ringbuf_output(&events, r, size, 0) != 0) {
		c->reserve_failed++;
		return 0;
	}

	/* Counted only for events that reached the ring: see profile_event.h. */
	c->events_submitted++;
	if (flags & PE_FLAG_FRAMES) {
		count_stack(flags & PE_FLAG_USER_STACK_ERROR, ulen,
			    &c->user_stack_errors, &c->user_stack_empty,
			    &c->user_stack_truncated);
		count_stack(flags & PE_FLAG_KERNEL_STACK_ERROR, klen,
			    &c->kernel_stack_errors, &c->kernel_stack_empty,
			    &c->kernel_stack_truncated);
		c->user_frames += ulen / 8;
		c->kernel_frames += klen / 8;
	}
	return 0;
}
