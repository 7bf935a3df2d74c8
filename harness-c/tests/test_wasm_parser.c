// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the wasm2c-hosted parser (wasm_parser.c) and of its
 * hand-written twin (native_walker.c), which must agree on every input.
 * Needs no privileges. Prints "ok - NAME" or "not ok - NAME: why" per test
 * and a last line "N passed, N failed"; exits 1 if any failed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native_walker.h"
#include "wasm_parser.h"

/* The record format, by the module's names (parser_abi.h). */
#define HDR RECORD_HEADER_SIZE
#define REC (RECORD_HEADER_SIZE + EVENT_SIZE)
#define BUSY BUSY_BIT
#define DISCARD DISCARD_BIT

static int passed, failed;
static char why[512];

static bool fail_because(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return false;
}

static void run(const char *name, bool (*fn)(void))
{
	why[0] = '\0';
	if (fn()) {
		passed++;
		printf("ok - %s\n", name);
	} else {
		failed++;
		printf("not ok - %s: %s\n", name, why);
	}
	fflush(stdout);
}

/* xorshift64*: deterministic, seeded, good enough for fuzzing. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static struct wasm_parser *open_parser(uint32_t ring, uint32_t batch,
				       uint32_t input)
{
	struct wasm_parser_config cfg = { ring, batch, input, 0, 65536 };
	struct wasm_parser *p = NULL;
	char err[160];

	if (wasm_parser_open(&p, &cfg, err, sizeof(err))) {
		fail_because("open: %s", err);
		return NULL;
	}
	return p;
}

static void put_u32(uint8_t *at, uint32_t v)
{
	memcpy(at, &v, 4);
}

static uint32_t get_u32(const uint8_t *at)
{
	uint32_t v;

	memcpy(&v, at, 4);
	return v;
}

static bool same_walk(struct wasm_parser *p, const struct native_walker *w,
		      uint64_t i);

static void put_event(uint8_t *at, uint64_t ts, int32_t pid, uint32_t cpu)
{
	struct profile_event e = {
		.timestamp_ns = ts,
		.pid = pid,
		.tid = pid + 1,
		.user_stack_id = 5,
		.kernel_stack_id = -2,
		.cpu = cpu,
		.flags = PE_FLAG_KERNEL_STACK_ERROR,
	};

	memcpy(at, &e, sizeof(e));
}

/* Appends one committed 32-byte record; returns the new length. */
static size_t add_record(uint8_t *buf, size_t off, uint64_t ts, int32_t pid,
			 uint32_t cpu)
{
	put_u32(buf + off, PROFILE_EVENT_SIZE);
	put_u32(buf + off + 4, 0);
	put_event(buf + off + HDR, ts, pid, cpu);
	return off + REC;
}

/* A frame of stack `seed` at depth i: distinct per (seed, i). */
static uint64_t frame_of(uint32_t seed, uint32_t i, bool kernel)
{
	return (kernel ? 0xffffffff81000000ull : 0x555500000000ull) +
	       (uint64_t)seed * 0x10000 + (uint64_t)i * 16;
}

/*
 * Appends one committed record with frames, as profiler.bpf.c writes it:
 * `u` and `k` are frame counts (frames of stacks `useed` and `kseed`
 * follow) or negative errnos; PE_FLAG_FRAMES is added to `flags`.
 */
static size_t add_frames_record(uint8_t *buf, size_t off, uint64_t ts,
				int32_t pid, uint32_t cpu, int32_t u,
				uint32_t useed, int32_t k, uint32_t kseed,
				uint32_t flags)
{
	uint32_t nu = u > 0 ? (uint32_t)u : 0, nk = k > 0 ? (uint32_t)k : 0;
	struct profile_event e = {
		.timestamp_ns = ts,
		.pid = pid,
		.tid = pid + 1,
		.user_stack_id = u,
		.kernel_stack_id = k,
		.cpu = cpu,
		.flags = flags | PE_FLAG_FRAMES,
	};
	uint8_t *f = buf + off + HDR + EVENT_SIZE;

	put_u32(buf + off, EVENT_SIZE + 8 * (nu + nk));
	put_u32(buf + off + 4, 0);
	memcpy(buf + off + HDR, &e, sizeof(e));
	for (uint32_t i = 0; i < nu + nk; i++) {
		uint64_t ip = i < nu ? frame_of(useed, i, false)
				     : frame_of(kseed, i - nu, true);

		memcpy(f + 8 * i, &ip, 8);
	}
	return off + HDR + EVENT_SIZE + 8 * (nu + nk);
}

