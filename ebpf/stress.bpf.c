// SPDX-License-Identifier: GPL-2.0
/*
 * A high-rate event source for testing consumers, not limited by perf
 * sampling rates: one struct profile_event per system call made by one
 * configured process (harness-c/streamprof-stressgen calls getpid() at a
 * controlled rate). It uses the same ring map name ("events"), event format
 * and per-CPU "counters" as profiler.bpf.c, so every consumer reads and
 * reconciles both objects the same way.
 *
 * Same portability rules as profiler.bpf.c: 5.8+ helpers only, no CO-RE, no
 * atomics, nothing architecture-specific. raw_tp/sys_enter needs no tracefs.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "profile_event.h"
#include "event_maps.bpf.h"

#ifndef ENOENT
#define ENOENT 2
#endif

char LICENSE[] SEC("license") = "GPL";

/*
 * Same struct and defaults as the profiler's (stacks off), so user space
 * configures both alike, in the "stress.rodata" map. Only target_pid is
 * used: the tgid whose system calls become events. 0 (the default) emits
 * nothing, so a stray attach cannot flood the ring with the whole machine's
 * system calls.
 */
PROFILER_CONFIG(0);

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	__u32 zero = 0;
	struct profiler_counters *c;
	struct profile_event *e;
	__u64 pid_tgid;
	__u32 tgid;

	(void)ctx;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (!c)
		return 0;
	c->samples_seen++;

	pid_tgid = bpf_get_current_pid_tgid();
	tgid = (__u32)(pid_tgid >> 32);
	if (config.target_pid == 0 || tgid != config.target_pid) {
		c->filtered++;
		return 0;
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		c->reserve_failed++;
		return 0;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	e->pid = (__s32)tgid;
	e->tid = (__s32)(__u32)pid_tgid;
	/*
	 * No stacks: walking them would make this source measure stack
	 * unwinding instead of the event pipeline. Without PE_FLAG_FRAMES the
	 * record is the 32-byte event alone and the stack fields mean nothing;
	 * they carry -ENOENT so that no reader mistakes them for frame counts.
	 */
	e->user_stack_id = -ENOENT;
	e->kernel_stack_id = -ENOENT;
	e->cpu = bpf_get_smp_processor_id();
	e->flags = 0;
	bpf_ringbuf_submit(e, 0);
	c->events_submitted++;
	return 0;
}
