// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * streamprof-consumer-c: the native reference consumer.
 *
 * Loads profiler.bpf.o (or stress.bpf.o), samples every online CPU for a
 * while, consumes the ring the way most libbpf tools do (ring_buffer__poll
 * with one callback per event), then proves exact accounting: every event
 * the kernel committed was consumed, every program run is accounted for by
 * the per-CPU counters, and every stack of every event (its frames travel in
 * the record) has the outcome the kernel counted for it. The result is one JSON object on stdout, so the
 * Deno implementation can be compared against it number for number.
 *
 * --decoder wasm2c swaps the libbpf consumer for the Deno design hosted in
 * C: the ring mapped into the wasm2c-compiled parser's memory and walked in
 * place, polled adaptively (mapped_ring.h says why). Loading, attaching,
 * the per-event checks, draining and reconciliation stay the same code, so
 * the two decoders differ only in how records reach on_event().
 *
 * A run is open_run (CPUs, object, decoder), attach_run, consume_until,
 * drain, reconcile, print_result. Exit status, as the Deno side's: 0
 * reconciled with no drops, 1 drops or mismatch, 2 usage error, 3 the
 * machine cannot run it (not root, missing or rejected BPF object, the
 * kernel refused an attach or a map), 70 the WASM parser trapped (a bug).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cpu_mark.h"
#include "cpus.h"
#include "mapped_ring.h"
#include "perf_attach.h"
#include "profile_event.h"
#include "program.h"
#include "rodata_config.h"
#include "wasm_parser.h"

#define CONSUMER_NAME "streamprof-consumer-c"
#define DEFAULT_BPF_DIR "ebpf/build"
/* Online CPUs this program can attach to (not the parser's MAX_CPUS). */
#define MAX_ONLINE_CPUS 4096

/* The flags about stacks, which only a record with frames may carry. */
#define STACK_FLAGS                                                          \
	(PE_FLAG_USER_TRUNCATED | PE_FLAG_KERNEL_TRUNCATED |                 \
	 PE_FLAG_USER_STACK_ERROR | PE_FLAG_KERNEL_STACK_ERROR)
#define KNOWN_FLAGS (STACK_FLAGS | PE_FLAG_FRAMES)

enum source { SOURCE_PERF, SOURCE_STRESS };
enum decoder { DECODER_LIBBPF, DECODER_WASM2C };

/*
 * The wasm2c decoder's parser regions, as the Deno session sizes them
 * (lib/profiler/session.ts): recent-event ring, batch, scratch input.
 */
#define WASM2C_RECENT_EVENTS 16384
#define WASM2C_BATCH_EVENTS 8192
#define WASM2C_INPUT_BYTES 4096
/* Longest sleep of the adaptive poll (see adaptive_delay_ms). */
#define ADAPTIVE_MAX_POLL_MS 20.0
/* How long the drain waits for program runs still in flight. */
#define DRAIN_TRIES 200

struct options {
	enum source source;
	unsigned long freq;
	double duration_s;
	__u32 target_pid;
	__u32 target_tid;
	bool skip_idle;
	bool collect_stacks;
	bool tables; /* wasm2c: the parser interns stacks (and aggregates) */
	__u32 table_entries; /* wasm2c: stacks and aggregation keys held */
	__u32 ring_size;
	const char *bpf_object; /* NULL: derived from ANTIMETAL_BPF_PATH */
	bool hardware_events;
	bool bpf_stats;
	bool verbose;
	unsigned poll_ms; /* 0: epoll wake-ups (ring_buffer__poll); else timer */
	enum decoder decoder;
	pid_t notify_pid; /* SIGUSR1 to it once attached (0: none) */
	const char *record; /* wasm2c: append consumed ring bytes here */
	double steady_from_s; /* the steady window, s after attach (0: none) */
	double steady_to_s;   /* its end (0: the end of --duration) */
};

/* The defaults, in one place (the help text below states them). */
static const struct options DEFAULT_OPTIONS = {
	.source = SOURCE_PERF,
	.freq = 1000,
	.duration_s = 5.0,
	.skip_idle = true,
	.collect_stacks = true,
	.tables = true,
	.table_entries = 16384,
	.ring_size = 8u << 20,
	.decoder = DECODER_LIBBPF,
};

static const char *const SOURCE_NAMES[] = { "perf", "stress", NULL };
static const char *const DECODER_NAMES[] = { "libbpf", "wasm2c", NULL };

static const struct option_spec OPTION_SPECS[] = {
	OPT("source", OPTION_CHOICE, source, "perf|stress",
	    "perf: CPU sampling (profiler.bpf.o, default);\n"
	    "stress: one event per system call of --target-pid\n"
	    "(stress.bpf.o, raw_tp/sys_enter, no perf events)",
	    .choices = SOURCE_NAMES),
	OPT("freq", OPTION_UINT, freq, "HZ",
	    "samples per second per CPU (default 1000)", .min = 1,
	  .max = 1000000),
	OPT("duration", OPTION_SECONDS, duration_s, "SECONDS",
	    "how long to sample (default 5, fractions allowed)"),
	OPT("target-pid", OPTION_UINT, target_pid, "PID",
	    "only this process (required for --source stress)", .min = 1,
	  .max = INT_MAX),
	OPT("target-tid", OPTION_UINT, target_tid, "TID",
	    "(perf) only this thread", .min = 1, .max = INT_MAX),
	OPT("no-skip-idle", OPTION_NO_FLAG, skip_idle, NULL,
	    "send idle-task samples too (default: count, skip)"),
	OPT("no-stacks", OPTION_NO_FLAG, collect_stacks, NULL,
	    "(perf) plain 32-byte events, no frames in the\n"
	    "records (default: user and kernel frames)"),
	OPT("no-tables", OPTION_NO_FLAG, tables, NULL,
	    "(wasm2c) a parser without stack and aggregation\n"
	    "tables: events carry frame counts, not stack ids\n"
	    "(default: tables; perf samples are aggregated)"),
	OPT("table-entries", OPTION_UINT, table_entries, "N",
	    "(wasm2c) distinct stacks and aggregation keys the\n"
	    "tables hold between cuts, 16 frames each (default\n"
	    "16384, as the Deno session; small values make the\n"
	    "walks stop tables-full, cut and go on)",
	    .min = 2, .max = 1u << 22),
	OPT("ring-size", OPTION_SIZE, ring_size, "BYTES",
	    "ring buffer size, a power of two from the page\n"
	    "size to 1G; K/M/G suffixes allowed (default 8M)",
	    .min = 4096, .max = 1u << 30, .power_of_two = true),
	OPT("bpf-object", OPTION_STRING, bpf_object, "FILE",
	    "BPF object to load (default: $ANTIMETAL_BPF_PATH/\n"
	    "profiler.bpf.o or stress.bpf.o, else " DEFAULT_BPF_DIR ")"),
	OPT("hardware-events", OPTION_FLAG, hardware_events, NULL,
	    "sample on CPU cycles instead of cpu-clock (fails\n"
	    "clearly where no hardware PMU is exposed)"),
	OPT("bpf-stats", OPTION_FLAG, bpf_stats, NULL,
	    "enable kernel BPF run-time stats while running and\n"
	    "report the program's mean run time"),
	OPT("poll-ms", OPTION_UINT, poll_ms, "MS",
	    "consume on a timer every MS ms with\n"
	    "ring_buffer__consume instead of waiting for the\n"
	    "kernel's per-event wake-ups (default 0: wake-ups;\n"
	    "with --decoder wasm2c: 0 = adaptive polling)", .max = 10000),
	OPT("decoder", OPTION_CHOICE, decoder, "libbpf|wasm2c",
	    "libbpf: ring_buffer__poll, one callback per event\n"
	    "(default); wasm2c: mmap the ring into the wasm2c-\n"
	    "compiled WASM parser and walk it in place, polling\n"
	    "adaptively like the Deno consumer",
	    .choices = DECODER_NAMES),
	OPT("notify-pid", OPTION_UINT, notify_pid, "PID",
	    "send SIGUSR1 to PID once attached (a load\n"
	    "generator waiting with --wait-signal)", .min = 1, .max = INT_MAX),
	OPT("record", OPTION_STRING, record, "FILE",
	    "(wasm2c) write every consumed ring byte to FILE"),
	OPT("steady-from", OPTION_SECONDS, steady_from_s, "SECONDS",
	    "report the steady state: the events consumed and\n"
	    "the CPU used from SECONDS after attach (start-up\n"
	    "and warm-up left out) to --steady-to, as \"steady\""),
	OPT("steady-to", OPTION_SECONDS, steady_to_s, "SECONDS",
	    "end of the steady window, seconds after attach\n"
	    "(default: the end of --duration; the drain is\n"
	    "never in it)"),
	OPT("verbose", OPTION_FLAG, verbose, NULL,
	    "show libbpf's informational and debug messages"),
};