static bool test_init_rejects_bad_capacities(void)
{
	struct wasm_parser_config cfg = { 0, 16, 64, 0, 65536 };
	struct wasm_parser *p = NULL;
	char err[160];
	int rc = wasm_parser_open(&p, &cfg, err, sizeof(err));

	if (rc != -EINVAL || p)
		return fail_because("ring capacity 0: rc %d", rc);
	cfg.ring_capacity = 4;
	cfg.map_align = 3;
	rc = wasm_parser_open(&p, &cfg, err, sizeof(err));
	if (rc != -EINVAL || p)
		return fail_because("map_align 3: rc %d", rc);
	return true;
}

/*
 * Each test has one exit, out:, that closes what it opened (as in
 * wasm2c_walk.c): their endings repeat on purpose.
 */
static bool test_decodes_committed_records(void)
{
	struct wasm_parser *p = open_parser(8, 16, 4096);
	uint8_t buf[512];
	size_t n = 0;
	uint32_t consumed;
	const struct wasm_walk_stats *s;
	bool ok = false;

	if (!p)
		return false;
	n = add_record(buf, n, 100, 7, 0);
	n = add_record(buf, n, 200, 8, 1);
	n = add_record(buf, n, 150, 9, 1); /* out of order on CPU 1 */
	if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH, &consumed)) {
		fail_because("walk failed");
		goto out;
	}
	s = wasm_parser_stats(p);
	if (consumed != n || s->events != 3 || s->stop != STOP_END ||
	    s->out_of_order != 1 || s->cpus_touched != 2 ||
	    s->batch_written != 3) {
		fail_because("consumed %u events %u stop %u ooo %u touched %u",
			     consumed, s->events, s->stop, s->out_of_order,
			     s->cpus_touched);
		goto out;
	}
	if (wasm_parser_batch(p)[2].pid != 9 ||
	    wasm_parser_batch(p)[1].timestamp_ns != 200 ||
	    wasm_parser_cpu_events(p, 1) != 2 ||
	    wasm_parser_cpu_out_of_order(p, 1) != 1 ||
	    wasm_parser_touched_cpu(p, 0) != 0) {
		fail_because("batch or per-CPU contents wrong");
		goto out;
	}
	ok = true;
out:
	wasm_parser_close(p);
	return ok;
}

static bool test_stops_and_skips(void)
{
	struct wasm_parser *p = open_parser(8, 2, 4096);
	const struct wasm_walk_stats *s;
	uint8_t buf[512];
	uint32_t consumed, committed;
	size_t n = 0;
	bool ok = false;

	if (!p)
		return false;
	s = wasm_parser_stats(p);
	/* Zeroed: the long record's flags (no PE_FLAG_FRAMES) are defined. */
	memset(buf, 0, sizeof(buf));
	/* discard, short (16 bytes), long (40 bytes), event, BUSY, event */
	put_u32(buf + n, 32 | DISCARD);
	n += REC;
	put_u32(buf + n, 16);
	n += 24;
	put_u32(buf + n, 40);
	n += 48;
	n = add_record(buf, n, 1, 1, 0);
	n = add_record(buf, n, 2, 2, 0);
	put_u32(buf + n - REC, 32 | BUSY);
	n = add_record(buf, n, 3, 3, 0);
	if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH, &consumed) ||
	    s->discarded != 1 || s->short_records != 1 ||
	    s->long_records != 1 || s->events != 1 ||
	    s->stop != STOP_BUSY || consumed != REC + 24 + 48 + REC) {
		fail_because("busy: consumed %u disc %u short %u long %u "
			     "events %u stop %u",
			     consumed, s->discarded, s->short_records,
			     s->long_records, s->events, s->stop);
		goto out;
	}
	/* committedBytes() reads headers only and stops at the same BUSY. */
	if (wasm_parser_committed_at(p, wasm_parser_input_offset(p),
				     (uint32_t)n, &committed) ||
	    committed != consumed) {
		fail_because("committed %u, walk consumed %u", committed,
			     consumed);
		goto out;
	}
	/* A header claiming more than is there: past-end, not consumed. */
	n = add_record(buf, 0, 1, 1, 0);
	put_u32(buf + n, 1000);
	if (wasm_parser_walk_bytes(p, buf, n + 16, SINK_BATCH,
				   &consumed) ||
	    s->stop != STOP_PAST_END || s->past_end != 1 ||
	    consumed != REC || s->malformed != 1) {
		fail_because("past-end: consumed %u stop %u", consumed, s->stop);
		goto out;
	}
	/* 1-7 trailing bytes: the data ends inside a header. */
	if (wasm_parser_walk_bytes(p, buf, REC + 5, SINK_BATCH,
				   &consumed) ||
	    s->stop != STOP_PAST_END || consumed != REC) {
		fail_because("cut header: consumed %u stop %u", consumed, s->stop);
		goto out;
	}
	/* Batch of 2: the third event stops the walk. */
	n = 0;
	for (int i = 0; i < 3; i++)
		n = add_record(buf, n, 10 + i, i, 0);
	if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH, &consumed) ||
	    s->stop != STOP_BATCH_FULL || consumed != 2 * REC ||
	    s->batch_written != 2) {
		fail_because("batch-full: consumed %u stop %u", consumed, s->stop);
		goto out;
	}
	ok = true;
