/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One sampling perf event per online CPU, each running the BPF program on
 * overflow. Kept apart from the consumer so the open/attach/detach order and
 * its error messages live in one place.
 */
#ifndef STREAMPROF_PERF_ATTACH_H
#define STREAMPROF_PERF_ATTACH_H

#include <stdbool.h>

#include <bpf/libbpf.h>

struct perf_attachment {
	int count;               /* events opened and attached so far */
	struct bpf_link **links; /* one per CPU; each owns its perf event fd */
};

/*
 * Open a sampling event on each of cpus[0..ncpus) at freq samples/s
 * (PERF_COUNT_SW_CPU_CLOCK, or PERF_COUNT_HW_CPU_CYCLES when hardware is
 * set), and attach prog to each. On failure everything opened so far is
 * undone, a message saying why is printed on stderr, and a negative errno is
 * returned.
 */
int perf_attach_all(struct bpf_program *prog, const int *cpus, int ncpus,
		    unsigned long freq, bool hardware,
		    struct perf_attachment *out);

/*
 * Destroy the links and close the events: after this no new sample starts.
 * Safe to call on a zeroed or partly filled attachment, and twice.
 */
void perf_detach_all(struct perf_attachment *att);

#endif /* STREAMPROF_PERF_ATTACH_H */