static const struct program_spec PROGRAM = {
	.name = CONSUMER_NAME,
	.description =
		"Load streamprof's BPF object, sample every online CPU, consume the ring\n"
		"buffer with libbpf (one callback per event), then reconcile what was\n"
		"consumed with the kernel-side counters and print one JSON object.",
	.epilogue =
		"Exit status: 0 reconciled and nothing dropped, 1 drops or mismatch,\n"
		"2 usage error, 3 the machine cannot run it (privileges, BPF object,\n"
		"kernel), 70 the WASM parser trapped (a bug). SIGINT/SIGTERM stop\n"
		"early; the JSON is still printed.\n",
	.options = OPTION_SPECS,
	.option_count = OPTION_COUNT(OPTION_SPECS),
};

/*
 * What the per-event checks learn (libbpf's callback, or the wasm2c
 * parser's batch); checked against the kernel's counters.
 */
struct tally {
	__u64 consumed;
	__u64 bad_size;      /* lengths no record of ours has */
	__u64 bad_content;   /* impossible cpu, unknown flags, id/flag mismatch */
	__u64 no_frames;     /* events without PE_FLAG_FRAMES */
	__u64 with_frames;   /* events with PE_FLAG_FRAMES */
	struct stack_outcomes user, kernel; /* of the events with frames */
	__u64 time_regressions; /* per-CPU timestamps going backwards */
	__u32 target_pid;
	__u32 target_tid;
	int possible_cpus;
	__u64 *per_cpu;      /* events per CPU */
	__u64 *last_ts;      /* last timestamp per CPU */
	struct wasm_parser *parser; /* wasm2c: stack ids are its table's */
};

static volatile sig_atomic_t stop_requested;
static bool verbose_libbpf;

/* strerror() that also knows libbpf's own codes (LIBBPF_ERRNO__*, 4000+). */
static const char *errstr(int err)
{
	static char buf[256];

	if (err < 0)
		err = -err;
	if (libbpf_strerror(err, buf, sizeof(buf)) < 0)
		snprintf(buf, sizeof(buf), "%s", strerror(err));
	return buf;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	if (level == LIBBPF_INFO && !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* Frames the tables hold: 16 per entry, at least two whole stacks. */
static __u32 table_frames(const struct options *o)
{
	__u32 f = o->table_entries * 16;

	return f < 2 * PROFILER_STACK_DEPTH ? 2 * PROFILER_STACK_DEPTH : f;
}

/* The rules no single option can check; EXIT_USAGE after saying why. */
static int check_options(const struct options *o)
{
	long page = sysconf(_SC_PAGESIZE);

	/* The kernel wants a power of two and a multiple of the page. */
	if (o->ring_size < (unsigned long)page)
		return fail(EXIT_USAGE, "--ring-size must be at least the page "
					"size, %ld bytes", page);
	if (o->record && o->decoder != DECODER_WASM2C)
		return fail(EXIT_USAGE, "--record needs --decoder wasm2c (libbpf "
					"hands out records one by one, not ring "
					"bytes)");
	if (!o->tables && o->decoder != DECODER_WASM2C)
		return fail(EXIT_USAGE, "--no-tables needs --decoder wasm2c "
					"(only the WASM parser has tables)");
	if (o->source == SOURCE_STRESS && o->target_pid == 0)
		return fail(EXIT_USAGE, "--source stress needs --target-pid (the "
					"process whose system calls become "
					"events)");
	if (o->steady_to_s > 0 && o->steady_from_s == 0)
		return fail(EXIT_USAGE, "--steady-to needs --steady-from");
	if (o->steady_from_s > 0 &&
	    o->steady_from_s >= (o->steady_to_s > 0 ? o->steady_to_s
						    : o->duration_s))
		return fail(EXIT_USAGE, "--steady-from %g must come before the "
					"end of the window (%g s)",
			    o->steady_from_s,
			    o->steady_to_s > 0 ? o->steady_to_s : o->duration_s);
	if (o->steady_to_s > o->duration_s)
		return fail(EXIT_USAGE, "--steady-to %g is after the end of "
					"--duration %g",
			    o->steady_to_s, o->duration_s);
	return 0;
}

/* Fills *o from the command line; COMMAND_LINE_PARSED or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	int rc;

	*o = DEFAULT_OPTIONS;
	rc = parse_command_line(&PROGRAM, argc, argv, o, NULL);
	if (rc != COMMAND_LINE_PARSED)
		return rc;
	rc = check_options(o);
	if (rc) {
		fprintf(stderr, "Run '" CONSUMER_NAME " --help' for usage.\n");
		return rc;
	}
	return COMMAND_LINE_PARSED;
}

/*
 * --bpf-object wins; else $ANTIMETAL_BPF_PATH/<name>; else ebpf/build/<name>
 * relative to the working directory, then relative to this executable
 * (harness-c/build/../../ebpf/build) so it also works from another cwd.
 */
static void resolve_object_path(const struct options *o, char *buf, size_t len)
{
	const char *name = o->source == SOURCE_STRESS ? "stress.bpf.o"
						      : "profiler.bpf.o";
	const char *dir = getenv("ANTIMETAL_BPF_PATH");
	char exe[PATH_MAX];
	ssize_t n;

	if (o->bpf_object) {
		snprintf(buf, len, "%s", o->bpf_object);
		return;
	}
	if (dir && *dir) {
		snprintf(buf, len, "%s/%s", dir, name);
		return;
	}
	snprintf(buf, len, "%s/%s", DEFAULT_BPF_DIR, name);
	if (access(buf, F_OK) == 0)
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;
		char alt[PATH_MAX + 64];

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(alt, sizeof(alt), "%s/../../%s/%s", exe,
				 DEFAULT_BPF_DIR, name);
			if (access(alt, F_OK) == 0) {
				snprintf(buf, len, "%s", alt);
				return;
			}
		}
	}
	/* Keep the cwd-relative path for the error message. */
}