out:
	wasm_parser_close(p);
	return ok;
}

static bool test_walk_at_checks_range(void)
{
	struct wasm_parser *p = open_parser(8, 2, 64);
	uint32_t consumed, at;
	bool ok = false;

	if (!p)
		return false;
	at = wasm_parser_input_offset(p);
	if (wasm_parser_walk_at(p, at + 2, 8, 0, &consumed) != -EINVAL) {
		fail_because("unaligned offset accepted");
		goto out;
	}
	if (wasm_parser_walk_at(p, 0, (uint32_t)wasm_parser_memory_bytes(p) + 8,
				0, &consumed) != -EINVAL) {
		fail_because("range past the memory accepted");
		goto out;
	}
	if (wasm_parser_walk_bytes(p, "x", 65, 0, &consumed) != -E2BIG) {
		fail_because("input larger than the input area accepted");
		goto out;
	}
	ok = true;
out:
	wasm_parser_close(p);
	return ok;
}

static bool test_overwrite_ring(void)
{
	struct wasm_parser *p = open_parser(5, 64, 4096);
	uint8_t buf[64 * REC];
	uint32_t consumed;
	size_t n = 0;
	bool ok = false;

	if (!p)
		return false;
	for (int i = 0; i < 12; i++)
		n = add_record(buf, n, 1000 + i, i, 0);
	if (wasm_parser_walk_bytes(p, buf, n, SINK_RING, &consumed) ||
	    wasm_parser_stats(p)->batch_written != 0) {
		fail_because("walk to ring only failed");
		goto out;
	}
	if (wasm_parser_ring_length(p) != 5 ||
	    wasm_parser_ring_overwritten(p) != 7) {
		fail_because("length %u overwritten %.0f",
			     wasm_parser_ring_length(p),
			     wasm_parser_ring_overwritten(p));
		goto out;
	}
	for (uint32_t i = 0; i < 5; i++) {
		if (wasm_parser_ring_event(p, i)->pid != (int32_t)(7 + i)) {
			fail_because("ring[%u] pid %d", i,
				     wasm_parser_ring_event(p, i)->pid);
			goto out;
		}
	}
	ok = true;
out:
	wasm_parser_close(p);
	return ok;
}

