// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "cpu_mark.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>

uint64_t process_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

uint64_t threads_cpu_ns(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[sizeof(e->d_name) + 32];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* a thread that just ended */
		if (fscanf(f, "%llu", &ns) == 1)
			total += ns;
		fclose(f);
	}
	closedir(d);
	return total;
}

void cpu_mark_take(struct cpu_mark *m, bool start, double at_s,
		   uint64_t consumed)
{
	m->taken = true;
	m->at_s = at_s;
	m->consumed = consumed;
	if (start) {
		m->threads_cpu_ns = threads_cpu_ns();
		m->cpu_ns = process_cpu_ns();
	} else {
		m->cpu_ns = process_cpu_ns();
		m->threads_cpu_ns = threads_cpu_ns();
	}
}

void cpu_mark_print_window(const struct cpu_mark *a, const struct cpu_mark *b)
{
	uint64_t events, cpu;

	if (!a->taken || !b->taken) {
		printf("\"steady\":null");
		return;
	}
	events = b->consumed - a->consumed;
	cpu = b->cpu_ns - a->cpu_ns;
	/* Signed: a thread that ended takes its run time out of the sum. */
	printf("\"steady\":{\"from_s\":%.6f,\"to_s\":%.6f,\"events\":%llu,"
	       "\"cpu_ns\":%llu,\"threads_cpu_ns\":%lld,\"ns_per_event\":%.1f}",
	       a->at_s, b->at_s, (unsigned long long)events,
	       (unsigned long long)cpu,
	       (long long)(b->threads_cpu_ns - a->threads_cpu_ns),
	       events ? (double)cpu / (double)events : 0.0);
}
