/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A BPF ring buffer mapped straight into the wasm2c parser's linear memory,
 * consumed by the parser's walker in place: the C twin of
 * lib/bpf/ring_mapping.ts + lib/bpf/ring_reader.ts.
 *
 * Why mmap instead of ring_buffer__poll: this is the consumer that answers
 * "what does the Deno design cost when the host is native C instead of
 * V8?". It therefore does exactly what the Deno consumer does: the consumer
 * page (read-write) and the producer page + doubly mapped data area
 * (read-only) are mmap'ed with MAP_FIXED over the page-aligned span the
 * parser reserved (init's mapBytes), so the walker reads the kernel's pages
 * with no copy and no callback per event; a poll reads the producer position
 * once (acquire), walks every committed record up to it (on weakly ordered
 * CPUs: headers first, a fence, then the payloads; see mapped_ring.c), and
 * publishes the consumer position once per span (release). Handing libbpf's per-record callback to the parser
 * would instead measure libbpf's loop plus a 32-byte copy per event, and
 * would not be the same design hosted natively.
 */
#ifndef STREAMPROF_MAPPED_RING_H
#define STREAMPROF_MAPPED_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wasm_parser.h"

/* What became of one kind of stack over the consumed events with frames. */
struct stack_outcomes {
	uint64_t resolved;
	uint64_t truncated;
	uint64_t empty;
	uint64_t fault;
	uint64_t frames;
};

/* Running totals of everything consumed (as ReaderTotals in Deno). */
struct mapped_ring_totals {
	uint64_t events;
	uint64_t discarded;
	uint64_t malformed;
	uint64_t short_records;
	uint64_t long_records;
	uint64_t out_of_order;
	uint64_t no_frames; /* events whose record carried no frames */
	struct stack_outcomes user, kernel;
	uint64_t bytes;
	uint64_t walks;
	uint64_t busy_stops;
	uint64_t polls;
	uint64_t table_cuts; /* walks that stopped STOP_TABLES_FULL */
	/* Samples in the aggregation table at each cut (tables-full). */
	uint64_t aggregated;
};

struct mapped_ring {
	struct wasm_parser *parser;
	uint8_t *base;            /* start of the mapping inside wasm memory */
	size_t length;            /* 2 pages + 2 x size */
	uint32_t size;            /* data area bytes, a power of two */
	uint32_t data_at;         /* offset of the data area in wasm memory */
	uint64_t *consumer_pos;   /* kernel's consumer page (we write it) */
	const uint64_t *producer_pos;
	uint64_t cons;            /* our position: we are the only consumer */
	bool mapped;
	struct mapped_ring_totals totals;
};

/* Bytes of parser memory (init's mapBytes) a ring of `size` bytes needs. */
uint32_t mapped_ring_bytes(uint32_t size, long page);

/*
 * Maps ring map `fd` of `size` bytes into the parser's mapping area.
 * Returns 0, or a negative errno with a message in err (nothing left
 * mapped).
 */
int mapped_ring_map(struct mapped_ring *r, struct wasm_parser *p, int fd,
		    uint32_t size, char *err, size_t err_len);

/*
 * Puts fresh anonymous memory back over the mapping, so the wasm memory has
 * no hole (idempotent). Returns 0 or a negative errno.
 */
int mapped_ring_unmap(struct mapped_ring *r);

/* Bytes reserved or committed and not yet consumed. */
uint64_t mapped_ring_pending(const struct mapped_ring *r);

/*
 * Called after every walk with the parser, whose batch area holds the
 * walk's events when SINK_BATCH was asked for (their stack ids valid: the
 * tables are cut only after the call).
 */
typedef void (*mapped_ring_batch_fn)(void *ctx, struct wasm_parser *p);

/*
 * Consumes every record committed now, feeding `sinks`; if `record` is not
 * NULL the consumed bytes are appended to it (raw ring data for tests and
 * benchmarks). When a walk stops because the parser's tables are full
 * (STOP_TABLES_FULL), the samples they hold are added to totals.aggregated,
 * the tables are cut, and the walk goes on from the record that did not fit,
 * as lib/bpf/ring_reader.ts does. Returns the bytes consumed (0: empty, or
 * the oldest record is still BUSY), or a negative errno (-EFAULT: the module
 * trapped; -EIO: the recording could not be written).
 */
long long mapped_ring_poll(struct mapped_ring *r, unsigned sinks,
			   mapped_ring_batch_fn fn, void *ctx, FILE *record);

#endif /* STREAMPROF_MAPPED_RING_H */