static bool test_frames_records_without_tables(void)
{
	struct wasm_parser *p = open_parser(8, 16, 8192);
	struct profile_event batch[16];
	struct native_walker *w = malloc(sizeof(*w));
	const struct wasm_walk_stats *s;
	uint8_t buf[8192];
	uint32_t consumed;
	size_t n = 0, at;
	bool ok = false;

	if (!p || !w) {
		if (!why[0])
			fail_because("out of memory");
		goto out;
	}
	native_walker_init(w, batch, 16);
	/* resolved user 3 + resolved kernel 2 */
	n = add_frames_record(buf, n, 10, 7, 0, 3, 1, 2, 1, 0);
	/* kernel thread: no user frames, kernel truncated at the depth */
	n = add_frames_record(buf, n, 20, 8, 1, 0, 0, (int32_t)STACK_DEPTH, 2,
			      PE_FLAG_KERNEL_TRUNCATED);
	/* user fault (-EFAULT), user mode: no kernel frames */
	n = add_frames_record(buf, n, 30, 9, 0, -EFAULT, 0, 0, 0,
			      PE_FLAG_USER_STACK_ERROR);
	/* a plain event between them */
	n = add_record(buf, n, 40, 10, 1);
	/* 2 user frames said, 1 there: short */
	at = n;
	add_frames_record(buf, n, 50, 11, 0, 2, 3, 0, 0, 0);
	put_u32(buf + at, EVENT_SIZE + 8);
	n = at + HDR + EVENT_SIZE + 8;
	/* more frames said than a stack holds: long */
	at = n;
	n = add_frames_record(buf, n, 60, 12, 0, 0, 0, 0, 0, 0);
	put_u32(buf + at + HDR + OFF_USER_STACK, STACK_DEPTH + 1);
	if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH, &consumed)) {
		fail_because("walk failed");
		goto out;
	}
	s = wasm_parser_stats(p);
	if (consumed != n || s->events != 4 || s->no_frames != 1 ||
	    s->short_records != 1 || s->long_records != 1 ||
	    s->user_resolved != 1 || s->user_empty != 1 || s->user_fault != 1 ||
	    s->kernel_resolved != 1 || s->kernel_truncated != 1 ||
	    s->kernel_empty != 1 || s->user_frames != 3 ||
	    s->kernel_frames != 2 + STACK_DEPTH) {
		fail_because("stats: events %u no_frames %u short %u long %u "
			     "user %u/%u/%u/%u kernel %u/%u/%u/%u frames %u %u",
			     s->events, s->no_frames, s->short_records,
			     s->long_records, s->user_resolved,
			     s->user_truncated, s->user_empty, s->user_fault,
			     s->kernel_resolved, s->kernel_truncated,
			     s->kernel_empty, s->kernel_fault, s->user_frames,
			     s->kernel_frames);
		goto out;
	}
	/* Without tables the ids handed on are the counts, or the sentinels. */
	{
		const struct profile_event *b = wasm_parser_batch(p);

		if (b[0].user_stack_id != 3 || b[0].kernel_stack_id != 2 ||
		    (uint32_t)b[1].user_stack_id != STACK_ID_EMPTY ||
		    b[1].kernel_stack_id != (int32_t)STACK_DEPTH ||
		    (uint32_t)b[2].user_stack_id != STACK_ID_FAULT ||
		    (uint32_t)b[2].kernel_stack_id != STACK_ID_EMPTY ||
		    b[3].user_stack_id != 5 || b[3].pid != 10) {
			fail_because("ids handed on: %d %d / %d %d / %d %d",
				     b[0].user_stack_id, b[0].kernel_stack_id,
				     b[1].user_stack_id, b[1].kernel_stack_id,
				     b[2].user_stack_id, b[2].kernel_stack_id);
			goto out;
		}
	}
	if (native_walker_walk(w, buf, (uint32_t)n) != consumed ||
	    !same_walk(p, w, 0))
		goto out;
	ok = true;
out:
	wasm_parser_close(p);
	free(w);
	return ok;
}

static struct wasm_parser *open_with_tables(uint32_t stacks, uint32_t frames,
					    uint32_t aggregates)
{
	struct wasm_parser_config cfg = { 8, 64, 1 << 16, 0, 65536 };
	struct wasm_parser_tables t = { stacks, frames, aggregates };
	struct wasm_parser *p = NULL;
	char err[160];
	int rc;

	rc = wasm_parser_new(&p, err, sizeof(err));
	if (!rc)
		rc = wasm_parser_init_tables(p, &t, err, sizeof(err));
	if (!rc)
		rc = wasm_parser_init(p, &cfg, err, sizeof(err));
	if (rc) {
		fail_because("open with tables: %s", err);
		wasm_parser_close(p);
		return NULL;
	}
	return p;
}

