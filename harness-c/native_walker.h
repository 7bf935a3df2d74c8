/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A hand-written C record walker with exactly the semantics of the WASM
 * parser's walk() (parser-wasm/assembly/index.ts): the same stop rules, the
 * same statistics, the same per-CPU counts and out-of-order detection, the
 * same batch output. It exists as the "hand-written C -O2" column of the
 * decode benchmark and as an independent implementation the C tests compare
 * the wasm2c-compiled module against.
 *
 * Not for live rings: it reads headers with plain loads (files and buffers
 * only), which is what a hand-tuned offline decoder would do.
 */
#ifndef STREAMPROF_NATIVE_WALKER_H
#define STREAMPROF_NATIVE_WALKER_H

#include <stddef.h>
#include <stdint.h>

#include "profile_event.h"
#include "wasm_parser.h" /* struct wasm_walk_stats, stop codes, sinks */

#define NATIVE_WALKER_MAX_CPUS 1024

/* Per-CPU state, laid out as the WASM module lays out its own. */
struct native_walker_cpu {
	uint64_t last_ts; /* kept across walks */
	uint32_t events; /* of the last walk */
	uint32_t out_of_order; /* of the last walk */
};

struct native_walker {
	struct wasm_walk_stats stats;
	struct native_walker_cpu cpu[NATIVE_WALKER_MAX_CPUS];
	uint32_t touched[NATIVE_WALKER_MAX_CPUS];
	struct profile_event *batch; /* caller's array of batch_capacity */
	uint32_t batch_capacity;
};

/* sizeof(struct native_walker), for hosts that allocate it (Deno FFI). */
size_t native_walker_size(void);
/* Zeroes everything; `batch` holds batch_capacity events. */
void native_walker_init(struct native_walker *w, struct profile_event *batch,
			uint32_t batch_capacity);
/* Forgets per-CPU last timestamps (a new stream). */
void native_walker_reset_stream(struct native_walker *w);
/*
 * Walks [data, data + len) like walk(data, len, SINK_BATCH) (the ring sink
 * is not implemented: the benchmark decodes into the batch). Returns bytes
 * consumed; statistics in w->stats.
 */
uint32_t native_walker_walk(struct native_walker *w, const uint8_t *data,
			    uint32_t len);

#endif /* STREAMPROF_NATIVE_WALKER_H */
