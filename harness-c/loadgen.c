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
#include <getopt.h>
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

static void usage(FILE *out)
{
	fprintf(out,
"Usage: streamprof-burn [--cpus N] [--duration SECONDS]\n"
"\n"
"Spin one user-space thread per CPU, each pinned to its CPU, for the given\n"
"time, as a known workload for profiler tests.\n"
"\n"
"  --cpus N             how many online CPUs to keep busy (default: all)\n"
"  --duration SECONDS   how long (default 5, fractions allowed)\n"
"  --help               this text\n"
"\n"
"Prints one JSON line (pid, cpus, duration) on stdout when done.\n"
"SIGINT/SIGTERM stop early.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cpus", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static int cpus[MAX_CPUS];
	struct worker *workers;
	struct sigaction sa;
	struct timespec ts;
	double duration = 5.0;
	long want = -1;
	int online, n, c, started = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			errno = 0;
			want = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || want <= 0) {
				fprintf(stderr, "streamprof-burn: invalid --cpus '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(duration > 0) ||
			    duration > 86400) {
				fprintf(stderr, "streamprof-burn: invalid --duration '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "streamprof-burn: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	online = online_cpus(cpus, MAX_CPUS);
	if (online <= 0) {
		fprintf(stderr, "streamprof-burn: cannot read online CPUs: %s\n",
			strerror(online < 0 ? -online : EINVAL));
		return 2;
	}
	n = want > 0 && want < online ? (int)want : online;
	if (want > online)
		fprintf(stderr, "streamprof-burn: only %d CPUs online, using %d\n",
			online, online);

	workers = calloc((size_t)n, sizeof(*workers));
	if (!workers) {
		fprintf(stderr, "streamprof-burn: out of memory\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (int i = 0; i < n; i++) {
		workers[i].cpu = cpus[i];
		if (pthread_create(&workers[i].thread, NULL, burn, &workers[i])) {
			fprintf(stderr, "streamprof-burn: cannot start thread %d\n", i);
			atomic_store(&stop_flag, 1);
			break;
		}
		started++;
	}

	/* Sleep in slices so a signal (which sets stop_flag) ends us early. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	{
		double end_t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + duration;

		while (!atomic_load(&stop_flag)) {
			double now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
			if (now >= end_t)
				break;
			usleep(end_t - now > 0.05 ? 50000
						  : (useconds_t)((end_t - now) * 1e6) + 1);
		}
	}
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);

	printf("{\"generator\":\"streamprof-burn\",\"pid\":%d,\"cpus\":[",
	       (int)getpid());
	for (int i = 0; i < started; i++)
		printf("%s%d", i ? "," : "", workers[i].cpu);
	printf("],\"duration_s\":%g}\n", duration);
	free(workers);
	return started == n ? 0 : 2;
}
