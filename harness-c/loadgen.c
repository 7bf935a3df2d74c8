// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * streamprof-burn: keep CPUs 100% busy in user space for a while, so a
 * profiler test has a known workload: each busy CPU should yield about
 * --freq samples per second, all attributed to this process.
 *
 * One thread per CPU, each pinned to its CPU, so "N CPUs busy" means exactly
 * those CPUs and the scheduler cannot stack two spinners on one core.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpus.h"
#include "program.h"

#define MAX_CPUS 4096

static atomic_int stop_flag;

struct worker {
	pthread_t thread;
	int cpu;
	unsigned long long spins;
	unsigned long long checksum; /* read back so the work is not dead code */
};

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);
}

static void *burn(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	unsigned long long n = 0;
	volatile unsigned long long sink = 0;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	/* Best effort: if pinning fails we still burn, just unpinned. */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);

	/* Check the flag every 64Ki iterations: cheap and still prompt. */
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		for (int i = 0; i < 65536; i++)
			sink += (unsigned long long)i * 2654435761u;
		n++;
	}
	w->spins = n;
	w->checksum = sink;
	return NULL;
}

struct options {
	unsigned long cpus; /* 0: every online CPU */
	double duration_s;
};

static const struct option_spec OPTION_SPECS[] = {
	OPT("cpus", OPTION_UINT, cpus, "N",
	    "how many online CPUs to keep busy (default: all)", .min = 1,
	    .max = INT_MAX),
	OPT("duration", OPTION_SECONDS, duration_s, "SECONDS",
	    "how long (default 5, fractions allowed)"),
};

static const struct program_spec PROGRAM = {
	.name = "streamprof-burn",
	.description =
		"Spin one user-space thread per CPU, each pinned to its CPU, for the given\n"
		"time, as a known workload for profiler tests.",
	.epilogue =
		"Prints one JSON line (pid, cpus, duration) on stdout when done.\n"
		"SIGINT/SIGTERM stop early. Exit status: 0, 2 usage error, 3 the CPUs\n"
		"or threads could not be had.\n",
	.options = OPTION_SPECS,
	.option_count = OPTION_COUNT(OPTION_SPECS),
};

/* Sleeps in slices until `duration` is over or a stop signal came. */
static void wait_for_end(double duration)
{
	double end = monotonic_seconds() + duration;

	while (!atomic_load(&stop_flag)) {
		double left = end - monotonic_seconds();

		if (left <= 0)
			break;
		usleep(left > 0.05 ? 50000 : (useconds_t)(left * 1e6) + 1);
	}
}

int main(int argc, char **argv)
{
	static int cpus[MAX_CPUS];
	struct options o = { .duration_s = 5.0 };
	struct worker *workers;
	int online, n, rc, started = 0;

	rc = parse_command_line(&PROGRAM, argc, argv, &o, NULL);
	if (rc != COMMAND_LINE_PARSED)
		return rc;
	online = online_cpus(cpus, MAX_CPUS);
	if (online <= 0)
		return fail(EXIT_ENVIRONMENT, "cannot read online CPUs: %s",
			    strerror(online < 0 ? -online : EINVAL));
	n = o.cpus > 0 && o.cpus < (unsigned long)online ? (int)o.cpus : online;
	if (o.cpus > (unsigned long)online)
		fprintf(stderr, "streamprof-burn: only %d CPUs online, using %d\n",
			online, online);

	workers = calloc((size_t)n, sizeof(*workers));
	if (!workers)
		return fail(EXIT_ENVIRONMENT, "out of memory");
	on_stop_signals(on_signal);

	for (int i = 0; i < n; i++) {
		workers[i].cpu = cpus[i];
		if (pthread_create(&workers[i].thread, NULL, burn, &workers[i])) {
			fail(EXIT_ENVIRONMENT, "cannot start thread %d", i);
			atomic_store(&stop_flag, 1);
			break;
		}
		started++;
	}
	wait_for_end(o.duration_s);
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);

	printf("{\"generator\":\"streamprof-burn\",\"pid\":%d,\"cpus\":[",
	       (int)getpid());
	for (int i = 0; i < started; i++)
		printf("%s%d", i ? "," : "", workers[i].cpu);
	printf("],\"duration_s\":%g}\n", o.duration_s);
	free(workers);
	return started == n ? EXIT_OK : EXIT_ENVIRONMENT;
}