/*
 * The checks every event passes, whatever carried it: a CPU that exists,
 * known flags, the pid/tid filters, and the stack flags only on a record
 * with frames.
 */
static bool event_ok(const struct tally *t, const struct profile_event *e)
{
	if (e->cpu >= (__u32)t->possible_cpus || (e->flags & ~KNOWN_FLAGS))
		return false;
	if (t->target_pid && (__u32)e->pid != t->target_pid)
		return false;
	if (t->target_tid && (__u32)e->tid != t->target_tid)
		return false;
	return (e->flags & PE_FLAG_FRAMES) || !(e->flags & STACK_FLAGS);
}

/* Per-CPU counts and time order of an event that passed the checks. */
static void count_event(struct tally *t, const struct profile_event *e)
{
	t->per_cpu[e->cpu]++;
	if (e->timestamp_ns < t->last_ts[e->cpu])
		t->time_regressions++;
	t->last_ts[e->cpu] = e->timestamp_ns;
}

/*
 * One stack of a record with frames, as the kernel wrote it: `field` the
 * frame count or a negative errno. Counts its outcome; false if the field
 * and the flags disagree (an errno exactly with the error flag, the
 * truncated flag exactly on a stack that filled all PROFILER_STACK_DEPTH
 * slots, as profiler.bpf.c sets them).
 */
static bool wire_stack(__s32 field, __u32 flags, __u32 error_flag,
		       __u32 truncated_flag, struct stack_outcomes *o)
{
	bool truncated = flags & truncated_flag;

	if (field < 0) {
		o->fault++;
		return (flags & error_flag) && !truncated;
	}
	o->frames += (__u32)field;
	if (field == 0)
		o->empty++;
	else if (truncated)
		o->truncated++;
	else
		o->resolved++;
	return !(flags & error_flag) &&
	       truncated == (field == PROFILER_STACK_DEPTH);
}

/*
 * libbpf's callback: one whole record as the kernel committed it, the
 * event and (PE_FLAG_FRAMES) its user and kernel frames after it.
 */
static int on_event(void *ctx, void *data, size_t size)
{
	struct tally *t = ctx;
	const struct profile_event *e = data;
	bool ok;

	t->consumed++;
	if (size < PROFILE_EVENT_SIZE) {
		t->bad_size++;
		return 0;
	}
	if (e->flags & PE_FLAG_FRAMES) {
		__u32 nu = e->user_stack_id > 0 ? (__u32)e->user_stack_id : 0;
		__u32 nk = e->kernel_stack_id > 0 ? (__u32)e->kernel_stack_id : 0;

		if (nu > PROFILER_STACK_DEPTH || nk > PROFILER_STACK_DEPTH ||
		    size != PROFILE_EVENT_SIZE + 8 * (size_t)(nu + nk)) {
			t->bad_size++;
			return 0;
		}
		t->with_frames++;
		ok = wire_stack(e->user_stack_id, e->flags,
				PE_FLAG_USER_STACK_ERROR, PE_FLAG_USER_TRUNCATED,
				&t->user);
		ok &= wire_stack(e->kernel_stack_id, e->flags,
				 PE_FLAG_KERNEL_STACK_ERROR,
				 PE_FLAG_KERNEL_TRUNCATED, &t->kernel);
	} else {
		if (size != PROFILE_EVENT_SIZE) {
			t->bad_size++;
			return 0;
		}
		t->no_frames++;
		ok = true;
	}
	if (!event_ok(t, e) || !ok) {
		t->bad_content++;
		return 0;
	}
	count_event(t, e);
	return 0;
}

/*
 * One stack of an event the wasm2c parser handed on: `id` a stack table id
 * (with tables) or the frame count (without), or STACK_ID_EMPTY /
 * STACK_ID_FAULT. Counts its outcome; false if the id and the flags
 * disagree, or (with tables) the id names no stack of this kind and process.
 */
static bool handed_on_stack(const struct tally *t, __u32 id, __s32 pid,
			    __u32 flags, __u32 error_flag,
			    __u32 truncated_flag, struct stack_outcomes *o)
{
	bool truncated = flags & truncated_flag;
	__u32 n = id;

	if (id == STACK_ID_FAULT) {
		o->fault++;
		return (flags & error_flag) && !truncated;
	}
	if (id == STACK_ID_EMPTY) {
		o->empty++;
		return !(flags & (error_flag | truncated_flag));
	}
	if (truncated)
		o->truncated++;
	else
		o->resolved++;
	if (t->parser && wasm_parser_has_tables(t->parser)) {
		if (!wasm_parser_stack_frames(t->parser, id, &n) ||
		    wasm_parser_stack_pid(t->parser, id) != pid)
			return false;
	}
	o->frames += n;
	return n >= 1 && n <= PROFILER_STACK_DEPTH && !(flags & error_flag) &&
	       truncated == (n == PROFILER_STACK_DEPTH);
}

/*
 * --decoder wasm2c: after each walk, run every decoded event of the batch
 * through the same checks as libbpf's callback; the stacks come as the
 * parser hands them on (ids, not frames). Records the walker skipped as
 * malformed are what libbpf would have handed on_event() with a wrong
 * size: count them the same way (consumed, bad_size).
 */
static void on_wasm_batch(void *ctx, struct wasm_parser *p)
{
	struct tally *t = ctx;
	const struct wasm_walk_stats *s = wasm_parser_stats(p);
	const struct profile_event *batch = wasm_parser_batch(p);
	__u32 n = s->batch_written;

	for (__u32 i = 0; i < n; i++) {
		const struct profile_event *e = &batch[i];
		bool ok = true;

		t->consumed++;
		if (e->flags & PE_FLAG_FRAMES) {
			t->with_frames++;
			ok = handed_on_stack(t, (__u32)e->user_stack_id, e->pid,
					     e->flags, PE_FLAG_USER_STACK_ERROR,
					     PE_FLAG_USER_TRUNCATED, &t->user);
			ok &= handed_on_stack(t, (__u32)e->kernel_stack_id, -1,
					      e->flags,
					      PE_FLAG_KERNEL_STACK_ERROR,
					      PE_FLAG_KERNEL_TRUNCATED,
					      &t->kernel);
		} else {
			t->no_frames++;
		}
		if (!event_ok(t, e) || !ok) {
			t->bad_content++;
			continue;
		}
		count_event(t, e);
	}
	t->consumed += s->short_records + s->long_records;
	t->bad_size += s->malformed;
}

/*
 * The Deno session's poll policy (lib/profiler/session.ts #run), so that the
 * two hosts of the same parser are compared on the same terms:
 * - after a poll that consumed data, sleep until the ring should be about
 *   an eighth full at the rate just measured (at once after that much);
 * - after an empty poll, a little longer each time (1, 2, 4 ... ms), so a
 *   burst that starts is met within the last wait, not the whole maximum;
 * - after a poll that stopped at a record still being written, 1 ms;
 * never longer than ADAPTIVE_MAX_POLL_MS. That cap is a flat 20 ms here;
 * the Deno session derives its cap from the worst-case sampling rate (up
 * to 100 ms) because a wake-up costs a Deno process ~70 us of CPU, while a
 * native wake-up is cheap enough not to matter.
 */