static bool test_tables_intern_and_aggregate(void)
{
	struct wasm_parser *p = open_with_tables(64, 1024, 64);
	struct wasm_parser_tables again = { 64, 1024, 64 };
	struct wasm_parser_aggregate a;
	const struct wasm_walk_stats *s;
	const struct profile_event *b;
	const uint64_t *f;
	uint8_t buf[8192];
	uint32_t consumed, nf;
	char err[160];
	size_t n = 0;
	bool ok = false;

	if (!p)
		return false;
	if (wasm_parser_init_tables(p, &again, err, sizeof(err)) != -EALREADY) {
		fail_because("init_tables after init was accepted");
		goto out;
	}
	/* pid 7 twice with the same stacks, pid 8 with the same frames. */
	n = add_frames_record(buf, n, 10, 7, 0, 4, 1, 3, 1, 0);
	n = add_frames_record(buf, n, 11, 7, 0, 4, 1, 3, 1, 0);
	n = add_frames_record(buf, n, 12, 8, 0, 4, 1, 3, 1, 0);
	n = add_frames_record(buf, n, 13, 8, 0, 0, 0, -EFAULT, 0,
			      PE_FLAG_KERNEL_STACK_ERROR);
	n = add_record(buf, n, 14, 9, 0);
	if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH | SINK_AGGREGATE,
				   &consumed)) {
		fail_because("walk failed");
		goto out;
	}
	s = wasm_parser_stats(p);
	b = wasm_parser_batch(p);
	/* user stacks are per process, kernel stacks shared: 3 stacks */
	if (consumed != n || s->events != 5 || wasm_parser_stack_count(p) != 3 ||
	    wasm_parser_frame_count(p) != 4 + 3 + 4 ||
	    b[0].user_stack_id != 0 || b[0].kernel_stack_id != 1 ||
	    b[1].user_stack_id != 0 || b[1].kernel_stack_id != 1 ||
	    b[2].user_stack_id != 2 || b[2].kernel_stack_id != 1 ||
	    (uint32_t)b[3].user_stack_id != STACK_ID_EMPTY ||
	    (uint32_t)b[3].kernel_stack_id != STACK_ID_FAULT) {
		fail_because("consumed %u events %u stacks %u frames %u ids "
			     "%d %d %d %d %d %d",
			     consumed, s->events, wasm_parser_stack_count(p),
			     wasm_parser_frame_count(p), b[0].user_stack_id,
			     b[0].kernel_stack_id, b[1].user_stack_id,
			     b[1].kernel_stack_id, b[2].user_stack_id,
			     b[2].kernel_stack_id);
		goto out;
	}
	f = wasm_parser_stack_frames(p, 1, &nf);
	if (!f || nf != 3 || f[2] != frame_of(1, 2, true) ||
	    wasm_parser_stack_pid(p, 1) != -1 ||
	    wasm_parser_stack_pid(p, 2) != 8 ||
	    wasm_parser_stack_frames(p, 3, &nf) != NULL) {
		fail_because("stack table contents wrong");
		goto out;
	}
	/* (7, 0, 1), (8, 2, 1), (8, empty, fault), (9, not collected x2) */
	if (wasm_parser_aggregate_count(p) != 4 ||
	    wasm_parser_aggregated_samples(p) != 5 ||
	    wasm_parser_aggregate(p, 0, &a) || a.pid != 7 || a.samples != 2 ||
	    a.user_stack != 0 || a.kernel_stack != 1 || a.tid != 8 ||
	    wasm_parser_aggregate(p, 3, &a) || a.pid != 9 ||
	    a.user_stack != STACK_ID_NOT_COLLECTED ||
	    a.kernel_stack != STACK_ID_NOT_COLLECTED ||
	    wasm_parser_aggregate(p, 4, &a) != -EINVAL) {
		fail_because("aggregates: %u entries, %llu samples",
			     wasm_parser_aggregate_count(p),
			     (unsigned long long)wasm_parser_aggregated_samples(p));
		goto out;
	}
	if (wasm_parser_cut_tables(p) || wasm_parser_stack_count(p) != 0 ||
	    wasm_parser_aggregate_count(p) != 0) {
		fail_because("cut left %u stacks", wasm_parser_stack_count(p));
		goto out;
	}
	ok = true;
out:
	wasm_parser_close(p);
	return ok;
}

