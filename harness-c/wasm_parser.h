/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The WASM parser (parser-wasm/build/parser.wasm) hosted in C through
 * wasm2c: the same module the Deno consumer runs, compiled to native code.
 *
 * The module lays out all its memory once in init() and never grows it
 * afterwards, so the pointers returned here stay valid until
 * wasm_parser_close(). Statistics and the batch area live inside the module's
 * linear memory and are read in place, exactly as the Deno host reads them
 * through typed-array views.
 *
 * A wasm trap (an out-of-bounds access; the walker is written never to make
 * one) is reported as -EFAULT, after which the parser must only be closed.
 */
#ifndef STREAMPROF_WASM_PARSER_H
#define STREAMPROF_WASM_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "profile_event.h"

/* walk() sinks, as in parser-wasm/assembly/index.ts. */
#define WASM_PARSER_SINK_RING 1u
#define WASM_PARSER_SINK_BATCH 2u

/* Why a walk stopped (stats.stop). */
enum wasm_parser_stop {
	WASM_PARSER_STOP_END = 0,
	WASM_PARSER_STOP_BUSY = 1,
	WASM_PARSER_STOP_PAST_END = 2,
	WASM_PARSER_STOP_BATCH_FULL = 3,
};

/* The module's 16-word statistics block, word for word. */
struct wasm_walk_stats {
	uint32_t events;
	uint32_t discarded;
	uint32_t malformed;     /* short_records + long_records + past_end */
	uint32_t stop;          /* enum wasm_parser_stop */
	uint32_t consumed;      /* bytes: advance the consumer position by this */
	uint32_t out_of_order;
	uint32_t cpus_touched;  /* entries of the touched-CPU list */
	uint32_t bad_cpu;
	uint32_t short_records;
	uint32_t long_records;
	uint32_t past_end;
	uint32_t batch_written; /* events in the batch area */
	uint32_t reserved[4];
};

/* What init() lays out; see init() in parser-wasm/assembly/index.ts. */
struct wasm_parser_config {
	uint32_t ring_capacity;  /* events the overwrite ring keeps, >= 1 */
	uint32_t batch_capacity; /* events one walk may write to the batch */
	uint32_t input_bytes;    /* scratch area wasm_parser_walk_bytes copies to */
	uint32_t map_bytes;      /* page-aligned area for a ring mapping, or 0 */
	uint32_t map_align;      /* power of two */
};

struct wasm_parser;

/*
 * Instantiates the module and calls init(). Returns 0, or a negative errno
 * with a message in err: -EINVAL (init rejected the capacities), -ENOMEM
 * (memory could not grow), -EFAULT (trap).
 */
int wasm_parser_open(struct wasm_parser **out,
		     const struct wasm_parser_config *cfg, char *err,
		     size_t err_len);
/* Frees the instance (NULL-safe). */
void wasm_parser_close(struct wasm_parser *p);

/*
 * Walks `len` bytes of records at byte offset `at` of the module's memory
 * (e.g. inside the mapped ring). `at` must be 4-byte aligned and the range
 * inside memory, else -EINVAL. On success returns 0 and sets *consumed.
 */
int wasm_parser_walk_at(struct wasm_parser *p, uint32_t at, uint32_t len,
			unsigned sinks, uint32_t *consumed);
/*
 * committedBytes(): bytes from `at` up to the first record not yet committed
 * (BUSY) or the first header claiming bytes past `len`, reading headers only.
 * Hosts on weakly ordered CPUs call it, fence, then walk exactly those bytes
 * (see mapped_ring.c). Same checks and errors as wasm_parser_walk_at.
 */
int wasm_parser_committed_at(struct wasm_parser *p, uint32_t at, uint32_t len,
			     uint32_t *committed);
/*
 * Copies a record stream into the input area and walks it; -E2BIG if it is
 * larger than input_bytes.
 */
int wasm_parser_walk_bytes(struct wasm_parser *p, const void *bytes,
			   size_t len, unsigned sinks, uint32_t *consumed);

/* Statistics of the last walk (inside the module's memory). */
const struct wasm_walk_stats *wasm_parser_stats(const struct wasm_parser *p);
/* The last walk's decoded events: stats->batch_written of them. */
const struct profile_event *wasm_parser_batch(const struct wasm_parser *p);
/* CPU number of touched-CPU entry i (i < stats->cpus_touched). */
uint32_t wasm_parser_touched_cpu(const struct wasm_parser *p, uint32_t i);
/* Events and out-of-order events of `cpu` in the last walk (cpu < 1024). */
uint32_t wasm_parser_cpu_events(const struct wasm_parser *p, uint32_t cpu);
uint32_t wasm_parser_cpu_out_of_order(const struct wasm_parser *p,
				      uint32_t cpu);
/* Forgets per-CPU last timestamps: the next walk starts a new stream. */
int wasm_parser_reset_stream(struct wasm_parser *p);

/* The overwrite ring. */
uint32_t wasm_parser_ring_length(struct wasm_parser *p);
uint32_t wasm_parser_ring_capacity(struct wasm_parser *p);
uint32_t wasm_parser_ring_head(struct wasm_parser *p);
double wasm_parser_ring_overwritten(struct wasm_parser *p);
/* Ring event i, oldest first (i < length), read in place. */
const struct profile_event *wasm_parser_ring_event(struct wasm_parser *p,
						   uint32_t i);

/* The module's linear memory (base never moves after open). */
uint8_t *wasm_parser_memory(const struct wasm_parser *p);
uint64_t wasm_parser_memory_bytes(const struct wasm_parser *p);
/* Offset and size of the scratch input area (for walking in place). */
uint32_t wasm_parser_input_offset(const struct wasm_parser *p);
uint32_t wasm_parser_input_bytes(const struct wasm_parser *p);
/* Offset of the area reserved for a ring mapping (0 if none). */
uint32_t wasm_parser_map_offset(const struct wasm_parser *p);
/* Bytes the parser itself uses: everything before the mapping area. */
uint32_t wasm_parser_own_bytes(const struct wasm_parser *p);

#endif /* STREAMPROF_WASM_PARSER_H */
