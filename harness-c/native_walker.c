// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hand-written C twin of the WASM walker; see native_walker.h. The same
 * algorithm as parser-wasm/assembly/index.ts walkInto() with the batch sink
 * (a fast loop over runs of plain event records, then one slow-path record)
 * and the same per-CPU layout, so that the decode benchmark compares
 * compilers and runtimes, not algorithms.
 */
#include <stddef.h>
#include <string.h>

#include "native_walker.h"

#define HDR_SIZE 8u
#define BUSY_BIT (1u << 31)
#define DISCARD_BIT (1u << 30)

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

uint32_t native_walker_walk(struct native_walker *w, const uint8_t *data,
			    uint32_t len)
{
	const uint32_t rec = HDR_SIZE + PROFILE_EVENT_SIZE;
	struct wasm_walk_stats *s = &w->stats;
	uint32_t events = 0, discarded = 0, shrt = 0, lng = 0, past_end = 0;
	uint32_t ooo = 0, bad_cpu = 0, touched = 0, written = 0;
	uint32_t stop = WASM_PARSER_STOP_END, off = 0;
	struct profile_event *out = w->batch;

	/* Reset only what the previous walk touched. */
	for (uint32_t i = 0; i < s->cpus_touched; i++) {
		w->cpu[w->touched[i]].events = 0;
		w->cpu[w->touched[i]].out_of_order = 0;
	}
	memset(s, 0, sizeof(*s));

	while (len - off >= HDR_SIZE) {
		/* Fast path: a run of committed 32-byte event records. */
		uint32_t room = (len - off) / rec;
		uint32_t run_start = off, run_end, hdr, rec_len, total, seen;

		if (w->batch_capacity - written < room)
			room = w->batch_capacity - written;
		run_end = off + room * rec;
		seen = 0;
		while (off < run_end) {
			const uint8_t *ev = data + off + HDR_SIZE;
			uint32_t cpu;

			memcpy(&hdr, data + off, 4);
			if (hdr != PROFILE_EVENT_SIZE)
				break;
			memcpy(&cpu, ev + offsetof(struct profile_event, cpu), 4);
			if (cpu < NATIVE_WALKER_MAX_CPUS) {
				struct native_walker_cpu *c = &w->cpu[cpu];
				uint64_t ts;

				memcpy(&ts, ev, 8);
				if (c->events == 0)
					w->touched[touched++] = cpu;
				c->events++;
				if (ts < c->last_ts)
					c->out_of_order++;
				c->last_ts = ts;
				seen++;
			}
			memcpy(out++, ev, PROFILE_EVENT_SIZE);
			off += rec;
		}
		events += (off - run_start) / rec;
		written += (off - run_start) / rec;
		bad_cpu += (off - run_start) / rec - seen;

		/* Slow path: one record that is not a plain event, or the end. */
		if (len - off < HDR_SIZE)
			break;
		memcpy(&hdr, data + off, 4);
		if (hdr & BUSY_BIT) {
			stop = WASM_PARSER_STOP_BUSY;
			break;
		}
		rec_len = hdr & ~(BUSY_BIT | DISCARD_BIT);
		total = (rec_len + HDR_SIZE + 7) & ~7u;
		if (total > len - off) {
			past_end++;
			stop = WASM_PARSER_STOP_PAST_END;
			break;
		}
		if (hdr & DISCARD_BIT) {
			discarded++;
			off += total;
			continue;
		}
		if (rec_len != PROFILE_EVENT_SIZE) {
			if (rec_len < PROFILE_EVENT_SIZE)
				shrt++;
			else
				lng++;
			off += total;
			continue;
		}
		stop = WASM_PARSER_STOP_BATCH_FULL;
		break;
	}
	if (stop == WASM_PARSER_STOP_END && off != len) {
		past_end++;
		stop = WASM_PARSER_STOP_PAST_END;
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
	return off;
}