static bool test_tables_full_stops_before_the_record(void)
{
	/* Room for one aggregation key: the second key stops the walk. */
	struct wasm_parser *p = open_with_tables(8, 2 * STACK_DEPTH, 1);
	const struct wasm_walk_stats *s;
	uint8_t buf[4096];
	uint32_t consumed, first;
	size_t n = 0;
	bool ok = false;

	if (!p)
		return false;
	s = wasm_parser_stats(p);
	n = add_frames_record(buf, n, 10, 7, 0, 2, 1, 0, 0, 0);
	first = (uint32_t)n;
	n = add_frames_record(buf, n, 11, 8, 0, 2, 2, 0, 0, 0);
	if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH | SINK_AGGREGATE,
				   &consumed) ||
	    s->stop != STOP_TABLES_FULL || consumed != first || s->events != 1) {
		fail_because("stop %u consumed %u of %u events %u", s->stop,
			     consumed, first, s->events);
		goto out;
	}
	/* Cut and walk on from the record that did not fit. */
	if (wasm_parser_aggregated_samples(p) != 1 || wasm_parser_cut_tables(p) ||
	    wasm_parser_walk_bytes(p, buf + first, n - first,
				   SINK_BATCH | SINK_AGGREGATE, &consumed) ||
	    s->stop != STOP_END || consumed != n - first || s->events != 1 ||
	    wasm_parser_stack_count(p) != 1 ||
	    wasm_parser_stack_pid(p, 0) != 8) {
		fail_because("after the cut: stop %u consumed %u", s->stop,
			     consumed);
		goto out;
	}
	ok = true;
out:
	wasm_parser_close(p);
	return ok;
}

/* A random record stream: mostly valid, with every kind of damage. */
static size_t random_stream(uint8_t *buf, size_t cap)
{
	size_t n = 0;
	uint32_t records = rnd_below(64);

	for (uint32_t r = 0; r < records && n + 64 <= cap; r++) {
		uint32_t kind = rnd_below(100);
		uint32_t cpu = rnd_below(100) < 3 ? 1024 + rnd_below(5)
						  : rnd_below(4);
		uint64_t ts = rnd_below(100) < 10 ? rnd() : 1000 + r * 10 +
							    rnd_below(15);

		if (kind < 60) {
			n = add_record(buf, n, ts, (int32_t)rnd(), cpu);
		} else if (kind < 80 && n + 1200 <= cap) {
			/* A record with frames: mostly valid, some damaged. */
			uint32_t how = rnd_below(100);
			int32_t u = how < 10 ? -(int32_t)rnd_below(20)
					     : (int32_t)rnd_below(4);
			int32_t k = how % 7 == 0 ? -(int32_t)rnd_below(20)
						 : (int32_t)rnd_below(3);
			uint32_t flags = (uint32_t)rnd() & 31;
			size_t at = n;

			if (how >= 95)
				u = (int32_t)STACK_DEPTH;
			n = add_frames_record(buf, n, ts, (int32_t)rnd_below(3),
					      cpu, u, rnd_below(4), k,
					      rnd_below(4), flags);
			if (how >= 90 && how < 93)
				put_u32(buf + at, get_u32(buf + at) + 8 *
								     (rnd_below(3) + 1));
			else if (how >= 93 && how < 95 && get_u32(buf + at) > 40)
				put_u32(buf + at, get_u32(buf + at) - 8);
		} else if (kind < 85) {
			n = add_record(buf, n, ts, 1, cpu);
			put_u32(buf + n - REC, 32 | DISCARD);
		} else if (kind < 90) {
			uint32_t len = rnd_below(56);

			put_u32(buf + n, len);
			n += (len + HDR + 7) & ~7u;
		} else if (kind < 93) {
			n = add_record(buf, n, ts, 2, cpu);
			put_u32(buf + n - REC, 32 | BUSY);
		} else if (kind < 96) {
			put_u32(buf + n, (uint32_t)rnd());
			put_u32(buf + n + 4, (uint32_t)rnd());
			n += 8;
		} else {
			/* flip a random bit somewhere already written */
			if (n)
				buf[rnd_below((uint32_t)n)] ^= (uint8_t)(1u << rnd_below(8));
		}
	}
	if (rnd_below(10) == 0 && n)
		n -= rnd_below(n < 8 ? (uint32_t)n : 8); /* cut the tail */
	return n;
}

