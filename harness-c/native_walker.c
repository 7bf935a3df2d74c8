// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hand-written C twin of the WASM walker; see native_walker.h. The same
 * algorithm as parser-wasm/assembly/index.ts walkInto() with the batch sink
 * and no tables (a fast loop over runs of plain event records, then one
 * slow-path record: BUSY, DISCARD, malformed, a record with frames, batch
 * full) and the same per-CPU layout, so that the decode benchmark compares
 * compilers and runtimes, not algorithms.
 *
 * The constants are the module's own, by name (parser_abi.h, generated from
 * parser-wasm/assembly/layout.ts): RECORD_HEADER_SIZE, BUSY_BIT and
 * DISCARD_BIT are the kernel's ring buffer record format (BPF_RINGBUF_* in
 * <linux/bpf.h>), EVENT_SIZE, OFF_*, FLAG_* and STACK_DEPTH the wire format
 * of ebpf/profile_event.h, both checked against their sources by
 * tests/layout_test.ts.
 */
#include <stddef.h>
#include <string.h>

#include "native_walker.h"

size_t native_walker_size(void)
{
	return sizeof(struct native_walker);
}

void native_walker_init(struct native_walker *w, struct profile_event *batch,
			uint32_t batch_capacity)
{
	memset(w, 0, sizeof(*w));
	w->batch = batch;
	w->batch_capacity = batch_capacity;
}

