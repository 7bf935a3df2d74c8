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
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL +
	       (unsigned long long)ts.tv_nsec;
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

static void usage(FILE *out)
{
	fprintf(out,
"Usage: streamprof-stressgen [--rate N] [--duration SECONDS] [--delay SECONDS]\n"
"                            [--wait-signal SECONDS]\n"
"\n"
"Call getpid() (as a raw system call) N times per second for the given time;\n"
"with streamprof-consumer-c --source stress --target-pid <this pid> every\n"
"call becomes one ring buffer event.\n"
"\n"
"  --rate N             system calls per second; 0 = as fast as possible\n"
"                       (default 100000)\n"
"  --duration SECONDS   how long to generate (default 5, fractions allowed)\n"
"  --delay SECONDS      wait this long first, e.g. for a consumer to attach\n"
"                       (default 0)\n"
"  --wait-signal SECONDS  wait for SIGUSR1 (e.g. from a consumer's\n"
"                       --notify-pid) before generating, at most this long;\n"
"                       exit 3 without generating if it never comes\n"
"  --help               this text\n"
"\n"
"Prints one JSON line on stdout: calls made, pacing sleeps, achieved rate.\n");
}

static int parse_seconds(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || *end || end == s || !(*out >= 0) || *out > 86400 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "delay", required_argument, NULL, 'w' },
		{ "wait-signal", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long rate = 100000, calls = 0, sleeps = 0, batch;
	unsigned long long t0, t_end, now;
	double duration = 5.0, delay = 0.0, wait_signal = 0.0, elapsed;
	sigset_t usr1, old_mask;
	struct sigaction sa;
	char *end;
	int c;

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

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			errno = 0;
			rate = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || *optarg == '-' ||
			    rate > 1000000000ULL) {
				fprintf(stderr, "streamprof-stressgen: invalid --rate '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			if (parse_seconds(optarg, &duration) || duration == 0) {
				fprintf(stderr, "streamprof-stressgen: invalid --duration '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'w':
			if (parse_seconds(optarg, &delay)) {
				fprintf(stderr, "streamprof-stressgen: invalid --delay '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			if (parse_seconds(optarg, &wait_signal) ||
			    wait_signal == 0) {
				fprintf(stderr, "streamprof-stressgen: invalid --wait-signal '%s'\n",
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
		fprintf(stderr, "streamprof-stressgen: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	fprintf(stderr, "streamprof-stressgen: pid %d, %llu calls/s for %g s "
			"after %g s%s\n",
		(int)getpid(), rate, duration, delay,
		wait_signal > 0 ? " and a SIGUSR1" : "");
	if (wait_signal > 0) {
		unsigned long long give_up = mono_ns() +
					     (unsigned long long)(wait_signal * 1e9);
		struct timespec ts;

		while (!start_signalled && !stop_requested) {
			unsigned long long now_ns = mono_ns();

			if (now_ns >= give_up)
				break;
			ts.tv_sec = (time_t)((give_up - now_ns) / 1000000000ULL);
			ts.tv_nsec = (long)((give_up - now_ns) % 1000000000ULL);
			/* SIGUSR1 stays blocked: sigtimedwait takes it. */
			if (sigtimedwait(&usr1, NULL, &ts) == SIGUSR1)
				start_signalled = 1;
		}
		if (!start_signalled) {
			fprintf(stderr, "streamprof-stressgen: no SIGUSR1 within "
					"%g s (--wait-signal): not generating\n",
				wait_signal);
			return 3;
		}
	}
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (delay > 0)
		sleep_until_ns(mono_ns() + (unsigned long long)(delay * 1e9));

	/* About 1 ms of calls per batch; at least one. */
	batch = rate / 1000 ? rate / 1000 : 1;
	t0 = mono_ns();
	t_end = t0 + (unsigned long long)(duration * 1e9);
	while (!stop_requested && (now = mono_ns()) < t_end) {
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
				sleeps++;
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
	elapsed = (double)(mono_ns() - t0) / 1e9;

	printf("{\"generator\":\"streamprof-stressgen\",\"pid\":%d,"
	       "\"rate_requested\":%llu,\"duration_s\":%g,\"getpid_calls\":%llu,"
	       "\"sleeps\":%llu,\"elapsed_s\":%.6f,\"achieved_rate\":%.1f,"
	       "\"interrupted\":%s}\n",
	       (int)getpid(), rate, duration, calls, sleeps, elapsed,
	       elapsed > 0 ? (double)calls / elapsed : 0.0,
	       stop_requested ? "true" : "false");
	return 0;
}
