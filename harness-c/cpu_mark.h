/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The steady-state window of a consumer run (--steady-from/--steady-to):
 * two marks, each the events consumed so far and the CPU used so far, read
 * back to back between two polls, so that no event is consumed between
 * reading the count and reading the clocks. The window's CPU divided by its
 * events is then exact: it is neither the start-up (loading, verifying,
 * attaching) nor the drain, and no event of the window is missed or counted
 * twice. bench/deno_consumer.ts takes the same marks the same way.
 */
#ifndef STREAMPROF_CPU_MARK_H
#define STREAMPROF_CPU_MARK_H

#include <stdbool.h>
#include <stdint.h>

/* One point of the run. */
struct cpu_mark {
	bool taken;
	double at_s;       /* seconds since attach */
	uint64_t consumed; /* events consumed so far */
	/*
	 * getrusage(RUSAGE_SELF): the scheduler's run time of every thread of
	 * the process, threads that already ended included (ns, read in us).
	 */
	uint64_t cpu_ns;
	/*
	 * The sum of /proc/self/task/TID/schedstat (run time in ns) over the
	 * threads alive now: the same figure, less the threads that ended.
	 */
	uint64_t threads_cpu_ns;
};

/* User + system time of every thread so far (getrusage RUSAGE_SELF), ns. */
uint64_t process_cpu_ns(void);

/* The sum of the run time of the live threads (/proc/self/task), ns. */
uint64_t threads_cpu_ns(void);

/*
 * Fills *m: `consumed` and the two clocks now. A start mark reads the
 * thread sum before getrusage and an end mark after it, so the getrusage
 * window holds neither /proc walk.
 */
void cpu_mark_take(struct cpu_mark *m, bool start, double at_s,
		   uint64_t consumed);

/*
 * Prints the window from `a` to `b` as the JSON member
 * "steady":{"from_s","to_s","events","cpu_ns","threads_cpu_ns",
 * "ns_per_event"}, or "steady":null when either mark is missing.
 */
void cpu_mark_print_window(const struct cpu_mark *a, const struct cpu_mark *b);

#endif /* STREAMPROF_CPU_MARK_H */
