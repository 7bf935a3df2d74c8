// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * streamprof-wasm2c-walk: walk record bytes from a file with the wasm2c-
 * compiled parser and print what it decoded, one JSON line per walk, so a
 * test can compare it with the same module running in Deno
 * (tests/wasm2c_parity_test.ts).
 *
 *   streamprof-wasm2c-walk [--ring N] [--batch N] FILE
 *       FILE is a plain record stream (e.g. recorded ring spans). It is
 *       walked from the start, walk after walk (each continuing where the
 *       last stopped, stream state kept), sinks ring + batch, until it is all
 *       consumed or a walk consumes nothing.
 *   streamprof-wasm2c-walk --corpus FILE
 *       FILE holds many independent walks (format below), run in one process
 *       so that tens of thousands of inputs cost one start-up.
 *
 * Corpus format (little-endian u32s): "SPWC", version 1, ring capacity,
 * batch capacity, input bytes, then entries until the end of the file:
 * flags, length, `length` bytes. flags bit 0: reset the stream (per-CPU last
 * timestamps) before the walk; bits 1-2: the sinks (1 ring, 2 batch).
 *
 * Each walk prints {"i", "committed" (committedBytes() of the same bytes),
 * "consumed", the WalkStats fields, "perCpu":
 * [[cpu, events, outOfOrder], ...] in first-seen order, "batch": [32-byte
 * events as hex], "ring": [length, head, overwritten]}; a last line
 * {"final": true, "ring": [every ring event, oldest first, as hex]}.
 * Exit status: 0, 1 on a trap or I/O error, 2 on bad usage or input.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm_parser.h"

#define TOOL "streamprof-wasm2c-walk"
#define CORPUS_MAGIC 0x43575053u /* "SPWC" */

static const char *const STOP_NAMES[] = { "end", "busy", "past-end",
					  "batch-full" };

static void put_hex(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = data;

	putchar('"');
	for (size_t i = 0; i < len; i++) {
		putchar(digits[b[i] >> 4]);
		putchar(digits[b[i] & 15]);
	}
	putchar('"');
}

static void print_walk(struct wasm_parser *p, unsigned long long i,
		       uint32_t committed)
{
	const struct wasm_walk_stats *s = wasm_parser_stats(p);
	const struct profile_event *batch = wasm_parser_batch(p);

	printf("{\"i\":%llu,\"committed\":%u,\"consumed\":%u,\"events\":%u,"
	       "\"discarded\":%u,"
	       "\"malformed\":%u,\"shortRecords\":%u,\"longRecords\":%u,"
	       "\"pastEnd\":%u,\"stop\":\"%s\",\"outOfOrder\":%u,"
	       "\"badCpu\":%u,\"perCpu\":[",
	       i, committed, s->consumed, s->events, s->discarded, s->malformed,
	       s->short_records, s->long_records, s->past_end,
	       s->stop < 4 ? STOP_NAMES[s->stop] : "?", s->out_of_order,
	       s->bad_cpu);
	for (uint32_t t = 0; t < s->cpus_touched; t++) {
		uint32_t cpu = wasm_parser_touched_cpu(p, t);

		printf("%s[%u,%u,%u]", t ? "," : "", cpu,
		       wasm_parser_cpu_events(p, cpu),
		       wasm_parser_cpu_out_of_order(p, cpu));
	}
	fputs("],\"batch\":[", stdout);
	for (uint32_t e = 0; e < s->batch_written; e++) {
		if (e)
			putchar(',');
		put_hex(&batch[e], PROFILE_EVENT_SIZE);
	}
	printf("],\"ring\":[%u,%u,%.0f]}\n", wasm_parser_ring_length(p),
	       wasm_parser_ring_head(p), wasm_parser_ring_overwritten(p));
}

static void print_final(struct wasm_parser *p)
{
	uint32_t n = wasm_parser_ring_length(p);

	fputs("{\"final\":true,\"ring\":[", stdout);
	for (uint32_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		put_hex(wasm_parser_ring_event(p, i), PROFILE_EVENT_SIZE);
	}
	fputs("]}\n", stdout);
}

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (n == cap) {
			unsigned char *nb;

			cap = cap ? cap * 2 : 1 << 20;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				free(buf);
				fclose(f);
				errno = EIO;
				return NULL;
			}
			break;
		}
	}
	fclose(f);
	*len = n;
	return buf ? buf : malloc(1);
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static int open_parser(struct wasm_parser **p, uint32_t ring, uint32_t batch,
		       uint32_t input)
{
	struct wasm_parser_config cfg = {
		.ring_capacity = ring,
		.batch_capacity = batch,
		.input_bytes = input,
		.map_bytes = 0,
		.map_align = 65536,
	};
	char err[160];
	int rc = wasm_parser_open(p, &cfg, err, sizeof(err));

	if (rc)
		fprintf(stderr, TOOL ": %s\n", err);
	return rc;
}

