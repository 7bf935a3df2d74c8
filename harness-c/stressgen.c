// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * streamprof-stressgen: make system calls at a controlled rate, so
 * ebpf/stress.bpf.o (one event per system call of this process) becomes an
 * event source whose rate we choose, far above what perf sampling gives.
 *
 * It calls getpid() through syscall(2): glibc's getpid() is a real system
 * call nowadays, but going through syscall() makes that explicit and immune
 * to any caching a libc might do.
 *
 * Pacing: calls are made in batches of about 1 ms worth, and the number of
 * calls due is computed from CLOCK_MONOTONIC since the start, so sleep
 * overshoot is caught up in the next batch instead of accumulating. When the
 * CPU cannot keep up, the achieved rate simply falls short and is reported.
 * Every pacing sleep is one extra system call (clock_nanosleep), counted in
 * "sleeps": the consumer should see about getpid_calls + sleeps events.
 *
 * --wait-signal makes it wait for SIGUSR1 before generating: a consumer
 * started with --target-pid <this pid> --notify-pid <this pid> sends it once
 * its program is attached, so not one call is made before anyone listens
 * (and no start-up delay has to be guessed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "program.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t start_signalled;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_start_signal(int sig)
{
	(void)sig;
	start_signalled = 1;
}

static void sleep_until_ns(unsigned long long t)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t / 1000000000ULL),
		.tv_nsec = (long)(t % 1000000000ULL),
	};

	/* EINTR from a stop signal is fine: the loop checks the flag. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

struct options {
	unsigned long long rate; /* 0: as fast as possible */
	double duration_s;
	double delay_s;
	double wait_signal_s; /* 0: do not wait */
};

static const struct option_spec OPTION_SPECS[] = {
	OPT("rate", OPTION_UINT, rate, "N",
	    "system calls per second; 0 = as fast as possible\n"
	    "(default 100000)", .max = 1000000000),
	OPT("duration", OPTION_SECONDS, duration_s, "SECONDS",
	    "how long to generate (default 5, fractions allowed)"),
	OPT("delay", OPTION_SECONDS, delay_s, "SECONDS",
	    "wait this long first, e.g. for a consumer to attach\n"
	    "(default 0)", .allow_zero = true),
	OPT("wait-signal", OPTION_SECONDS, wait_signal_s, "SECONDS",
	    "wait for SIGUSR1 (e.g. from a consumer's\n"
	    "--notify-pid) before generating, at most this long;\n"
	    "exit 3 without generating if it never comes"),
};

static const struct program_spec PROGRAM = {
	.name = "streamprof-stressgen",
	.description =
		"Call getpid() (as a raw system call) N times per second for the given time;\n"
		"with streamprof-consumer-c --source stress --target-pid <this pid> every\n"
		"call becomes one ring buffer event.",
	.epilogue =
		"Prints one JSON line on stdout: calls made, pacing sleeps, achieved rate.\n"
		"Exit status: 0, 2 usage error, 3 no SIGUSR1 came (--wait-signal).\n",
	.options = OPTION_SPECS,
	.option_count = OPTION_COUNT(OPTION_SPECS),
};

/*
 * --wait-signal: waits for SIGUSR1 (blocked since start-up, so one sent
 * early is pending, not lost) for at most `seconds`. Whether it came.
 */
static bool wait_for_start_signal(const sigset_t *usr1, double seconds)
{
	unsigned long long give_up = monotonic_ns() +
				     (unsigned long long)(seconds * 1e9);
	struct timespec ts;

	while (!start_signalled && !stop_requested) {
		unsigned long long now_ns = monotonic_ns();

		if (now_ns >= give_up)
			break;
		ts.tv_sec = (time_t)((give_up - now_ns) / 1000000000ULL);
		ts.tv_nsec = (long)((give_up - now_ns) % 1000000000ULL);
		/* SIGUSR1 stays blocked: sigtimedwait takes it. */
		if (sigtimedwait(usr1, NULL, &ts) == SIGUSR1)
			start_signalled = 1;
	}
	return start_signalled;
}

