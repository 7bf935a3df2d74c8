// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "perf_attach.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/perf_event.h>

/* glibc has no wrapper for perf_event_open. */
static int perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu,
			   int group_fd, unsigned long flags)
{
	return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

static void explain_open_error(int err, int cpu, unsigned long freq,
			       bool hardware)
{
	const char *what = hardware ? "hardware cycles" : "software cpu-clock";

	fprintf(stderr, "perf_event_open(%s, cpu %d, %lu Hz) failed: %s\n",
		what, cpu, freq, strerror(err));
	if (hardware && (err == ENOENT || err == EOPNOTSUPP || err == ENODEV))
		fprintf(stderr, "  this machine exposes no hardware PMU (common "
				"in virtual machines); use the default software "
				"cpu-clock event instead\n");
	else if (err == EINVAL)
		fprintf(stderr, "  is --freq above "
				"/proc/sys/kernel/perf_event_max_sample_rate?\n");
	else if (err == EACCES || err == EPERM)
		fprintf(stderr, "  needs root (CAP_PERFMON) or a lower "
				"/proc/sys/kernel/perf_event_paranoid\n");
}

int perf_attach_all(struct bpf_program *prog, const int *cpus, int ncpus,
		    unsigned long freq, bool hardware,
		    struct perf_attachment *out)
{
	struct perf_event_attr attr;
	int err;

	memset(out, 0, sizeof(*out));
	out->links = calloc((size_t)ncpus, sizeof(*out->links));
	if (!out->links)
		return -ENOMEM;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = hardware ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE;
	attr.config = hardware ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK;
	/*
	 * Frequency mode: the kernel picks the period to hit freq samples/s
	 * (for cpu-clock that is exactly 1/freq of CPU time). Created disabled
	 * so no sample can fire before the program is attached; libbpf's
	 * attach enables it.
	 */
	attr.freq = 1;
	attr.sample_freq = freq;
	attr.disabled = 1;

	for (int i = 0; i < ncpus; i++) {
		int fd = perf_event_open(&attr, -1, cpus[i], -1,
					 PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *link;

		if (fd < 0) {
			err = errno;
			explain_open_error(err, cpus[i], freq, hardware);
			perf_detach_all(out);
			return -err;
		}
		link = bpf_program__attach_perf_event(prog, fd);
		if (!link) {
			err = errno;
			fprintf(stderr, "attaching BPF program to the perf event "
					"on cpu %d failed: %s\n",
				cpus[i], strerror(err));
			close(fd); /* not handed over: still ours */
			perf_detach_all(out);
			return -err;
		}
		/* From here the link owns fd: bpf_link__destroy closes it. */
		out->links[out->count] = link;
		out->count++;
	}
	return 0;
}

void perf_detach_all(struct perf_attachment *att)
{
	/*
	 * libbpf's perf link disables the event, detaches the program and
	 * closes the perf event fd it was given, so there is nothing else to
	 * close here (closing it again could hit an fd reused meanwhile).
	 */
	for (int i = 0; i < att->count; i++)
		bpf_link__destroy(att->links[i]);
	free(att->links);
	memset(att, 0, sizeof(*att));
}
