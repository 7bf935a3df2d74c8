// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * streamprof-decode-bench: decode cost per event of the same recorded ring
 * bytes with (1) the WASM parser compiled by wasm2c (no tables) and (2) the
 * hand-written C walker (native_walker.c, built -O2). bench/e2e/decode.ts runs the same file
 * through the WASM parser in Deno and a TypeScript DataView loop, so the
 * four columns decode identical bytes doing identical work: walk the record
 * headers, count per CPU, detect per-CPU time going backwards, copy every
 * event into a batch of --batch events (walk after walk, as the live
 * consumers do).
 *
 *   streamprof-decode-bench FILE [--iterations N] [--batch N]
 *
 * Prints one JSON object: events and bytes per pass, and per decoder the
 * median and best ns per event over the passes. Exit status: 0, 1 the two
 * decoders disagree on what the file holds, 2 usage error (a FILE that
 * cannot be read or holds no records too), 3 out of memory, 70 the wasm2c
 * parser trapped (a bug).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native_walker.h"
#include "program.h"
#include "wasm_parser.h"

#define TOOL "streamprof-decode-bench"
#define MAX_ITERATIONS 1000

struct pass_totals {
	uint64_t events, bytes, out_of_order, walks;
	/* Records with frames (a perf recording): counted by both alike. */
	uint64_t no_frames, frames, faults;
	uint64_t checksum; /* folds every decoded event: keeps work observable */
};

struct options {
	unsigned long iterations;
	unsigned long batch_events;
};

static const struct option_spec OPTION_SPECS[] = {
	OPT("iterations", OPTION_UINT, iterations, "N",
	    "timed passes per decoder (default 20)", .min = 1,
	    .max = MAX_ITERATIONS),
	OPT("batch", OPTION_UINT, batch_events, "N",
	    "events per walk (default 8192)", .min = 1, .max = 1u << 24),
};

static const struct program_spec PROGRAM = {
	.name = TOOL,
	.synopsis = "[options] FILE",
	.description =
		"Decode the ring records in FILE (as streamprof-consumer-c --record writes\n"
		"them) with the wasm2c-compiled parser and a hand-written C walker, in\n"
		"alternating timed passes; print ns per event of each as JSON.",
	.epilogue =
		"Exit status: 0, 1 the decoders disagree, 2 usage error, 3 out of\n"
		"memory, 70 the wasm2c parser trapped.\n",
	.options = OPTION_SPECS,
	.option_count = OPTION_COUNT(OPTION_SPECS),
	FILE_OPERAND,
};