void native_walker_reset_stream(struct native_walker *w)
{
	for (uint32_t c = 0; c < NATIVE_WALKER_MAX_CPUS; c++)
		w->cpu[c].last_ts = 0;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * One stack of a record with frames: the outcome counted in `resolved`,
 * `truncated`, `empty` or `fault` (the four consecutive statistics words of
 * its kind), and the id handed on (no tables: the frame count).
 */
static uint32_t classify(int32_t field, uint32_t n, int truncated_flag,
			 uint32_t *outcomes)
{
	if (field < 0) {
		outcomes[3]++;
		return STACK_ID_FAULT;
	}
	if (n == 0) {
		outcomes[2]++;
		return STACK_ID_EMPTY;
	}
	outcomes[truncated_flag ? 1 : 0]++;
	return n;
}

/*
 * One event of CPU `cpu` (< NATIVE_WALKER_MAX_CPUS) at `ev`, for both paths
 * of the walk, as the module's countCpu(): counted, out of order or not
 * against the CPU's last timestamp, and the CPU listed in w->touched on its
 * first event of the walk. Returns the new number of CPUs touched.
 */
static inline uint32_t count_cpu(struct native_walker *w, uint32_t cpu,
				 const uint8_t *ev, uint32_t touched)
{
	struct native_walker_cpu *c = &w->cpu[cpu];
	uint64_t ts;

	memcpy(&ts, ev + OFF_TIMESTAMP, 8);
	if (c->events == 0)
		w->touched[touched++] = cpu;
	c->events++;
	if (ts < c->last_ts)
		c->out_of_order++;
	c->last_ts = ts;
	return touched;
}

uint32_t native_walker_walk(struct native_walker *w, const uint8_t *data,
			    uint32_t len)
{
	const uint32_t rec = RECORD_HEADER_SIZE + EVENT_SIZE;
	struct wasm_walk_stats *s = &w->stats;
	uint32_t events = 0, discarded = 0, shrt = 0, lng = 0, past_end = 0;
	uint32_t ooo = 0, bad_cpu = 0, touched = 0, written = 0;
	uint32_t no_frames = 0;
	uint32_t stop = STOP_END, off = 0;
	struct profile_event *out = w->batch;
	/* user and kernel outcomes: resolved, truncated, empty, fault */
	uint32_t user[4] = { 0 }, kernel[4] = { 0 };
	uint32_t user_frames = 0, kernel_frames = 0;

	/* Reset only what the previous walk touched. */
	for (uint32_t i = 0; i < s->cpus_touched; i++) {
		w->cpu[w->touched[i]].events = 0;
		w->cpu[w->touched[i]].out_of_order = 0;
	}
	memset(s, 0, sizeof(*s));

	while (len - off >= RECORD_HEADER_SIZE) {
		/* Fast path: a run of committed plain event records (header
		 * EVENT_SIZE, no FLAG_FRAMES). */
		uint32_t room = (len - off) / rec;
		uint32_t run_start = off, run_end, hdr, rec_len, total, seen;
		uint32_t flags, cpu, nu, nk;
		int32_t u, k;
		const uint8_t *ev;

		if (w->batch_capacity - written < room)
			room = w->batch_capacity - written;
		run_end = off + room * rec;
		seen = 0;
		while (off < run_end) {
			uint64_t cpu_flags;

			ev = data + off + RECORD_HEADER_SIZE;
			if (get_u32(data + off) != EVENT_SIZE)
				break;
			/* cpu and flags in one load, as the module does. */
			memcpy(&cpu_flags, ev + OFF_CPU, 8);
			if ((uint32_t)(cpu_flags >> 32) & FLAG_FRAMES)
				break;
			cpu = (uint32_t)cpu_flags;
			if (cpu < NATIVE_WALKER_MAX_CPUS) {
				touched = count_cpu(w, cpu, ev, touched);
				seen++;
			}
			memcpy(out++, ev, EVENT_SIZE);
			off += rec;
		}
		events += (off - run_start) / rec;
		no_frames += (off - run_start) / rec;
		written += (off - run_start) / rec;
		bad_cpu += (off - run_start) / rec - seen;

		/* Slow path: one record that is not a plain event, or the end:
		 * the module's checks again, written out here on purpose (a
		 * baseline shares no code with what it is measured against). */
		if (len - off < RECORD_HEADER_SIZE)
			break;
		hdr = get_u32(data + off);
		if (hdr & BUSY_BIT) {
			stop = STOP_BUSY;
			break;
		}
		rec_len = hdr & ~(BUSY_BIT | DISCARD_BIT);
		total = (rec_len + RECORD_HEADER_SIZE + 7) & ~7u;
		if (total > len - off) {
			past_end++;
			stop = STOP_PAST_END;
			break;
		}
		if (hdr & DISCARD_BIT) {
			discarded++;
			off += total;
			continue;
		}
		if (rec_len < EVENT_SIZE) {
			shrt++;
			off += total;
			continue;
		}
		ev = data + off + RECORD_HEADER_SIZE;
		flags = get_u32(ev + OFF_FLAGS);
		if (!(flags & FLAG_FRAMES)) {
			if (rec_len != EVENT_SIZE) {
				lng++;
				off += total;
				continue;
			}
			/* A whole plain event the run did not take. */
			stop = STOP_BATCH_FULL;
			break;
		}
		/* A record with frames: its length must be what the counts say. */
		u = (int32_t)get_u32(ev + OFF_USER_STACK);
		k = (int32_t)get_u32(ev + OFF_KERNEL_STACK);
		nu = u > 0 ? (uint32_t)u : 0;
		nk = k > 0 ? (uint32_t)k : 0;
		if (nu > STACK_DEPTH || nk > STACK_DEPTH) {
			lng++;
			off += total;
			continue;
		}
		if (rec_len != EVENT_SIZE + ((nu + nk) << 3)) {
			if (rec_len < EVENT_SIZE + ((nu + nk) << 3))
				shrt++;
			else
				lng++;
			off += total;
			continue;
		}
		if (written == w->batch_capacity) {
			stop = STOP_BATCH_FULL;
			break;
		}
		memcpy(out, ev, EVENT_SIZE);
		out->user_stack_id = (int32_t)classify(
			u, nu, !!(flags & FLAG_USER_TRUNCATED), user);
		out->kernel_stack_id = (int32_t)classify(
			k, nk, !!(flags & FLAG_KERNEL_TRUNCATED), kernel);
		user_frames += nu;
		kernel_frames += nk;
		cpu = get_u32(ev + OFF_CPU);
		if (cpu < NATIVE_WALKER_MAX_CPUS)
			touched = count_cpu(w, cpu, ev, touched);
		else
			bad_cpu++;
		out++;
		written++;
		events++;
		off += total;
	}
	if (stop == STOP_END && off != len) {
		past_end++;
		stop = STOP_PAST_END;
	}
	for (uint32_t i = 0; i < touched; i++)
		ooo += w->cpu[w->touched[i]].out_of_order;
	s->events = events;
	s->discarded = discarded;
	s->malformed = shrt + lng + past_end;
	s->stop = stop;
	s->consumed = off;
	s->out_of_order = ooo;
	s->cpus_touched = touched;
	s->bad_cpu = bad_cpu;
	s->short_records = shrt;
	s->long_records = lng;
	s->past_end = past_end;
	s->batch_written = written;
	s->no_frames = no_frames;
	s->user_resolved = user[0];
	s->user_truncated = user[1];
	s->user_empty = user[2];
	s->user_fault = user[3];
	s->kernel_resolved = kernel[0];
	s->kernel_truncated = kernel[1];
	s->kernel_empty = kernel[2];
	s->kernel_fault = kernel[3];
	s->user_frames = user_frames;
	s->kernel_frames = kernel_frames;
	return off;
}
