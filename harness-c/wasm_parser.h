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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile_event.h"
/*
 * The module's interface by name: build/parser_abi.h is generated from
 * parser-wasm/assembly/layout.ts by wasm2c/parser_abi.sh (`#define ST_EVENTS
 * 0u` ...), so the statistics indexes (ST_*), stop reasons (STOP_*), sinks
 * (SINK_*), per-CPU state (CPU_STATE_SIZE, CS_*), stack id sentinels
 * (STACK_ID_*), table entries (SE_*, AG_*) and MAX_CPUS have the names and
 * values the module gives them. No index, offset or code of the module is
 * restated here.
 */
#include "parser_abi.h"

/*
 * The module's statistics block (STATS_WORDS u32 words, index ST_*), as a
 * struct read in place. Each field sits at its ST_* word: the list below
 * names the pairs, and the static assertions after the struct check every
 * one (tests/layout_test.ts also checks that the list covers every ST_* the
 * module exports).
 */
struct wasm_walk_stats {
	uint32_t events;
	uint32_t discarded;
	uint32_t malformed;     /* short_records + long_records + past_end */
	uint32_t stop;          /* STOP_* */
	uint32_t consumed;      /* bytes: advance the consumer position by this */
	uint32_t out_of_order;
	uint32_t cpus_touched;  /* entries of the touched-CPU list */
	uint32_t bad_cpu;
	uint32_t short_records;
	uint32_t long_records;
	uint32_t past_end;
	uint32_t batch_written; /* events in the batch area */
	uint32_t no_frames;     /* events whose record carried no frames */
	/* Stacks of the events with frames, one outcome each per kind. */
	uint32_t user_resolved;
	uint32_t user_truncated;
	uint32_t user_empty;
	uint32_t user_fault;
	uint32_t kernel_resolved;
	uint32_t kernel_truncated;
	uint32_t kernel_empty;
	uint32_t kernel_fault;
	uint32_t user_frames;
	uint32_t kernel_frames;
	uint32_t reserved[STATS_WORDS - ST_KERNEL_FRAMES - 1];
};

/* (field, ST_ index) of every word of struct wasm_walk_stats. */
#define WASM_WALK_STATS_WORDS(F)                                      \
	F(events, ST_EVENTS)                                           \
	F(discarded, ST_DISCARDED)                                     \
	F(malformed, ST_MALFORMED)                                     \
	F(stop, ST_STOP)                                               \
	F(consumed, ST_CONSUMED)                                       \
	F(out_of_order, ST_OUT_OF_ORDER)                               \
	F(cpus_touched, ST_CPUS_TOUCHED)                               \
	F(bad_cpu, ST_BAD_CPU)                                         \
	F(short_records, ST_SHORT)                                     \
	F(long_records, ST_LONG)                                       \
	F(past_end, ST_PAST_END)                                       \
	F(batch_written, ST_BATCH_WRITTEN)                             \
	F(no_frames, ST_NO_FRAMES)                                     \
	F(user_resolved, ST_USER_RESOLVED)                             \
	F(user_truncated, ST_USER_TRUNCATED)                           \
	F(user_empty, ST_USER_EMPTY)                                   \
	F(user_fault, ST_USER_FAULT)                                   \
	F(kernel_resolved, ST_KERNEL_RESOLVED)                         \
	F(kernel_truncated, ST_KERNEL_TRUNCATED)                       \
	F(kernel_empty, ST_KERNEL_EMPTY)                               \
	F(kernel_fault, ST_KERNEL_FAULT)                               \
	F(user_frames, ST_USER_FRAMES)                                 \
	F(kernel_frames, ST_KERNEL_FRAMES)

