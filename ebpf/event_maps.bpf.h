/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The maps every ProfileEvent source shares, defined once: the "events" ring
 * buffer and the per-CPU "counters". Consumers (lib/bpf/profiler_object.ts,
 * harness-c/consumer.c) find both by these names in any source object, so
 * one consumer reads and reconciles every source the same way.
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

#endif /* STREAMPROF_EVENT_MAPS_BPF_H */
