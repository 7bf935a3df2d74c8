/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A hand-written C record walker with exactly the semantics of the WASM
 * parser's walk() (parser-wasm/assembly/index.ts): the same stop rules, the
 * same statistics, the same per-CPU counts and out-of-order detection, the
 * same batch output. It exists as the "hand-written C -O2" column of the
 * decode benchmark and as an independent implementation the C tests compare
 * the wasm2c-compiled module against.
 *
 * It walks records with frames as the module does WITHOUT tables (the
 * decode benchmark's parser has none): each record is validated and its
 * stacks classified into the same statistics words, and the events it
 * hands on carry the frame counts, or STACK_ID_EMPTY / STACK_ID_FAULT for a
 * stack without frames. It does not intern or aggregate (no tables, no
 * SINK_AGGREGATE) and has no ring sink. Every constant it uses is the
 * module's, by the module's name (parser_abi.h, generated from
 * parser-wasm/assembly/layout.ts).
 *
 * Not for live rings: it reads headers with plain loads (files and buffers
 * only), which is what a hand-tuned offline decoder would do.
 */
#ifndef STREAMPROF_NATIVE_WALKER_H
#define STREAMPROF_NATIVE_WALKER_H

#include <stddef.h>
#include <stdint.h>

#include "profile_event.h"
#include "wasm_parser.h" /* struct wasm_walk_stats, parser_abi.h */

#define NATIVE_WALKER_MAX_CPUS MAX_CPUS

/* Per-CPU state, laid out as the WASM module lays out its own. */
struct native_walker_cpu {
	uint64_t last_ts; /* kept across walks */
	uint32_t events; /* of the last walk */
	uint32_t out_of_order; /* of the last walk */
};

_Static_assert(sizeof(struct native_walker_cpu) == CPU_STATE_SIZE &&
		       offsetof(struct native_walker_cpu, last_ts) == CS_LAST_TS &&
		       offsetof(struct native_walker_cpu, events) == CS_COUNTS &&
		       offsetof(struct native_walker_cpu, out_of_order) ==
			       CS_OUT_OF_ORDER,
	       "struct native_walker_cpu is not the module's CPU state slot");

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
 * Walks [data, data + len) like walk(data, len, SINK_BATCH) of a parser
 * without tables (the ring sink is not implemented: the benchmark decodes
 * into the batch). Returns bytes consumed; statistics in w->stats.
 */
uint32_t native_walker_walk(struct native_walker *w, const uint8_t *data,
			    uint32_t len);

#endif /* STREAMPROF_NATIVE_WALKER_H */