/*
 * Makes `rate` calls per second (0: as fast as possible) until `duration`
 * is over or a stop signal came, in batches of about 1 ms of calls paced
 * by the clock since the start. Returns the calls made; *sleeps the pacing
 * sleeps, *elapsed the seconds it took.
 */
static unsigned long long generate(unsigned long long rate, double duration,
				   unsigned long long *sleeps, double *elapsed)
{
	/* About 1 ms of calls per batch; at least one. */
	unsigned long long batch = rate / 1000 ? rate / 1000 : 1;
	unsigned long long t0 = monotonic_ns(), calls = 0, now;
	unsigned long long t_end = t0 + (unsigned long long)(duration * 1e9);

	*sleeps = 0;
	while (!stop_requested && (now = monotonic_ns()) < t_end) {
		unsigned long long todo;

		if (rate == 0) {
			todo = 4096;
		} else {
			/* Calls due by now; 128-bit product avoids overflow. */
			unsigned long long due = (unsigned long long)(
				(unsigned __int128)(now - t0) * rate / 1000000000ULL);

			if (due <= calls) {
				/* Ahead of schedule: sleep until one batch is due. */
				unsigned long long next = t0 + (unsigned long long)(
					(unsigned __int128)(calls + batch) *
					1000000000ULL / rate);

				sleep_until_ns(next < t_end ? next : t_end);
				(*sleeps)++;
				continue;
			}
			todo = due - calls;
			if (todo > batch)
				todo = batch; /* re-check the clock regularly */
		}
		for (unsigned long long i = 0; i < todo; i++)
			syscall(SYS_getpid);
		calls += todo;
	}
	*elapsed = (double)(monotonic_ns() - t0) / 1e9;
	return calls;
}

int main(int argc, char **argv)
{
	struct options o = { .rate = 100000, .duration_s = 5.0 };
	unsigned long long calls, sleeps;
	sigset_t usr1, old_mask;
	struct sigaction sa;
	double elapsed;
	int rc;

	/*
	 * First thing: SIGUSR1 would kill us by default. Block it (a signal
	 * sent early stays pending for the wait below, instead of being lost)
	 * and handle it (harmless if it comes when we are not waiting). A
	 * consumer sending it checks /proc/PID/status for this before it does.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_start_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old_mask);

	rc = parse_command_line(&PROGRAM, argc, argv, &o, NULL);
	if (rc != COMMAND_LINE_PARSED)
		return rc;
	on_stop_signals(on_signal);

	fprintf(stderr, "streamprof-stressgen: pid %d, %llu calls/s for %g s "
			"after %g s%s\n",
		(int)getpid(), o.rate, o.duration_s, o.delay_s,
		o.wait_signal_s > 0 ? " and a SIGUSR1" : "");
	if (o.wait_signal_s > 0 && !wait_for_start_signal(&usr1, o.wait_signal_s))
		return fail(EXIT_ENVIRONMENT, "no SIGUSR1 within %g s "
					      "(--wait-signal): not generating",
			    o.wait_signal_s);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (o.delay_s > 0)
		sleep_until_ns(monotonic_ns() + (unsigned long long)(o.delay_s * 1e9));

	calls = generate(o.rate, o.duration_s, &sleeps, &elapsed);
	printf("{\"generator\":\"streamprof-stressgen\",\"pid\":%d,"
	       "\"rate_requested\":%llu,\"duration_s\":%g,\"getpid_calls\":%llu,"
	       "\"sleeps\":%llu,\"elapsed_s\":%.6f,\"achieved_rate\":%.1f,"
	       "\"interrupted\":%s}\n",
	       (int)getpid(), o.rate, o.duration_s, calls, sleeps, elapsed,
	       elapsed > 0 ? (double)calls / elapsed : 0.0,
	       stop_requested ? "true" : "false");
	return EXIT_OK;
}
