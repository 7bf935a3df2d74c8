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
 * Corpus format (little-endian u32s): "SPWC", version 2, ring capacity,
 * batch capacity, input bytes, then the table sizes (stacks, frames,
 * aggregates; stacks 0: a parser without tables), then entries until the
 * end of the file: flags, length, `length` bytes. flags bit 0: reset the
 * stream (per-CPU last timestamps) before the walk; bits 1-3: the sinks
 * (SINK_RING 1, SINK_BATCH 2, SINK_AGGREGATE 4, shifted left by one); bit 4:
 * cut the tables before the walk. The tables are also cut before a walk
 * when the walk before it stopped with STOP_TABLES_FULL.
 *
 * Each walk prints {"i", "committed" (committedBytes() of the same bytes),
 * "consumed", the WalkStats fields (the stack outcomes as "userStacks" and
 * "kernelStacks" objects), "perCpu": [[cpu, events, outOfOrder], ...] in
 * first-seen order, "batch": [32-byte events as hex], "ring": [length,
 * head, overwritten], and with tables "tables": [stacks, frames,
 * aggregates, digest]}, where digest is FNV-1a (32-bit) over the u32 words
 * of every stack (pid, frame count, each frame low then high) and every
 * aggregation entry (pid, tid, cpu, user stack, kernel stack, samples), in
 * table order; a last line {"final": true, "ring": [every ring event,
 * oldest first, as hex]}.
 * Exit status: 0, 2 bad usage or input (a FILE that cannot be read, a
 * corpus that is cut short or asks for capacities the parser refuses), 3
 * out of memory or the output could not be written, 70 the parser trapped
 * (a bug).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program.h"
#include "wasm_parser.h"

#define TOOL "streamprof-wasm2c-walk"
#define CORPUS_MAGIC 0x43575053u /* "SPWC" */

/* By STOP_* value, as lib/parser/walk_stats.ts STOP_REASONS. */
static const char *const STOP_NAMES[] = {
	[STOP_END] = "end",
	[STOP_BUSY] = "busy",
	[STOP_PAST_END] = "past-end",
	[STOP_BATCH_FULL] = "batch-full",
	[STOP_TABLES_FULL] = "tables-full",
};
#define STOP_NAME_COUNT (sizeof(STOP_NAMES) / sizeof(STOP_NAMES[0]))

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

static uint32_t fnv_u32(uint32_t h, uint32_t v)
{
	for (int b = 0; b < 4; b++) {
		h ^= (v >> (8 * b)) & 0xff;
		h *= 16777619u;
	}
	return h;
}

/* The "tables" digest (see the header comment). */
static uint32_t tables_digest(struct wasm_parser *p)
{
	uint32_t h = 2166136261u, stacks = wasm_parser_stack_count(p);
	uint32_t aggs = wasm_parser_aggregate_count(p);

	for (uint32_t id = 0; id < stacks; id++) {
		uint32_t n;
		const uint64_t *f = wasm_parser_stack_frames(p, id, &n);

		h = fnv_u32(h, (uint32_t)wasm_parser_stack_pid(p, id));
		h = fnv_u32(h, n);
		for (uint32_t j = 0; j < n; j++) {
			h = fnv_u32(h, (uint32_t)f[j]);
			h = fnv_u32(h, (uint32_t)(f[j] >> 32));
		}
	}
	for (uint32_t i = 0; i < aggs; i++) {
		struct wasm_parser_aggregate a;

		wasm_parser_aggregate(p, i, &a);
		h = fnv_u32(h, (uint32_t)a.pid);
		h = fnv_u32(h, (uint32_t)a.tid);
		h = fnv_u32(h, a.cpu);
		h = fnv_u32(h, a.user_stack);
		h = fnv_u32(h, a.kernel_stack);
		h = fnv_u32(h, a.samples);
	}
	return h;
}

static void print_outcomes(const char *name, uint32_t resolved,
			   uint32_t truncated, uint32_t empty, uint32_t fault)
{
	printf("\"%s\":{\"resolved\":%u,\"truncated\":%u,\"empty\":%u,"
	       "\"fault\":%u},",
	       name, resolved, truncated, empty, fault);
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
	       "\"badCpu\":%u,\"noFrames\":%u,",
	       i, committed, s->consumed, s->events, s->discarded, s->malformed,
	       s->short_records, s->long_records, s->past_end,
	       s->stop < STOP_NAME_COUNT ? STOP_NAMES[s->stop] : "?",
	       s->out_of_order, s->bad_cpu, s->no_frames);
	print_outcomes("userStacks", s->user_resolved, s->user_truncated,
		       s->user_empty, s->user_fault);
	print_outcomes("kernelStacks", s->kernel_resolved, s->kernel_truncated,
		       s->kernel_empty, s->kernel_fault);
	printf("\"userFrames\":%u,\"kernelFrames\":%u,", s->user_frames,
	       s->kernel_frames);
	if (wasm_parser_has_tables(p))
		printf("\"tables\":[%u,%u,%u,%u],", wasm_parser_stack_count(p),
		       wasm_parser_frame_count(p),
		       wasm_parser_aggregate_count(p), tables_digest(p));
	fputs("\"perCpu\":[", stdout);
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

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* A parser of these capacities; `tables` NULL for none. */
static int open_parser(struct wasm_parser **p, uint32_t ring, uint32_t batch,
		       uint32_t input, const struct wasm_parser_tables *tables)
{
	struct wasm_parser_config cfg = {
		.ring_capacity = ring,
		.batch_capacity = batch,
		.input_bytes = input,
		.map_bytes = 0,
		.map_align = 65536,
	};
	char err[160];
	int rc = wasm_parser_open_with_tables(p, &cfg, tables, err, sizeof(err));

	if (rc)
		return fail(rc == -EFAULT ? EXIT_BUG
			    : rc == -EINVAL ? EXIT_USAGE
					    : EXIT_ENVIRONMENT,
			    "%s", err);
	return 0;
}