static double now_ns(void)
{
	return (double)monotonic_ns();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static uint64_t fold(const struct profile_event *batch, uint32_t n)
{
	uint64_t h = 0;

	/* Touch the last event only: enough to keep the copies alive without
	 * adding a second pass over the batch to the measured cost. */
	if (n)
		h = batch[n - 1].timestamp_ns ^ (uint64_t)batch[n - 1].pid;
	return h;
}

static int pass_wasm2c(struct wasm_parser *p, uint32_t len,
		       struct pass_totals *t)
{
	const struct wasm_walk_stats *s = wasm_parser_stats(p);
	uint32_t at = wasm_parser_input_offset(p), off = 0, n;

	memset(t, 0, sizeof(*t));
	if (wasm_parser_reset_stream(p))
		return -EFAULT;
	while (off < len) {
		if (wasm_parser_walk_at(p, at + off, len - off,
					SINK_BATCH, &n))
			return -EFAULT;
		t->walks++;
		t->events += s->events;
		t->out_of_order += s->out_of_order;
		t->no_frames += s->no_frames;
		t->frames += s->user_frames + s->kernel_frames;
		t->faults += s->user_fault + s->kernel_fault;
		t->checksum ^= fold(wasm_parser_batch(p), s->batch_written);
		if (n == 0)
			break;
		off += n;
	}
	t->bytes = off;
	return 0;
}

static void pass_native(struct native_walker *w, const uint8_t *data,
			uint32_t len, struct pass_totals *t)
{
	uint32_t off = 0, n;

	memset(t, 0, sizeof(*t));
	native_walker_reset_stream(w);
	while (off < len) {
		n = native_walker_walk(w, data + off, len - off);
		t->walks++;
		t->events += w->stats.events;
		t->out_of_order += w->stats.out_of_order;
		t->no_frames += w->stats.no_frames;
		t->frames += w->stats.user_frames + w->stats.kernel_frames;
		t->faults += w->stats.user_fault + w->stats.kernel_fault;
		t->checksum ^= fold(w->batch, w->stats.batch_written);
		if (n == 0)
			break;
		off += n;
	}
	t->bytes = off;
}

static void print_decoder(const char *name, double *ns, int iterations,
			  uint64_t events)
{
	qsort(ns, (size_t)iterations, sizeof(double), cmp_double);
	printf("\"%s\":{\"median_ns_per_event\":%.3f,"
	       "\"best_ns_per_event\":%.3f}",
	       name, events ? ns[iterations / 2] / (double)events : 0.0,
	       events ? ns[0] / (double)events : 0.0);
}

/*
 * One warm-up pass each (page faults, caches), then `iterations` timed
 * passes alternating the two decoders so both see the same machine load;
 * prints the JSON. The exit status: the decoders must agree.
 */
static int time_decoders(struct wasm_parser *p, struct native_walker *w,
			 const uint8_t *data, uint32_t len, const char *path,
			 int iterations, unsigned long batch_events)
{
	static double wasm_ns[MAX_ITERATIONS], native_ns[MAX_ITERATIONS];
	struct pass_totals tw, tn;

	if (pass_wasm2c(p, len, &tw))
		return fail(EXIT_BUG, "the wasm2c parser trapped");
	pass_native(w, data, len, &tn);
	for (int i = 0; i < iterations; i++) {
		double t0 = now_ns();

		if (pass_wasm2c(p, len, &tw))
			return fail(EXIT_BUG, "the wasm2c parser trapped");
		wasm_ns[i] = now_ns() - t0;
		t0 = now_ns();
		pass_native(w, data, len, &tn);
		native_ns[i] = now_ns() - t0;
	}
	printf("{\"tool\":\"" TOOL "\",\"file\":\"%s\",\"bytes\":%llu,"
	       "\"events\":%llu,\"iterations\":%d,\"batch\":%lu,",
	       path, (unsigned long long)tw.bytes,
	       (unsigned long long)tw.events, iterations, batch_events);
	print_decoder("wasm2c", wasm_ns, iterations, tw.events);
	putchar(',');
	print_decoder("native_c", native_ns, iterations, tn.events);
	printf(",\"agree\":%s}\n",
	       memcmp(&tw, &tn, sizeof(tw)) == 0 ? "true" : "false");
	if (memcmp(&tw, &tn, sizeof(tw)) != 0)
		return fail(EXIT_CHECKS_FAILED,
			    "the decoders disagree: wasm2c %llu events %llu "
			    "bytes, native %llu events %llu bytes",
			    (unsigned long long)tw.events,
			    (unsigned long long)tw.bytes,
			    (unsigned long long)tn.events,
			    (unsigned long long)tn.bytes);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct options o = { .iterations = 20, .batch_events = 8192 };
	struct wasm_parser *p = NULL;
	struct native_walker *w = NULL;
	struct profile_event *batch = NULL;
	struct file_operand in;
	char err[160];
	int status;

	status = parse_command_line_with_file(&PROGRAM, argc, argv, &o, &in);
	if (status != COMMAND_LINE_PARSED)
		return status;
	if (in.len == 0 || in.len > 0x40000000u) {
		free(in.data);
		return fail(EXIT_USAGE, "%s: need 1 byte to 1 GiB of records",
			    in.path);
	}
	status = EXIT_ENVIRONMENT;
	batch = calloc((size_t)o.batch_events, sizeof(*batch));
	w = malloc(sizeof(*w));
	if (!batch || !w) {
		fail(EXIT_ENVIRONMENT, "out of memory");
		goto out;
	}
	native_walker_init(w, batch, (uint32_t)o.batch_events);
	{
		struct wasm_parser_config cfg = {
			.ring_capacity = 1,
			.batch_capacity = (uint32_t)o.batch_events,
			.input_bytes = (uint32_t)in.len,
			.map_bytes = 0,
			.map_align = 65536,
		};
		int rc = wasm_parser_open(&p, &cfg, err, sizeof(err));

		if (rc) {
			status = fail(rc == -EFAULT ? EXIT_BUG : EXIT_ENVIRONMENT,
				      "%s", err);
			goto out;
		}
	}
	memcpy(wasm_parser_memory(p) + wasm_parser_input_offset(p), in.data,
	       in.len);

	status = time_decoders(p, w, in.data, (uint32_t)in.len, in.path,
			       (int)o.iterations, o.batch_events);
out:
	wasm_parser_close(p);
	free(in.data);
	free(batch);
	free(w);
	return status;
}