static bool same_walk(struct wasm_parser *p, const struct native_walker *w,
		      uint64_t i)
{
	const struct wasm_walk_stats *s = wasm_parser_stats(p);

	if (memcmp(s, &w->stats, offsetof(struct wasm_walk_stats, reserved)))
		return fail_because("stream %llu: stats differ (events %u vs "
				    "%u, consumed %u vs %u, stop %u vs %u)",
				    (unsigned long long)i, s->events,
				    w->stats.events, s->consumed,
				    w->stats.consumed, s->stop, w->stats.stop);
	if (memcmp(wasm_parser_batch(p), w->batch,
		   (size_t)s->batch_written * PROFILE_EVENT_SIZE))
		return fail_because("stream %llu: batch differs",
				    (unsigned long long)i);
	for (uint32_t t = 0; t < s->cpus_touched; t++) {
		uint32_t cpu = wasm_parser_touched_cpu(p, t);

		if (cpu != w->touched[t] ||
		    wasm_parser_cpu_events(p, cpu) != w->cpu[cpu].events ||
		    wasm_parser_cpu_out_of_order(p, cpu) != w->cpu[cpu].out_of_order)
			return fail_because("stream %llu: per-CPU stats differ",
					    (unsigned long long)i);
	}
	return true;
}

static bool test_fuzz_agrees_with_native(void)
{
	enum { STREAMS = 20000, CAP = 64 * 64 + 1280, BATCH = 48 };
	struct wasm_parser *p = open_parser(64, BATCH, CAP);
	struct profile_event *batch = calloc(BATCH, sizeof(*batch));
	struct native_walker *w = malloc(sizeof(*w));
	uint8_t *buf = aligned_alloc(64, CAP);
	uint64_t events = 0, outcomes[8] = { 0 };
	bool ok = false;

	if (!p || !batch || !w || !buf) {
		if (!why[0])
			fail_because("out of memory");
		goto out;
	}
	native_walker_init(w, batch, BATCH);
	for (uint64_t i = 0; i < STREAMS; i++) {
		size_t n = random_stream(buf, CAP);
		uint32_t a, b;

		/* Keep stream state across most walks, reset now and then. */
		if (rnd_below(8) == 0) {
			wasm_parser_reset_stream(p);
			native_walker_reset_stream(w);
		}
		if (wasm_parser_walk_bytes(p, buf, n, SINK_BATCH, &a)) {
			fail_because("stream %llu: walk failed",
				     (unsigned long long)i);
			goto out;
		}
		b = native_walker_walk(w, buf, (uint32_t)n);
		if (a != b || !same_walk(p, w, i)) {
			if (!why[0])
				fail_because("stream %llu: consumed %u vs %u",
					     (unsigned long long)i, a, b);
			goto out;
		}
		events += w->stats.events;
		for (int k = 0; k < 8; k++)
			outcomes[k] += ((const uint32_t *)&w->stats)
					[ST_USER_RESOLVED + k];
	}
	if (events < STREAMS) {
		fail_because("only %llu events decoded: the corpus is too "
			     "damaged to test decoding",
			     (unsigned long long)events);
		goto out;
	}
	/* Every stack outcome of both kinds must be reached. */
	for (int k = 0; k < 8; k++) {
		if (outcomes[k] < 100) {
			fail_because("stack outcome word %d reached only %llu "
				     "times", ST_USER_RESOLVED + k,
				     (unsigned long long)outcomes[k]);
			goto out;
		}
	}
	ok = true;
out:
	wasm_parser_close(p);
	free(batch);
	free(w);
	free(buf);
	return ok;
}

int main(void)
{
	run("wasm2c parser: init rejects bad capacities",
	    test_init_rejects_bad_capacities);
	run("wasm2c parser: decodes committed records, per-CPU order",
	    test_decodes_committed_records);
	run("wasm2c parser: discard/short/long skipped, busy/past-end/"
	    "batch-full stop", test_stops_and_skips);
	run("wasm2c parser: walk_at rejects unaligned and out-of-range spans",
	    test_walk_at_checks_range);
	run("wasm2c parser: overwrite ring keeps the newest, oldest first",
	    test_overwrite_ring);
	run("wasm2c parser: records with frames validated, stacks classified, "
	    "counts handed on without tables (and the C walker agrees)",
	    test_frames_records_without_tables);
	run("wasm2c parser: init_tables before init, stacks interned per "
	    "process, samples aggregated, cut", test_tables_intern_and_aggregate);
	run("wasm2c parser: full tables stop before the record; cut and walk on",
	    test_tables_full_stops_before_the_record);
	run("wasm2c parser agrees with the hand-written C walker on 20000 "
	    "random streams (records with frames among them)",
	    test_fuzz_agrees_with_native);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
