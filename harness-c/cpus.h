/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which CPUs are online. Both the consumer (one perf event per online CPU)
 * and the load generator (one busy thread per online CPU) need the real list,
 * not a count: CPU numbers can have holes (0-3,6-7) after hot-unplug.
 */
#ifndef STREAMPROF_CPUS_H
#define STREAMPROF_CPUS_H

/*
 * Fill cpus[] with the numbers of the online CPUs, in increasing order.
 * Returns how many (at most max), or a negative errno.
 */
int online_cpus(int *cpus, int max);

/* Parse a kernel CPU list such as "0-3,6,8-9". Same return convention. */
int parse_cpu_list(const char *text, int *cpus, int max);

#endif /* STREAMPROF_CPUS_H */