static double adaptive_delay_ms(long long bytes, double elapsed_ms,
				__u32 ring_size, int pending, double *prev)
{
	double eighth = ring_size / 8.0, d;

	if (bytes >= eighth) {
		d = 0;
	} else if (bytes > 0) {
		if (elapsed_ms < 0.001)
			elapsed_ms = 0.001;
		d = eighth / (bytes / elapsed_ms);
		d = d < 1 ? 1 : d > ADAPTIVE_MAX_POLL_MS ? ADAPTIVE_MAX_POLL_MS : d;
	} else if (pending) {
		d = 1;
	} else {
		d = *prev * 2;
		d = d < 1 ? 1 : d > ADAPTIVE_MAX_POLL_MS ? ADAPTIVE_MAX_POLL_MS : d;
	}
	*prev = d;
	return d;
}

static void sleep_ms(double ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
	/* EINTR from a stop signal is fine: the caller checks the flag. */
	nanosleep(&ts, NULL);
}

/*
 * Sum the per-CPU counters. A per-CPU lookup returns one value per possible
 * CPU (not online), each rounded up to 8 bytes; struct profiler_counters is
 * PROFILER_COUNTERS_SIZE (104) bytes so no rounding applies, but we index
 * with the rounded size anyway.
 */
/*
 * Every field of struct profiler_counters (each a __u64, in the struct's
 * order, ebpf/profile_event.h): the sum over CPUs and the JSON report both
 * go through this one list.
 */
#define COUNTER(field) { #field, offsetof(struct profiler_counters, field) }
static const struct counter_field {
	const char *name;
	size_t offset;
} COUNTER_FIELDS[] = {
	COUNTER(samples_seen),		 COUNTER(events_submitted),
	COUNTER(reserve_failed),	 COUNTER(idle_skipped),
	COUNTER(filtered),		 COUNTER(user_stack_truncated),
	COUNTER(kernel_stack_truncated), COUNTER(user_stack_errors),
	COUNTER(kernel_stack_errors),	 COUNTER(user_stack_empty),
	COUNTER(kernel_stack_empty),	 COUNTER(user_frames),
	COUNTER(kernel_frames),
};
#undef COUNTER
#define COUNTER_COUNT (sizeof(COUNTER_FIELDS) / sizeof(COUNTER_FIELDS[0]))
_Static_assert(COUNTER_COUNT * sizeof(__u64) ==
		       sizeof(struct profiler_counters),
	       "COUNTER_FIELDS lists every field of struct profiler_counters");

/* Counter `i` of COUNTER_FIELDS in *c. */
static __u64 *counter_in(struct profiler_counters *c, size_t i)
{
	return (__u64 *)(void *)((char *)c + COUNTER_FIELDS[i].offset);
}

static __u64 counter_of(const struct profiler_counters *c, size_t i)
{
	return *(const __u64 *)(const void *)((const char *)c +
					      COUNTER_FIELDS[i].offset);
}

static int read_counters(int map_fd, int possible, struct profiler_counters *sum,
			 struct profiler_counters *per_cpu)
{
	size_t stride = (sizeof(struct profiler_counters) + 7) & ~(size_t)7;
	__u32 key = 0;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(map_fd, &key, per_cpu))
		return -errno;
	for (int i = 0; i < possible; i++) {
		const struct profiler_counters *c =
			(const void *)((const char *)per_cpu + (size_t)i * stride);

		for (size_t f = 0; f < COUNTER_COUNT; f++)
			*counter_in(sum, f) += counter_of(c, f);
	}
	return 0;
}

static bool samples_balance(const struct profiler_counters *c)
{
	return c->samples_seen == c->idle_skipped + c->filtered +
				  c->reserve_failed + c->events_submitted;
}

/*
 * The stacks of what was consumed against the kernel's stack counters, the
 * equations of lib/profiler/reconcile.ts: for each kind, every event with
 * frames has exactly one outcome (resolved + truncated + empty + fault =
 * events with frames), and truncated, faults (the kernel's errors), empty
 * and frames are the kernel's numbers. (The kernel counts submitted events
 * only, so a drop changes neither side.)
 */
static bool stack_kind_matches(const struct stack_outcomes *o, __u64 with_frames,
			       __u64 truncated, __u64 errors, __u64 empty,
			       __u64 frames)
{
	return o->resolved + o->truncated + o->empty + o->fault == with_frames &&
	       o->truncated == truncated && o->fault == errors &&
	       o->empty == empty && o->frames == frames;
}

static bool stacks_match(const struct stack_outcomes *user,
			 const struct stack_outcomes *kernel, __u64 with_frames,
			 const struct profiler_counters *c)
{
	return stack_kind_matches(user, with_frames, c->user_stack_truncated,
				  c->user_stack_errors, c->user_stack_empty,
				  c->user_frames) &&
	       stack_kind_matches(kernel, with_frames,
				  c->kernel_stack_truncated,
				  c->kernel_stack_errors, c->kernel_stack_empty,
				  c->kernel_frames);
}

static bool same_outcomes(const struct stack_outcomes *a,
			  const struct stack_outcomes *b)
{
	return a->resolved == b->resolved && a->truncated == b->truncated &&
	       a->empty == b->empty && a->fault == b->fault &&
	       a->frames == b->frames;
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss; /* Linux reports KiB */
}

/*
 * VmHWM of /proc/self/status in KiB, or -1. Unlike ru_maxrss, which exec
 * carries over from the parent (a consumer started by a 100 MB Deno process
 * reports 100 MB), it is this program's own peak.
 */
static long vm_hwm_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_counters_json(const struct profiler_counters *c)
{
	for (size_t f = 0; f < COUNTER_COUNT; f++)
		printf("%c\"%s\":%llu", f ? ',' : '{', COUNTER_FIELDS[f].name,
		       (unsigned long long)counter_of(c, f));
	putchar('}');
}

static void print_outcomes_json(const char *name,
				const struct stack_outcomes *o)
{
	printf("\"%s\":{\"resolved\":%llu,\"truncated\":%llu,\"empty\":%llu,"
	       "\"fault\":%llu,\"frames\":%llu}",
	       name, (unsigned long long)o->resolved,
	       (unsigned long long)o->truncated, (unsigned long long)o->empty,
	       (unsigned long long)o->fault, (unsigned long long)o->frames);
}

struct run_result {
	const char *object_path;
	int online;
	int possible;
	double elapsed_s;
	struct profiler_counters sum;
	const struct profiler_counters *per_cpu; /* possible entries */
	struct tally *tally;
	struct bpf_prog_info info;
	bool have_info;
	__u64 cpu_ns;
	__u64 startup_cpu_ns; /* spawn to attach */
	const struct cpu_mark *steady_from, *steady_to;
	bool interrupted;
	/*
	 * The stacks as consumed: the walk statistics for wasm2c, the
	 * callback's tally for libbpf.
	 */
	__u64 no_frames, with_frames;
	const struct stack_outcomes *user, *kernel;
	bool aggregating;   /* wasm2c: SINK_AGGREGATE */
	__u64 aggregated;   /* samples the aggregation tables counted */
	bool consumed_ok, balance_ok, stacks_ok, content_ok, active_ok;
	bool walk_ok;       /* wasm2c: events handed on = walk statistics */
	bool aggregate_ok;  /* wasm2c: every event aggregated once */
	__u64 drops;
	const struct mapped_ring_totals *ring_totals; /* wasm2c only */
	uint32_t wasm_own_bytes;                     /* wasm2c only */
	uint64_t wasm_memory_bytes;                  /* wasm2c only */
};

