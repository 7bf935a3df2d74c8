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
 *    per-CPU counters written only by their own CPU do not need them).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "profile_event.h"
#include "event_maps.bpf.h"

/*
 * errno values are the same on every Linux architecture for these; defined
 * here so we need not pull in <asm/errno.h> (an arch-specific include path).
 */
#ifndef EFAULT
#define EFAULT 14
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

char LICENSE[] SEC("license") = "GPL";

/*
 * Load-time configuration. "const volatile" puts it in .rodata (the
 * "profiler.rodata" map) where user space rewrites it before load, and lets
 * the verifier treat the values as constants and drop disabled branches.
 */
const volatile struct profiler_config config = {
	.target_pid = 0,
	.skip_idle = 1,
	.detect_truncation = 1,
	.reserved = 0,
};

/* Default 16384 stacks; user space resizes it before load. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILER_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/*
 * Scratch space for the truncation probe: one stack of DEPTH+1 frames (1 KiB)
 * is too big for the 512-byte BPF stack, so it lives in a per-CPU array. The
 * program never runs twice at once on one CPU (perf overflow handlers do not
 * nest), so one slot per CPU is enough.
 */
struct probe_buf {
	__u64 ips[PROFILER_STACK_DEPTH + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_buf);
} stack_probe SEC(".maps");

/*
 * Is this stack deeper than the stack map keeps?
 *
 * bpf_get_stackid() tells us only an id, never the depth, and a BPF program
 * may not read a stack trace map back. So we walk the stack a second time
 * with bpf_get_stack() into a buffer one frame larger than the map's depth
 * and look at how many frames came back. (Using the "skip" field with a tiny
 * buffer would avoid the 1 KiB copy, but older kernels (before the "adjust
 * stack helpers to accommodate skip > 0" fix, around 5.18) take the skipped
 * frames out of the buffer's budget instead of walking further, so that
 * trick is wrong on part of our 5.8+ range. The copy is cheap next to the
 * walk itself, which is the real price of this probe: it walks each stack
 * twice, ~+5 us per sample for a 200-frame user stack on the dev VM.)
 *
 * The kernel never collects more than kernel.perf_event_max_stack frames
 * (default 127 = PROFILER_STACK_DEPTH; the stack map's depth cannot exceed it
 * either). With that default a stack of exactly 127 frames and a deeper one
 * look the same, so we report "filled every slot" (n >= DEPTH) as truncated:
 * no truncated stack is ever missed, and the only false positive is a stack
 * of exactly DEPTH frames. If the sysctl is raised above DEPTH the extra slot
 * makes the answer exact.
 */
static __always_inline int stack_is_truncated(void *ctx, __u64 flags)
{
	__u32 zero = 0;
	struct probe_buf *buf = bpf_map_lookup_elem(&stack_probe, &zero);
	long n;

	if (!buf)
		return 0;
	n = bpf_get_stack(ctx, buf->ips, sizeof(buf->ips), flags);
	return n >= (long)(PROFILER_STACK_DEPTH * sizeof(__u64));
}

/* A stackid result says a stack was actually walked (possibly bucket-lost). */
static __always_inline int stack_was_walked(long id)
{
	return id >= 0 || id == -EEXIST;
}

SEC("perf_event")
int on_cpu_sample(void *ctx)
{
	__u32 zero = 0;
	struct profiler_counters *c;
	struct profile_event *e;
	__u64 pid_tgid;
	__u32 tid, tgid, flags = 0;
	long ustack, kstack;

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
	if (config.target_pid != 0 && tgid != config.target_pid) {
		c->filtered++;
		return 0;
	}

	/*
	 * Reserve before walking stacks: when the ring is full (the consumer is
	 * behind) we skip the expensive stack walks and do not fill the stack
	 * map with stacks that no event will ever refer to. Holding the
	 * reservation for the few microseconds of the walks only delays the
	 * consumer at this record; it never loses anything.
	 */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		c->reserve_failed++;
		return 0;
	}

	e->timestamp_ns = bpf_ktime_get_ns();
	e->pid = (__s32)tgid;
	e->tid = (__s32)tid;
	e->cpu = bpf_get_smp_processor_id();

	ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	kstack = bpf_get_stackid(ctx, &stacks, 0);

	/* Counted per stackid call: one sample can collide twice. */
	if (ustack == -EEXIST) {
		flags |= PE_FLAG_STACK_COLLISION;
		c->stack_collisions++;
	}
	if (kstack == -EEXIST) {
		flags |= PE_FLAG_STACK_COLLISION;
		c->stack_collisions++;
	}
	if (ustack < 0 && ustack != -EEXIST) {
		flags |= PE_FLAG_USER_STACK_ERROR;
		c->user_stack_errors++;
	}
	if (kstack < 0 && kstack != -EEXIST) {
		flags |= PE_FLAG_KERNEL_STACK_ERROR;
		c->kernel_stack_errors++;
	}

	if (config.detect_truncation) {
		if (stack_was_walked(ustack) &&
		    stack_is_truncated(ctx, BPF_F_USER_STACK)) {
			flags |= PE_FLAG_USER_TRUNCATED;
			c->user_stack_truncated++;
		}
		if (stack_was_walked(kstack) && stack_is_truncated(ctx, 0)) {
			flags |= PE_FLAG_KERNEL_TRUNCATED;
			c->kernel_stack_truncated++;
		}
	}

	e->user_stack_id = (__s32)ustack;
	e->kernel_stack_id = (__s32)kstack;
	e->flags = flags;
	bpf_ringbuf_submit(e, 0);
	c->events_submitted++;
	return 0;
}
