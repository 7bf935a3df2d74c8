// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * streamprof-decode-bench: decode cost per event of the same recorded ring
 * bytes with (1) the WASM parser compiled by wasm2c and (2) the hand-written
 * C walker (native_walker.c, built -O2). bench/e2e/decode.ts runs the same file
 * through the WASM parser in Deno and a TypeScript DataView loop, so the
 * four columns decode identical bytes doing identical work: walk the record
 * headers, count per CPU, detect per-CPU time going backwards, copy every
 * event into a batch of --batch events (walk after walk, as the live
 * consumers do).
 *
 *   streamprof-decode-bench FILE [--iterations N] [--batch N]
 *
 * Prints one JSON object: events and bytes per pass, and per decoder the
 * median and best ns per event over the passes. Exit 1 if the two decoders
 * disagree on what the file holds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native_walker.h"
#include "wasm_parser.h"

#define TOOL "streamprof-decode-bench"
#define MAX_ITERATIONS 1000

struct pass_totals {
	uint64_t events, bytes, out_of_order, walks;
	uint64_t checksum; /* folds every decoded event: keeps work observable */
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
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
					WASM_PARSER_SINK_BATCH, &n))
			return -EFAULT;
		t->walks++;
		t->events += s->events;
		t->out_of_order += s->out_of_order;
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iterations", required_argument, NULL, 'i' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct wasm_parser *p = NULL;
	struct native_walker *w = NULL;
	struct profile_event *batch = NULL;
	struct pass_totals tw, tn;
	uint8_t *data = NULL;
	double wasm_ns[MAX_ITERATIONS], native_ns[MAX_ITERATIONS];
	long iterations = 20, batch_events = 8192;
	char err[160], *end;
	size_t len;
	FILE *f = NULL;
	int c, status = 1;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
		case 'b':
			errno = 0;
			*(c == 'i' ? &iterations : &batch_events) =
				strtol(optarg, &end, 10);
			if (errno || *end || end == optarg ||
			    iterations < 1 || iterations > MAX_ITERATIONS ||
			    batch_events < 1 || batch_events > (1 << 24)) {
				fprintf(stderr, TOOL ": invalid value '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: " TOOL " FILE [--iterations N] "
			       "[--batch N]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: " TOOL " FILE [--iterations N] "
				"[--batch N]\n");
		return 2;
	}
	f = fopen(argv[optind], "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0) {
		fprintf(stderr, TOOL ": %s: %s\n", argv[optind], strerror(errno));
		goto out;
	}
	len = (size_t)ftell(f);
	rewind(f);
	if (len == 0 || len > 0x40000000u) {
		fprintf(stderr, TOOL ": %s: need 1 byte to 1 GiB of records\n",
			argv[optind]);
		goto out;
	}
	/* 64-byte aligned, like the parser's input area. */
	data = aligned_alloc(64, (len + 63) & ~(size_t)63);
	batch = calloc((size_t)batch_events, sizeof(*batch));
	w = malloc(sizeof(*w));
	if (!data || !batch || !w || fread(data, 1, len, f) != len) {
		fprintf(stderr, TOOL ": reading %s: %s\n", argv[optind],
			strerror(errno ? errno : EIO));
		goto out;
	}
	native_walker_init(w, batch, (uint32_t)batch_events);
	{
		struct wasm_parser_config cfg = {
			.ring_capacity = 1,
			.batch_capacity = (uint32_t)batch_events,
			.input_bytes = (uint32_t)len,
			.map_bytes = 0,
			.map_align = 65536,
		};

		if (wasm_parser_open(&p, &cfg, err, sizeof(err))) {
			fprintf(stderr, TOOL ": %s\n", err);
			goto out;
		}
	}
	memcpy(wasm_parser_memory(p) + wasm_parser_input_offset(p), data, len);

	/* One warm-up pass each (page faults, caches), then alternate so both
	 * see the same machine load. */
	if (pass_wasm2c(p, (uint32_t)len, &tw))
		goto trapped;
	pass_native(w, data, (uint32_t)len, &tn);
	for (long i = 0; i < iterations; i++) {
		double t0 = now_ns();

		if (pass_wasm2c(p, (uint32_t)len, &tw))
			goto trapped;
		wasm_ns[i] = now_ns() - t0;
		t0 = now_ns();
		pass_native(w, data, (uint32_t)len, &tn);
		native_ns[i] = now_ns() - t0;
	}
	printf("{\"tool\":\"" TOOL "\",\"file\":\"%s\",\"bytes\":%llu,"
	       "\"events\":%llu,\"iterations\":%ld,\"batch\":%ld,",
	       argv[optind], (unsigned long long)tw.bytes,
	       (unsigned long long)tw.events, iterations, batch_events);
	print_decoder("wasm2c", wasm_ns, (int)iterations, tw.events);
	putchar(',');
	print_decoder("native_c", native_ns, (int)iterations, tn.events);
	printf(",\"agree\":%s}\n",
	       memcmp(&tw, &tn, sizeof(tw)) == 0 ? "true" : "false");
	if (memcmp(&tw, &tn, sizeof(tw)) != 0) {
		fprintf(stderr, TOOL ": the decoders disagree: wasm2c %llu "
				"events %llu bytes, native %llu events %llu "
				"bytes\n",
			(unsigned long long)tw.events,
			(unsigned long long)tw.bytes,
			(unsigned long long)tn.events,
			(unsigned long long)tn.bytes);
		goto out;
	}
	status = 0;
	goto out;
trapped:
	fprintf(stderr, TOOL ": the wasm2c parser trapped\n");
out:
	wasm_parser_close(p);
	if (f)
		fclose(f);
	free(data);
	free(batch);
	free(w);
	return status;
}