static bool run_ok(const struct run_result *r)
{
	return r->consumed_ok && r->balance_ok && r->stacks_ok &&
	       r->content_ok && r->active_ok && r->walk_ok && r->aggregate_ok;
}

static void print_result(const struct options *o, const struct run_result *r)
{
	const struct tally *t = r->tally;
	bool ok = run_ok(r);

	printf("{\"consumer\":\"" CONSUMER_NAME "\",\"source\":\"%s\",",
	       o->source == SOURCE_STRESS ? "stress" : "perf");
	printf("\"bpf_object\":");
	print_json_string(r->object_path);
	if (o->source == SOURCE_PERF)
		printf(",\"freq\":%lu,\"event\":\"%s\"", o->freq,
		       o->hardware_events ? "cycles" : "cpu-clock");
	else
		printf(",\"freq\":null,\"event\":\"raw_tp/sys_enter\"");
	printf(",\"duration_s\":%g,\"elapsed_s\":%.6f,\"cpus\":%d,"
	       "\"possible_cpus\":%d,\"target_pid\":%u,\"target_tid\":%u,"
	       "\"skip_idle\":%s,\"collect_stacks\":%s,\"ring_size\":%u,",
	       o->duration_s, r->elapsed_s, r->online, r->possible,
	       o->target_pid, o->target_tid, o->skip_idle ? "true" : "false",
	       o->source == SOURCE_PERF && o->collect_stacks ? "true" : "false",
	       o->ring_size);
	printf("\"decoder\":\"%s\",\"poll\":\"%s\",\"poll_ms\":%u,",
	       o->decoder == DECODER_WASM2C ? "wasm2c" : "libbpf",
	       o->poll_ms ? "timer"
	       : o->decoder == DECODER_WASM2C ? "adaptive"
					       : "epoll",
	       o->poll_ms);
	if (r->ring_totals) {
		printf("\"walks\":%llu,\"polls\":%llu,\"busy_stops\":%llu,"
		       "\"discarded\":%llu,\"malformed\":%llu,"
		       "\"wasm_own_bytes\":%u,\"wasm_memory_bytes\":%llu,",
		       (unsigned long long)r->ring_totals->walks,
		       (unsigned long long)r->ring_totals->polls,
		       (unsigned long long)r->ring_totals->busy_stops,
		       (unsigned long long)r->ring_totals->discarded,
		       (unsigned long long)r->ring_totals->malformed,
		       r->wasm_own_bytes,
		       (unsigned long long)r->wasm_memory_bytes);
		if (o->tables)
			printf("\"tables\":{\"stacks\":%u,\"frames\":%u,"
			       "\"aggregates\":%u},",
			       o->table_entries, table_frames(o),
			       o->table_entries);
		else
			printf("\"tables\":null,");
		printf("\"aggregate\":%s,\"table_cuts\":%llu,"
		       "\"aggregated\":%llu,",
		       r->aggregating ? "true" : "false",
		       (unsigned long long)r->ring_totals->table_cuts,
		       (unsigned long long)r->aggregated);
	}
	printf("\"counters\":");
	print_counters_json(&r->sum);
	printf(",\"consumed\":%llu,\"bad_size\":%llu,\"bad_content\":%llu,",
	       (unsigned long long)t->consumed, (unsigned long long)t->bad_size,
	       (unsigned long long)t->bad_content);
	printf("\"events_per_s\":%.1f,\"samples_per_s\":%.1f,",
	       r->elapsed_s > 0 ? (double)t->consumed / r->elapsed_s : 0.0,
	       r->elapsed_s > 0 ? (double)r->sum.samples_seen / r->elapsed_s : 0.0);
	printf("\"events_per_cpu\":[");
	for (int i = 0; i < r->possible; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)t->per_cpu[i]);
	printf("],\"samples_per_cpu\":[");
	for (int i = 0; i < r->possible; i++)
		printf("%s%llu", i ? "," : "",
		       (unsigned long long)r->per_cpu[i].samples_seen);
	printf("],\"stacks\":{\"with_frames\":%llu,\"no_frames\":%llu,",
	       (unsigned long long)r->with_frames,
	       (unsigned long long)r->no_frames);
	print_outcomes_json("user", r->user);
	putchar(',');
	print_outcomes_json("kernel", r->kernel);
	printf("},");
	printf("\"per_cpu_time_regressions\":%llu,",
	       (unsigned long long)t->time_regressions);
	if (r->have_info) {
		printf("\"prog_recursion_misses\":%llu,",
		       (unsigned long long)r->info.recursion_misses);
		if (o->bpf_stats && r->info.run_cnt)
			printf("\"prog_run_cnt\":%llu,\"prog_avg_run_ns\":%.1f,",
			       (unsigned long long)r->info.run_cnt,
			       (double)r->info.run_time_ns / (double)r->info.run_cnt);
	} else {
		printf("\"prog_recursion_misses\":null,");
	}
	printf("\"drops\":%llu,\"reconciled\":%s,\"reconciliation\":{"
	       "\"consumed_equals_submitted\":%s,\"samples_balance\":%s,"
	       "\"stacks_match\":%s,\"content_valid\":%s,"
	       "\"program_ran\":%s,\"events_match_walk\":%s,"
	       "\"every_event_aggregated\":%s},",
	       (unsigned long long)r->drops, ok ? "true" : "false",
	       r->consumed_ok ? "true" : "false",
	       r->balance_ok ? "true" : "false",
	       r->stacks_ok ? "true" : "false",
	       r->content_ok ? "true" : "false",
	       r->active_ok ? "true" : "false",
	       r->walk_ok ? "true" : "false",
	       r->aggregate_ok ? "true" : "false");
	printf("\"consumer_cpu_ns\":%llu,\"cpu_ns_per_event\":%.1f,",
	       (unsigned long long)r->cpu_ns,
	       t->consumed ? (double)r->cpu_ns / (double)t->consumed : 0.0);
	/* As bench/deno_consumer.ts: start-up, the window, spawn to now. */
	printf("\"startup_cpu_ns\":%llu,",
	       (unsigned long long)r->startup_cpu_ns);
	cpu_mark_print_window(r->steady_from, r->steady_to);
	printf(",\"total_cpu_ns\":%llu,", (unsigned long long)process_cpu_ns());
	printf("\"peak_rss_kib\":%ld,\"vm_hwm_kib\":%ld,"
	       "\"heap_in_use_bytes\":%zu,\"interrupted\":%s}\n",
	       peak_rss_kib(), vm_hwm_kib(), mallinfo2().uordblks,
	       r->interrupted ? "true" : "false");
	fflush(stdout);
}

/*
 * Whether `pid` blocks or catches SIGUSR1 (SigBlk/SigCgt in /proc/PID/
 * status): a freshly started generator may not have set that up yet, and
 * SIGUSR1's default action would kill it. 1 yes, 0 not yet, -1 gone.
 */
static int usr1_ready(pid_t pid)
{
	char path[64], line[256];
	unsigned long long mask, bit = 1ULL << (SIGUSR1 - 1);
	int ready = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if ((sscanf(line, "SigBlk: %llx", &mask) == 1 ||
		     sscanf(line, "SigCgt: %llx", &mask) == 1) &&
		    (mask & bit))
			ready = 1;
	fclose(f);
	return ready;
}

