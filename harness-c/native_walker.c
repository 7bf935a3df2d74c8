// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hand-written C twin of the WASM walker; see native_walker.h. Kept line for
 * line in the order of parser-wasm/assembly/index.ts walk() so a reader can
 * check the two against each other.
 */
#include <string.h>

#include "native_walker.h"

#define HDR_SIZE 8u
#define BUSY_BIT (1u << 31)
#define DISCARD_BIT (1u << 30)

void native_walker_init(struct native_walker *w, struct profile_event *batch,
			uint32_t batch_capacity)
{
	memset(w, 0, sizeof(*w));
	w->batch = batch;
	w->batch_capacity = batch_capacity;
}

void native_walker_reset_stream(struct native_walker *w)
{
	memset(w->cpu_last_ts, 0, sizeof(w->cpu_last_ts));
}

uint32_t native_walker_walk(struct native_walker *w, const uint8_t *data,
			    uint32_t len)
{
	struct wasm_walk_stats *s = &w->stats;
	uint32_t events = 0, discarded = 0, shrt = 0, lng = 0, past_end = 0;
	uint32_t ooo = 0, bad_cpu = 0, touched = 0, written = 0;
	uint32_t stop = WASM_PARSER_STOP_END, off = 0;

	/* Reset only what the previous walk touched. */
	for (uint32_t i = 0; i < s->cpus_touched; i++) {
		w->cpu_count[w->touched[i]] = 0;
		w->cpu_ooo[w->touched[i]] = 0;
	}
	memset(s, 0, sizeof(*s));

	while (len - off >= HDR_SIZE) {
		const uint8_t *rec = data + off;
		uint32_t hdr, rec_len, total;
		const struct profile_event *ev;
		uint32_t cpu;

		memcpy(&hdr, rec, 4);
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
		if (written == w->batch_capacity) {
			stop = WASM_PARSER_STOP_BATCH_FULL;
			break;
		}
		ev = (const void *)(rec + HDR_SIZE);
		cpu = ev->cpu;
		if (cpu < NATIVE_WALKER_MAX_CPUS) {
			uint32_t n = w->cpu_count[cpu];

			if (n == 0)
				w->touched[touched++] = cpu;
			w->cpu_count[cpu] = n + 1;
			if (ev->timestamp_ns < w->cpu_last_ts[cpu]) {
				ooo++;
				w->cpu_ooo[cpu]++;
			}
			w->cpu_last_ts[cpu] = ev->timestamp_ns;
		} else {
			bad_cpu++;
		}
		memcpy(&w->batch[written++], ev, PROFILE_EVENT_SIZE);
		events++;
		off += total;
	}
	if (stop == WASM_PARSER_STOP_END && off != len) {
		past_end++;
		stop = WASM_PARSER_STOP_PAST_END;
	}
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