/*
 * Walks `bytes` and also asks committedBytes() about the same bytes (it only
 * reads headers, so the order does not matter); both go into the output.
 * Returns 0, or the exit status after saying why.
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
		return fail(rc == -EFAULT ? EXIT_BUG : EXIT_USAGE,
			    "walk of %zu bytes failed: %s", len,
			    rc == -EFAULT ? "the module trapped" : strerror(-rc));
	return 0;
}

#define CORPUS_HEADER 32
#define CORPUS_RESET 1u
#define CORPUS_SINKS_SHIFT 1
#define CORPUS_SINKS (SINK_RING | SINK_BATCH | SINK_AGGREGATE)
#define CORPUS_CUT (1u << 4)

static int run_corpus(const unsigned char *buf, size_t len)
{
	struct wasm_parser *p = NULL;
	struct wasm_parser_tables tables;
	unsigned long long i = 0;
	size_t off = CORPUS_HEADER;
	bool tables_full = false;
	int status;

	if (len < CORPUS_HEADER || get_u32(buf) != CORPUS_MAGIC ||
	    get_u32(buf + 4) != 2)
		return fail(EXIT_USAGE, "not a version 2 corpus file");
	tables.stacks = get_u32(buf + 20);
	tables.frames = get_u32(buf + 24);
	tables.aggregates = get_u32(buf + 28);
	status = open_parser(&p, get_u32(buf + 8), get_u32(buf + 12),
			     get_u32(buf + 16), tables.stacks ? &tables : NULL);
	if (status)
		return status;
	while (off < len) {
		uint32_t flags, n, consumed, committed;

		if (len - off < 8 || len - off - 8 < get_u32(buf + off + 4)) {
			status = fail(EXIT_USAGE, "corpus entry %llu is cut short",
				      i);
			goto out;
		}
		flags = get_u32(buf + off);
		n = get_u32(buf + off + 4);
		if (((flags & CORPUS_RESET) && wasm_parser_reset_stream(p)) ||
		    (((flags & CORPUS_CUT) || tables_full) &&
		     wasm_parser_cut_tables(p))) {
			status = fail(EXIT_BUG, "the module trapped");
			goto out;
		}
		status = walk_or_report(p, buf + off + 8, n,
					(flags >> CORPUS_SINKS_SHIFT) &
						CORPUS_SINKS,
					&consumed, &committed);
		if (status)
			goto out;
		tables_full = wasm_parser_stats(p)->stop == STOP_TABLES_FULL;
		print_walk(p, i++, committed);
		off += 8 + (size_t)n;
	}
	print_final(p);
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
	int status;

	status = open_parser(&p, ring, batch, (uint32_t)(input ? input : 8), NULL);
	if (status)
		return status;
	while (off < len) {
		uint32_t consumed, committed;

		status = walk_or_report(p, buf + off, len - off,
					SINK_RING | SINK_BATCH,
					&consumed, &committed);
		if (status)
			goto out;
		print_walk(p, i++, committed);
		if (consumed == 0)
			break; /* busy or malformed at this point: stop here */
		off += consumed;
	}
	print_final(p);
out:
	wasm_parser_close(p);
	return status;
}

struct options {
	bool corpus;
	unsigned long ring;
	unsigned long batch;
};

static const struct option_spec OPTION_SPECS[] = {
	OPT("corpus", OPTION_FLAG, corpus, NULL,
	    "FILE is a corpus of independent walks (see the\n"
	    "source's header comment), not a record stream"),
	OPT("ring", OPTION_UINT, ring, "N",
	    "overwrite ring capacity, events (default 65536)", .min = 1,
	    .max = 1u << 24),
	OPT("batch", OPTION_UINT, batch, "N",
	    "batch capacity, events (default 8192)", .min = 1,
	    .max = 1u << 24),
};

static const struct program_spec PROGRAM = {
	.name = TOOL,
	.synopsis = "[--ring N] [--batch N] FILE | --corpus FILE",
	.description =
		"Walk record bytes with the wasm2c-compiled parser; one JSON line per walk.",
	.epilogue = "Exit status: 0, 2 bad usage or input, 3 out of memory or "
		    "output, 70 a trap.\n",
	.options = OPTION_SPECS,
	.option_count = OPTION_COUNT(OPTION_SPECS),
	FILE_OPERAND,
};

int main(int argc, char **argv)
{
	struct options o = { .ring = 65536, .batch = 8192 };
	struct file_operand in;
	int status;

	status = parse_command_line_with_file(&PROGRAM, argc, argv, &o, &in);
	if (status != COMMAND_LINE_PARSED)
		return status;
	if (in.len > 0xFFFFFFF0u && !o.corpus) {
		free(in.data);
		return fail(EXIT_USAGE, "%s is larger than 4 GiB", in.path);
	}
	status = o.corpus ? run_corpus(in.data, in.len)
			  : run_stream(in.data, in.len, (uint32_t)o.ring,
				       (uint32_t)o.batch);
	free(in.data);
	if (fflush(stdout) != 0 && status == EXIT_OK)
		status = fail(EXIT_ENVIRONMENT, "writing the output failed: %s",
			      strerror(errno));
	return status;
}