/* --notify-pid: SIGUSR1 once the target is ready for it (at most 2 s). */
static void notify(pid_t pid)
{
	int ready = 0;

	for (int i = 0; i < 2000 && (ready = usr1_ready(pid)) == 0; i++)
		usleep(1000);
	if (ready != 1)
		fprintf(stderr, "%s: --notify-pid %d: %s\n", CONSUMER_NAME,
			(int)pid, ready < 0 ? "no such process"
					    : "it never blocked or caught SIGUSR1; not sent");
	else if (kill(pid, SIGUSR1) != 0)
		fprintf(stderr, "%s: --notify-pid %d: %s\n", CONSUMER_NAME,
			(int)pid, strerror(errno));
}

/* Resources owned by one run; run_cleanup releases whatever was made. */
struct run {
	const struct options *o;
	char object_path[PATH_MAX + 64];
	struct bpf_object *obj;
	struct bpf_program *prog;
	int counters_fd;
	int cpus[MAX_ONLINE_CPUS]; /* online CPUs */
	int online, possible;
	struct perf_attachment perf;
	struct bpf_link *raw_link;
	struct ring_buffer *rb;
	struct wasm_parser *parser; /* --decoder wasm2c */
	struct mapped_ring ring;    /* --decoder wasm2c, mapped into parser */
	FILE *record;               /* --record */
	int stats_fd;
	struct tally tally;
	struct profiler_counters *per_cpu;
	double start;      /* monotonic seconds at attach */
	__u64 cpu_start;   /* our CPU time at attach */
	__u64 startup_cpu_ns; /* our CPU time once attached: the start-up */
	struct cpu_mark steady_from, steady_to; /* --steady-from/--steady-to */
	double last_poll;  /* wasm2c: when the last poll ended */
	double last_nap;   /* wasm2c: the adaptive poll's last sleep, ms */
	bool aggregate;    /* wasm2c: walks feed SINK_AGGREGATE */
	bool interrupted;  /* a stop signal ended the consumption early */
};

static void run_detach(struct run *r)
{
	perf_detach_all(&r->perf);
	bpf_link__destroy(r->raw_link); /* NULL-safe */
	r->raw_link = NULL;
}

static void run_cleanup(struct run *r)
{
	int err;

	run_detach(r);
	ring_buffer__free(r->rb); /* NULL-safe */
	/* The mapping lives inside the parser's memory: unmap it first. */
	err = mapped_ring_unmap(&r->ring);
	if (err)
		fprintf(stderr, "%s: restoring the parser memory after the "
				"ring: %s\n", CONSUMER_NAME, strerror(-err));
	wasm_parser_close(r->parser); /* NULL-safe */
	if (r->record && fclose(r->record) != 0)
		fprintf(stderr, "%s: --record: %s\n", CONSUMER_NAME,
			strerror(errno));
	bpf_object__close(r->obj); /* NULL-safe */
	if (r->stats_fd >= 0)
		close(r->stats_fd);
	free(r->tally.per_cpu);
	free(r->tally.last_ts);
	free(r->per_cpu);
}

/* The machine and the target: root, a live --target-pid. */
static int check_environment(const struct options *o)
{
	if (geteuid() != 0)
		return fail(EXIT_ENVIRONMENT, "must run as root (loading BPF "
					      "programs and system-wide perf "
					      "events needs CAP_BPF, "
					      "CAP_PERFMON)");
	if (o->target_pid && kill((pid_t)o->target_pid, 0) != 0 &&
	    errno == ESRCH)
		return fail(EXIT_USAGE, "--target-pid %u: no such process",
			    o->target_pid);
	return 0;
}

/* The online CPUs, the possible count, and the per-CPU tables. */
static int count_cpus(struct run *r)
{
	r->online = online_cpus(r->cpus, MAX_ONLINE_CPUS);
	r->possible = libbpf_num_possible_cpus();
	if (r->online <= 0 || r->possible <= 0)
		return fail(EXIT_ENVIRONMENT, "cannot read the CPU lists in "
					      "/sys/devices/system/cpu: %s",
			    strerror(r->online <= 0 ? -r->online
						    : -r->possible));
	r->tally.possible_cpus = r->possible;
	r->tally.target_pid = r->o->target_pid;
	r->tally.target_tid = r->o->target_tid;
	r->tally.per_cpu = calloc((size_t)r->possible, sizeof(__u64));
	r->tally.last_ts = calloc((size_t)r->possible, sizeof(__u64));
	r->per_cpu = calloc((size_t)r->possible,
			    sizeof(struct profiler_counters));
	if (!r->tally.per_cpu || !r->tally.last_ts || !r->per_cpu)
		return fail(EXIT_ENVIRONMENT, "out of memory");
	return 0;
}

/* Sizes the ring (the only map a consumer sizes: no stack map any more). */
static int size_maps(const struct run *r)
{
	const struct options *o = r->o;
	struct bpf_map *map;
	int err;

	map = bpf_object__find_map_by_name(r->obj, PROFILER_RINGBUF_MAP);
	if (!map || bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF)
		return fail(EXIT_ENVIRONMENT, "%s has no ring buffer map '%s'",
			    r->object_path, PROFILER_RINGBUF_MAP);
	err = bpf_map__set_max_entries(map, o->ring_size);
	if (err)
		return fail(EXIT_ENVIRONMENT, "cannot size ring buffer to %u "
					      "bytes: %s",
			    o->ring_size, errstr(err));
	return 0;
}

/* Opens the BPF object, configures it and loads it into the kernel. */
static int open_and_load(struct run *r)
{
	const struct options *o = r->o;
	struct profiler_config cfg = {
		.target_pid = o->target_pid,
		.skip_idle = o->skip_idle,
		/* The stress source never sends frames (stress.bpf.c). */
		.collect_stacks = o->source == SOURCE_PERF && o->collect_stacks,
		.target_tid = o->target_tid,
	};
	const char *prog_name = o->source == SOURCE_STRESS ? STRESS_PROG_NAME
							   : PROFILER_PROG_NAME;
	const char *path = r->object_path;
	int err;

	resolve_object_path(o, r->object_path, sizeof(r->object_path));
	if (access(path, R_OK) != 0)
		return fail(EXIT_ENVIRONMENT, "BPF object %s: %s (run `make "
					      "build-ebpf`, or pass "
					      "--bpf-object / set "
					      "ANTIMETAL_BPF_PATH)",
			    path, strerror(errno));
	r->obj = bpf_object__open_file(path, NULL);
	if (!r->obj) {
		err = -errno;
		r->obj = NULL;
		return fail(EXIT_ENVIRONMENT, "cannot open BPF object %s: %s "
					      "(not a valid BPF ELF object?)",
			    path, errstr(err));
	}
	r->prog = bpf_object__find_program_by_name(r->obj, prog_name);
	if (!r->prog)
		return fail(EXIT_ENVIRONMENT, "%s has no program '%s': wrong "
					      "object for --source %s?",
			    path, prog_name, SOURCE_NAMES[o->source]);
	err = size_maps(r);
	if (err)
		return err;
	if (set_rodata_config(r->obj, &cfg))
		return EXIT_ENVIRONMENT; /* it said why */
	err = bpf_object__load(r->obj);
	if (err)
		return fail(EXIT_ENVIRONMENT,
			    "loading %s into the kernel failed: %s%s", path,
			    errstr(err),
			    err == -EACCES
				    ? " (the BPF verifier rejected a program: "
				      "its log is above)"
			    : err == -EPERM
				    ? " (not permitted: missing CAP_BPF/"
				      "CAP_PERFMON, kernel lockdown, or "
				      "RLIMIT_MEMLOCK on old kernels)"
				    : " (libbpf's messages above say where)");
	r->counters_fd = bpf_object__find_map_fd_by_name(r->obj,
							 PROFILER_COUNTERS_MAP);
	if (r->counters_fd < 0)
		return fail(EXIT_ENVIRONMENT, "%s has no '%s' map", path,
			    PROFILER_COUNTERS_MAP);
	return 0;
}