#define WASM_WALK_STATS_ASSERT_(field, index)                          \
	_Static_assert(offsetof(struct wasm_walk_stats, field) ==      \
			       (index) * 4,                            \
		       "wasm_walk_stats." #field " is not word " #index);
WASM_WALK_STATS_WORDS(WASM_WALK_STATS_ASSERT_)
#undef WASM_WALK_STATS_ASSERT_
_Static_assert(sizeof(struct wasm_walk_stats) == STATS_WORDS * 4,
	       "struct wasm_walk_stats is not STATS_WORDS words");

/* What init() lays out; see init() in parser-wasm/assembly/index.ts. */
struct wasm_parser_config {
	uint32_t ring_capacity;  /* events the overwrite ring keeps, >= 1 */
	uint32_t batch_capacity; /* events one walk may write to the batch */
	uint32_t input_bytes;    /* scratch area wasm_parser_walk_bytes copies to */
	uint32_t map_bytes;      /* page-aligned area for a ring mapping, or 0 */
	uint32_t map_align;      /* power of two */
};

/*
 * Sizes of the stack and aggregation tables (initTables() in
 * parser-wasm/assembly/index.ts): distinct stacks (2 .. 2^22), frames over
 * all stacks (2 x STACK_DEPTH .. 2^26) and distinct aggregation keys
 * (1 .. 2^22) held between two cuts.
 */
struct wasm_parser_tables {
	uint32_t stacks;
	uint32_t frames;
	uint32_t aggregates;
};

struct wasm_parser;

/*
 * The module's two set-up calls, in its order: wasm_parser_new()
 * instantiates, wasm_parser_init_tables() (optional) lays out the tables,
 * wasm_parser_init() lays out everything else. Only an initialised parser
 * may walk. Each returns 0, or a negative errno with a message in err:
 * -EALREADY (init already ran, or the tables exist), -EINVAL (capacities
 * refused), -ENOMEM (memory could not grow), -EFAULT (trap). After a
 * failure the parser must only be closed.
 */
int wasm_parser_new(struct wasm_parser **out, char *err, size_t err_len);
int wasm_parser_init_tables(struct wasm_parser *p,
			    const struct wasm_parser_tables *t, char *err,
			    size_t err_len);
int wasm_parser_init(struct wasm_parser *p,
		     const struct wasm_parser_config *cfg, char *err,
		     size_t err_len);
/*
 * new, init_tables when `tables` is not NULL, then init: a ready parser in
 * *out, or NULL and the error as above.
 */
int wasm_parser_open_with_tables(struct wasm_parser **out,
				 const struct wasm_parser_config *cfg,
				 const struct wasm_parser_tables *tables,
				 char *err, size_t err_len);
/* A parser without tables (wasm_parser_open_with_tables with NULL). */
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
/* (sinks: SINK_RING | SINK_BATCH | SINK_AGGREGATE; the last needs tables.) */
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
/* Events and out-of-order events of `cpu` in the last walk (cpu < MAX_CPUS). */
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

/*
 * The stack and aggregation tables (all 0 / NULL / -EINVAL without them).
 * Stack ids in the events a walk hands on (batch, ring) and in aggregates
 * index the stack table until the next cut; STACK_ID_EMPTY and
 * STACK_ID_FAULT say why an event has no stack of that kind. Without tables
 * the ids handed on are the frame counts instead.
 */
bool wasm_parser_has_tables(const struct wasm_parser *p);
uint32_t wasm_parser_stack_count(struct wasm_parser *p);
uint32_t wasm_parser_frame_count(struct wasm_parser *p);
uint32_t wasm_parser_aggregate_count(struct wasm_parser *p);
/* Empties both tables (after reading them): ids given out before are void. */
int wasm_parser_cut_tables(struct wasm_parser *p);
/*
 * The frames of stack `id`, innermost first, read in place (valid until the
 * next cut), and their number in *n; NULL if `id` is not in the table.
 */
const uint64_t *wasm_parser_stack_frames(const struct wasm_parser *p,
					 uint32_t id, uint32_t *n);
/* The process of user stack `id`; -1 for a kernel stack (and a bad id). */
int32_t wasm_parser_stack_pid(const struct wasm_parser *p, uint32_t id);

/* One aggregation entry: samples of (pid, tid, cpu, user and kernel stack). */
struct wasm_parser_aggregate {
	int32_t pid;
	int32_t tid;
	uint32_t cpu;
	uint32_t user_stack;   /* stack id or STACK_ID_* */
	uint32_t kernel_stack; /* stack id or STACK_ID_* */
	uint32_t samples;
};

/* Entry i (i < aggregate_count): 0, or -EINVAL for a bad i. */
int wasm_parser_aggregate(const struct wasm_parser *p, uint32_t i,
			  struct wasm_parser_aggregate *out);
/* The samples of every aggregation entry since the last cut, summed. */
uint64_t wasm_parser_aggregated_samples(const struct wasm_parser *p);

#endif /* STREAMPROF_WASM_PARSER_H */
