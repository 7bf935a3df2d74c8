/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps every ProfileEvent source shares, defined once: the "events" ring
 * buffer and the per-CPU "counters", and the load-time configuration.
 * Consumers (lib/bpf/profiler_object.ts, harness-c/consumer.c) find them by
 * these names in any source object, so one consumer configures, reads and
 * reconciles every source the same way.
 */
#ifndef STREAMPROF_EVENT_MAPS_BPF_H
#define STREAMPROF_EVENT_MAPS_BPF_H

#include "profile_event.h"

/* Default 8 MiB; user space sizes it with bpf_map__set_max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/*
 * struct profiler_counters per CPU. Only the CPU's own program instance
 * writes its copy, so plain increments are exact without atomics.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct profiler_counters);
} counters SEC(".maps");

/*
 * A source's load-time configuration, the same defaults in every source but
 * whether it collects stacks: PROFILER_CONFIG(1); at file scope. "const
 * volatile" puts it in the object's .rodata map, where user space rewrites
 * it before load, and lets the verifier treat the values as constants and
 * drop disabled branches.
 */
#define PROFILER_CONFIG(stacks)                          \
	const volatile struct profiler_config config = { \
		.target_pid = 0,                         \
		.skip_idle = 1,                          \
		.collect_stacks = (stacks),              \
		.target_tid = 0,                         \
	}

#endif /* STREAMPROF_EVENT_MAPS_BPF_H */