/* Sets up the wasm2c decoder: parser instance with the ring mapped in. */
static int wasm2c_setup(struct run *r, int ring_fd)
{
	long page = sysconf(_SC_PAGESIZE);
	struct wasm_parser_config cfg = {
		.ring_capacity = WASM2C_RECENT_EVENTS,
		.batch_capacity = WASM2C_BATCH_EVENTS,
		.input_bytes = WASM2C_INPUT_BYTES,
		.map_bytes = mapped_ring_bytes(r->o->ring_size, page),
		.map_align = page > 65536 ? (__u32)page : 65536,
	};
	/* By default the Deno session's (lib/parser DEFAULT_TABLES). */
	const struct wasm_parser_tables tables = {
		.stacks = r->o->table_entries,
		.frames = table_frames(r->o),
		.aggregates = r->o->table_entries,
	};
	char err[256];
	int rc;

	/*
	 * As the Deno session: the tables always (unless --no-tables), and
	 * aggregation for CPU sampling; the stress source is only counted.
	 * initTables() must come before init(): the open call does both.
	 */
	rc = wasm_parser_open_with_tables(&r->parser, &cfg,
					  r->o->tables ? &tables : NULL, err,
					  sizeof(err));
	if (rc)
		return fail(rc == -EFAULT ? EXIT_BUG : EXIT_ENVIRONMENT,
			    "--decoder wasm2c: %s", err);
	r->tally.parser = r->parser;
	r->aggregate = r->o->tables && r->o->source == SOURCE_PERF;
	rc = mapped_ring_map(&r->ring, r->parser, ring_fd, r->o->ring_size,
			     err, sizeof(err));
	if (rc)
		return fail(EXIT_ENVIRONMENT, "--decoder wasm2c: %s", err);
	r->last_nap = 1;
	return 0;
}

/*
 * Everything before attaching: CPUs, the object loaded, the decoder, the
 * --record file (first, so that a bad path is a usage error before any
 * work), BPF stats.
 */
static int open_run(struct run *r)
{
	const struct options *o = r->o;
	int ring_fd, err;

	if (o->record) {
		r->record = fopen(o->record, "wb");
		if (!r->record)
			return fail(EXIT_USAGE, "--record %s: %s", o->record,
				    strerror(errno));
	}
	err = count_cpus(r);
	if (!err)
		err = open_and_load(r);
	if (err)
		return err;
	ring_fd = bpf_object__find_map_fd_by_name(r->obj, PROFILER_RINGBUF_MAP);
	if (o->decoder == DECODER_WASM2C) {
		err = wasm2c_setup(r, ring_fd);
		if (err)
			return err;
	} else {
		r->rb = ring_buffer__new(ring_fd, on_event, &r->tally, NULL);
		if (!r->rb)
			return fail(EXIT_ENVIRONMENT, "ring_buffer__new failed: "
						      "%s", strerror(errno));
	}
	if (o->bpf_stats) {
		r->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (r->stats_fd < 0)
			return fail(EXIT_ENVIRONMENT, "--bpf-stats: cannot "
						      "enable BPF run time "
						      "stats: %s",
				    strerror(errno));
	}
	return 0;
}

/* Attaches the program (perf events per CPU, or raw_tp) and starts the clocks. */
static int attach_run(struct run *r)
{
	const struct options *o = r->o;

	on_stop_signals(on_signal);
	r->cpu_start = process_cpu_ns();
	r->start = monotonic_seconds();
	if (o->source == SOURCE_PERF) {
		if (perf_attach_all(r->prog, r->cpus, r->online, o->freq,
				    o->hardware_events, &r->perf))
			return EXIT_ENVIRONMENT; /* it said why */
	} else {
		r->raw_link = bpf_program__attach(r->prog);
		if (!r->raw_link)
			return fail(EXIT_ENVIRONMENT, "attaching to "
						      "raw_tp/sys_enter "
						      "failed: %s",
				    strerror(errno));
	}
	/*
	 * Attached: everything until here (exec, loading, the verifier,
	 * attaching) is start-up, paid once per run, not per event.
	 */
	r->startup_cpu_ns = process_cpu_ns();
	/* A generator waiting for us may start now. */
	if (o->notify_pid)
		notify(o->notify_pid);
	r->last_poll = monotonic_seconds();
	return 0;
}

/* One poll of the wasm2c decoder; bytes consumed or a negative errno. */
static long long wasm2c_poll(struct run *r)
{
	long long n = mapped_ring_poll(&r->ring,
				       SINK_RING | SINK_BATCH |
					       (r->aggregate ? SINK_AGGREGATE : 0),
				       on_wasm_batch, &r->tally, r->record);

	if (n < 0)
		fail(n == -EFAULT ? EXIT_BUG : EXIT_ENVIRONMENT,
		     "consuming the ring failed: %s",
		     n == -EFAULT ? "the wasm2c parser trapped"
				  : strerror((int)-n));
	return n;
}

/* The exit status a failed wasm2c poll means. */
static int wasm2c_poll_status(long long n)
{
	return n == -EFAULT ? EXIT_BUG : EXIT_ENVIRONMENT;
}

/* One wasm2c poll and the adaptive (or --poll-ms) sleep after it. */
static int wasm2c_step(struct run *r, double left_s)
{
	long long n = wasm2c_poll(r);
	double now, nap;

	if (n < 0)
		return wasm2c_poll_status(n);
	now = monotonic_seconds();
	nap = r->o->poll_ms
		      ? r->o->poll_ms
		      : adaptive_delay_ms(n, (now - r->last_poll) * 1000,
					  r->o->ring_size,
					  mapped_ring_pending(&r->ring) > 0,
					  &r->last_nap);
	r->last_poll = now;
	sleep_ms(nap < left_s * 1000 ? nap : left_s * 1000);
	return 0;
}

/* One libbpf poll: woken per event, or on a --poll-ms timer. */
static int libbpf_step(struct run *r, double left_s)
{
	int err;

	if (r->o->poll_ms) {
		/*
		 * Timer mode: while we sleep the ring fills without waking
		 * anyone (the kernel only wakes a consumer that had caught
		 * up), so the producer pays for about one wake-up per
		 * interval instead of one per event.
		 */
		double nap = r->o->poll_ms / 1000.0;

		usleep((useconds_t)((left_s < nap ? left_s : nap) * 1e6));
		err = ring_buffer__consume(r->rb);
	} else {
		/* Wake at least every 100 ms to notice the deadline. */
		err = ring_buffer__poll(r->rb, left_s > 0.1
						       ? 100
						       : (int)(left_s * 1000) + 1);
	}
	if (err < 0 && err != -EINTR)
		return fail(EXIT_ENVIRONMENT, "consuming the ring failed: %s",
			    errstr(err));
	return 0;
}

/*
 * Takes the steady window's marks that are due at `now` (monotonic
 * seconds); returns when the next one is due (or `deadline`). Called
 * between polls, where the consumed count cannot move under the clocks.
 */