/*
 * Walks `bytes` and also asks committedBytes() about the same bytes (it only
 * reads headers, so the order does not matter); both go into the output.
 */
static int walk_or_report(struct wasm_parser *p, const void *bytes, size_t len,
			  unsigned sinks, uint32_t *consumed,
			  uint32_t *committed)
{
	int rc = wasm_parser_walk_bytes(p, bytes, len, sinks, consumed);

	if (!rc)
		rc = wasm_parser_committed_at(p, wasm_parser_input_offset(p),
					      (uint32_t)len, committed);
	if (rc)
		fprintf(stderr, TOOL ": walk of %zu bytes failed: %s\n", len,
			rc == -EFAULT ? "the module trapped" : strerror(-rc));
	return rc;
}

static int run_corpus(const unsigned char *buf, size_t len)
{
	struct wasm_parser *p = NULL;
	unsigned long long i = 0;
	size_t off = 24;
	int status = 1;

	if (len < 24 || get_u32(buf) != CORPUS_MAGIC || get_u32(buf + 4) != 1) {
		fprintf(stderr, TOOL ": not a version 1 corpus file\n");
		return 2;
	}
	if (open_parser(&p, get_u32(buf + 8), get_u32(buf + 12),
			get_u32(buf + 16)))
		return 2;
	while (off < len) {
		uint32_t flags, n, consumed, committed;

		if (len - off < 8 || len - off - 8 < get_u32(buf + off + 4)) {
			fprintf(stderr, TOOL ": corpus entry %llu is cut short\n",
				i);
			status = 2;
			goto out;
		}
		flags = get_u32(buf + off);
		n = get_u32(buf + off + 4);
		if ((flags & 1) && wasm_parser_reset_stream(p))
			goto out;
		if (walk_or_report(p, buf + off + 8, n, (flags >> 1) & 3,
				   &consumed, &committed))
			goto out;
		print_walk(p, i++, committed);
		off += 8 + (size_t)n;
	}
	print_final(p);
	status = 0;
out:
	wasm_parser_close(p);
	return status;
}

static int run_stream(const unsigned char *buf, size_t len, uint32_t ring,
		      uint32_t batch)
{
	struct wasm_parser *p = NULL;
	/* Input area: the whole file, so that walks stop only where the data
	 * says (busy, malformed, batch full), never at an arbitrary chunk end
	 * that cuts a record in two. */
	size_t input = len;
	unsigned long long i = 0;
	size_t off = 0;
	int status = 1;

	if (open_parser(&p, ring, batch, (uint32_t)(input ? input : 8)))
		return 2;
	while (off < len) {
		uint32_t consumed, committed;

		if (walk_or_report(p, buf + off, len - off,
				   WASM_PARSER_SINK_RING | WASM_PARSER_SINK_BATCH,
				   &consumed, &committed))
			goto out;
		print_walk(p, i++, committed);
		if (consumed == 0)
			break; /* busy or malformed at this point: stop here */
		off += consumed;
	}
	print_final(p);
	status = 0;
out:
	wasm_parser_close(p);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "corpus", no_argument, NULL, 'c' },
		{ "ring", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long ring = 65536, batch = 8192;
	unsigned char *buf;
	size_t len = 0;
	int corpus = 0, c, status;
	char *end;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			corpus = 1;
			break;
		case 'r':
		case 'b':
			errno = 0;
			*(c == 'r' ? &ring : &batch) = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || *optarg == '-' ||
			    (c == 'r' ? ring : batch) == 0 ||
			    (c == 'r' ? ring : batch) > (1ul << 24)) {
				fprintf(stderr, TOOL ": invalid value '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: " TOOL " [--ring N] [--batch N] FILE\n"
			       "       " TOOL " --corpus FILE\n"
			       "Walk record bytes with the wasm2c-compiled parser;"
			       " one JSON line per walk.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: " TOOL " [--corpus] FILE (see --help)\n");
		return 2;
	}
	buf = read_all(argv[optind], &len);
	if (!buf) {
		fprintf(stderr, TOOL ": %s: %s\n", argv[optind], strerror(errno));
		return 2;
	}
	if (len > 0xFFFFFFF0u && !corpus) {
		fprintf(stderr, TOOL ": %s is larger than 4 GiB\n", argv[optind]);
		free(buf);
		return 2;
	}
	status = corpus ? run_corpus(buf, len)
			: run_stream(buf, len, (uint32_t)ring, (uint32_t)batch);
	free(buf);
	if (fflush(stdout) != 0 && status == 0) {
		fprintf(stderr, TOOL ": writing the output failed: %s\n",
			strerror(errno));
		status = 1;
	}
	return status;
}