static double take_due_marks(struct run *r, double now, double deadline)
{
	const struct options *o = r->o;
	double from = r->start + o->steady_from_s;
	double to = o->steady_to_s > 0 ? r->start + o->steady_to_s : deadline;

	if (o->steady_from_s == 0)
		return deadline;
	if (!r->steady_from.taken) {
		if (now < from)
			return from;
		cpu_mark_take(&r->steady_from, true, now - r->start,
			      r->tally.consumed);
	}
	if (!r->steady_to.taken && to < deadline) {
		if (now < to)
			return to;
		cpu_mark_take(&r->steady_to, false, now - r->start,
			      r->tally.consumed);
	}
	return deadline;
}

/*
 * Consumes until the duration is over or a stop signal came, taking the
 * steady window's marks on time (no wait runs past one). A window that
 * ends with the run is closed here, before the drain.
 */
static int consume_until_deadline(struct run *r)
{
	double deadline = r->start + r->o->duration_s;

	while (!stop_requested) {
		double now = monotonic_seconds();
		double next = take_due_marks(r, now, deadline);
		int err;

		if (deadline - now <= 0)
			break;
		err = r->o->decoder == DECODER_WASM2C
			      ? wasm2c_step(r, next - now)
			      : libbpf_step(r, next - now);
		if (err)
			return err;
	}
	r->interrupted = stop_requested;
	if (r->steady_from.taken && !r->steady_to.taken)
		cpu_mark_take(&r->steady_to, false,
			      monotonic_seconds() - r->start, r->tally.consumed);
	return 0;
}

/*
 * Stop producing, then drain. A program instance may still be between
 * reserve and submit on another CPU when the links go away, so drain until
 * the counters balance and the ring holds nothing the counters do not know
 * about, giving in-flight runs up to 200 ms.
 */
static int drain(struct run *r, struct run_result *res)
{
	int err;

	run_detach(r);
	res->elapsed_s = monotonic_seconds() - r->start;
	for (int tries = 0;; tries++) {
		if (r->o->decoder == DECODER_WASM2C) {
			long long n = wasm2c_poll(r);

			if (n < 0)
				return wasm2c_poll_status(n);
		} else {
			err = ring_buffer__consume(r->rb);
			if (err < 0)
				return fail(EXIT_ENVIRONMENT,
					    "ring_buffer__consume failed: %s",
					    errstr(err));
		}
		err = read_counters(r->counters_fd, r->possible, &res->sum,
				    r->per_cpu);
		if (err)
			return fail(EXIT_ENVIRONMENT, "reading the '%s' map "
						      "failed: %s",
				    PROFILER_COUNTERS_MAP, errstr(err));
		if ((r->tally.consumed == res->sum.events_submitted &&
		     samples_balance(&res->sum)) ||
		    tries >= DRAIN_TRIES)
			break;
		usleep(1000);
	}
	res->cpu_ns = process_cpu_ns() - r->cpu_start;
	return 0;
}

/* Fills the verdicts of *res from what was consumed and counted. */
static void reconcile(struct run *r, struct run_result *res)
{
	const struct options *o = r->o;
	__u32 len = sizeof(res->info);

	memset(&res->info, 0, sizeof(res->info));
	res->have_info = bpf_obj_get_info_by_fd(bpf_program__fd(r->prog),
						&res->info, &len) == 0;
	res->object_path = r->object_path;
	res->online = r->online;
	res->possible = r->possible;
	res->per_cpu = r->per_cpu;
	res->tally = &r->tally;
	res->interrupted = r->interrupted;
	res->startup_cpu_ns = r->startup_cpu_ns;
	res->steady_from = &r->steady_from;
	res->steady_to = &r->steady_to;
	res->consumed_ok = r->tally.consumed == res->sum.events_submitted;
	res->balance_ok = samples_balance(&res->sum);
	if (r->parser) {
		/* What the walks counted; the events handed on must agree. */
		const struct mapped_ring_totals *t = &r->ring.totals;

		res->no_frames = t->no_frames;
		res->with_frames = t->events - t->no_frames;
		res->user = &t->user;
		res->kernel = &t->kernel;
		res->walk_ok = r->tally.no_frames == t->no_frames &&
			       r->tally.with_frames == res->with_frames &&
			       same_outcomes(&r->tally.user, &t->user) &&
			       same_outcomes(&r->tally.kernel, &t->kernel);
		res->aggregating = r->aggregate;
		/* Cut at each tables-full stop, and what is held now. */
		res->aggregated = t->aggregated +
				  wasm_parser_aggregated_samples(r->parser);
		res->aggregate_ok = !r->aggregate || res->aggregated == t->events;
	} else {
		res->no_frames = r->tally.no_frames;
		res->with_frames = r->tally.with_frames;
		res->user = &r->tally.user;
		res->kernel = &r->tally.kernel;
		res->walk_ok = res->aggregate_ok = true;
	}
	res->stacks_ok = res->no_frames + res->with_frames ==
				 res->sum.events_submitted &&
			 stacks_match(res->user, res->kernel, res->with_frames,
				      &res->sum);
	res->content_ok = r->tally.bad_size == 0 && r->tally.bad_content == 0;
	/*
	 * Perf sampling that ran long enough for 100+ samples but saw none
	 * means the program never ran: "0 of 0 reconciled" must not pass.
	 * (The stress source legitimately sees nothing if its target idles.)
	 */
	res->active_ok = o->source != SOURCE_PERF || res->sum.samples_seen > 0 ||
			 (double)o->freq * res->elapsed_s * r->online < 100;
	/*
	 * Drops: events the ring had no room for, plus program runs the kernel
	 * skipped because another BPF program was running on that CPU (those
	 * never reach our counters, only the program's recursion_misses).
	 */
	res->drops = res->sum.reserve_failed +
		     (res->have_info ? res->info.recursion_misses : 0);
	if (r->parser) {
		res->ring_totals = &r->ring.totals;
		res->wasm_own_bytes = wasm_parser_own_bytes(r->parser);
		res->wasm_memory_bytes = wasm_parser_memory_bytes(r->parser);
	}
}

/* Prints the result and the summary line; the run's exit status. */
static int report(const struct run *r, const struct run_result *res)
{
	bool ok = run_ok(res);

	print_result(r->o, res);
	fprintf(stderr, "%s: %llu events in %.2f s (%.0f/s), %s, %llu dropped\n",
		CONSUMER_NAME, (unsigned long long)r->tally.consumed,
		res->elapsed_s, (double)r->tally.consumed / res->elapsed_s,
		ok ? "reconciled" : "NOT reconciled",
		(unsigned long long)res->drops);
	return ok && res->drops == 0 ? EXIT_OK : EXIT_CHECKS_FAILED;
}

int main(int argc, char **argv)
{
	static struct run r = { .stats_fd = -1 }; /* large: not on the stack */
	struct run_result res = { 0 };
	struct options o;
	int status;

	status = parse_options(argc, argv, &o);
	if (status != COMMAND_LINE_PARSED)
		return status;
	verbose_libbpf = o.verbose;
	libbpf_set_print(libbpf_print);
	r.o = &o;

	status = check_environment(&o);
	if (!status)
		status = open_run(&r);
	if (!status)
		status = attach_run(&r);
	if (!status)
		status = consume_until_deadline(&r);
	if (!status)
		status = drain(&r, &res);
	if (!status) {
		reconcile(&r, &res);
		status = report(&r, &res);
	}
	run_cleanup(&r);
	return status;
}
