// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * See mapped_ring.h. Memory layout of a BPF ring buffer map's mmap
 * (kernel/bpf/ringbuf.c, ringbuf_map_mmap_kern): offset 0 the consumer page
 * (read-write), offset `page` the producer page then the data pages, which
 * the kernel maps twice back to back so a record that wraps is contiguous.
 * PROT_WRITE on the producer part gives EPERM, MAP_PRIVATE gives EINVAL.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mapped_ring.h"

/*
 * The kernel commits a record by xchg() on its header after writing the
 * payload, and its own consumer reads headers with smp_load_acquire(). The
 * parser module reads headers with plain loads (no atomics: wasm2c 1.0.32
 * cannot translate them). On x86 (TSO) loads are not reordered with loads and
 * every payload load in walk() is behind the header check, so one walk is
 * enough. On weakly ordered CPUs (arm64) a payload could be read before its
 * header: there we read the headers first (committedBytes), fence, then walk
 * exactly those bytes, as lib/bpf/ring_reader.ts does for the Deno host.
 */
#if defined(__x86_64__) || defined(__i386__)
#define WEAKLY_ORDERED 0
#else
#define WEAKLY_ORDERED 1
#endif

uint32_t mapped_ring_bytes(uint32_t size, long page)
{
	return 2u * (uint32_t)page + 2u * size;
}

static int restore_anonymous(uint8_t *base, size_t length)
{
	void *p = mmap(base, length, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);

	return p == base ? 0 : -errno;
}

int mapped_ring_map(struct mapped_ring *r, struct wasm_parser *p, int fd,
		    uint32_t size, char *err, size_t err_len)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t at = wasm_parser_map_offset(p);
	size_t need = mapped_ring_bytes(size, page);
	uint8_t *base;
	void *m;
	int e;

	memset(r, 0, sizeof(*r));
	if (at == 0 || at % (uint32_t)page) {
		snprintf(err, err_len, "the parser has no page-aligned mapping "
				       "area (init with map_bytes, map_align)");
		return -EINVAL;
	}
	if ((uint64_t)at + need > wasm_parser_memory_bytes(p)) {
		snprintf(err, err_len, "a ring of %u bytes needs %zu bytes of "
				       "mapping area; the parser has %llu",
			 size, need,
			 (unsigned long long)(wasm_parser_memory_bytes(p) - at));
		return -ERANGE;
	}
	base = wasm_parser_memory(p) + at;
	m = mmap(base, (size_t)page, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	if (m != base) {
		e = errno;
		restore_anonymous(base, need);
		snprintf(err, err_len, "mmap of the ring buffer's consumer "
				       "page: %s", strerror(e));
		return -e;
	}
	m = mmap(base + page, (size_t)page + 2 * (size_t)size, PROT_READ,
		 MAP_SHARED | MAP_FIXED, fd, page);
	if (m != base + page) {
		e = errno;
		restore_anonymous(base, need);
		snprintf(err, err_len, "mmap of the ring buffer's data pages: "
				       "%s", strerror(e));
		return -e;
	}
	r->parser = p;
	r->base = base;
	r->length = need;
	r->size = size;
	r->data_at = at + 2 * (uint32_t)page;
	r->consumer_pos = (uint64_t *)(void *)base;
	r->producer_pos = (const uint64_t *)(const void *)(base + page);
	/* We are the only consumer: cache our position; the kernel only
	 * reads it. */
	r->cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	r->mapped = true;
	return 0;
}

int mapped_ring_unmap(struct mapped_ring *r)
{
	if (!r->mapped)
		return 0;
	r->mapped = false;
	return restore_anonymous(r->base, r->length);
}

uint64_t mapped_ring_pending(const struct mapped_ring *r)
{
	/* Acquire: pairs with the kernel's smp_store_release of producer_pos
	 * in __bpf_ringbuf_reserve, so every header up to it is written. */
	return __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE) - r->cons;
}

long long mapped_ring_poll(struct mapped_ring *r, unsigned sinks,
			   mapped_ring_batch_fn fn, void *ctx, FILE *record)
{
	struct mapped_ring_totals *t = &r->totals;
	const struct wasm_walk_stats *s = wasm_parser_stats(r->parser);
	uint64_t prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
	uint64_t start = r->cons, cons = r->cons;
	uint32_t mask = r->size - 1;

	t->polls++;
	while (cons < prod) {
		uint32_t at = r->data_at + (uint32_t)(cons & mask);
		/* [at, at + span) is contiguous even when it runs past the end
		 * of the first data mapping (the data pages are mapped twice). */
		uint32_t span = (uint32_t)(prod - cons);
		uint32_t n;
		bool tables_full;

		if (WEAKLY_ORDERED) {
			if (wasm_parser_committed_at(r->parser, at, span, &span))
				return -EFAULT;
			/* Header loads before the fence, payload loads after. */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (span == 0) {
				t->busy_stops++;
				break;
			}
		}
		if (wasm_parser_walk_at(r->parser, at, span, sinks, &n))
			return -EFAULT;
		t->walks++;
		t->events += s->events;
		t->discarded += s->discarded;
		t->malformed += s->malformed;
		t->short_records += s->short_records;
		t->long_records += s->long_records;
		t->out_of_order += s->out_of_order;
		t->no_frames += s->no_frames;
		t->user.resolved += s->user_resolved;
		t->user.truncated += s->user_truncated;
		t->user.empty += s->user_empty;
		t->user.fault += s->user_fault;
		t->user.frames += s->user_frames;
		t->kernel.resolved += s->kernel_resolved;
		t->kernel.truncated += s->kernel_truncated;
		t->kernel.empty += s->kernel_empty;
		t->kernel.fault += s->kernel_fault;
		t->kernel.frames += s->kernel_frames;
		if (fn)
			fn(ctx, r->parser);
		tables_full = s->stop == STOP_TABLES_FULL;
		if (tables_full) {
			/* Make room; the walk goes on from the record that did
			 * not fit (after publishing what was consumed). */
			t->table_cuts++;
			t->aggregated += wasm_parser_aggregated_samples(r->parser);
			if (wasm_parser_cut_tables(r->parser))
				return -EFAULT;
		}
		if (n == 0 && !tables_full) {
			if (s->malformed == 0)
				t->busy_stops++;
			break;
		}
		if (n && record &&
		    fwrite(wasm_parser_memory(r->parser) + at, 1, n, record) != n)
			return -EIO;
		cons += n;
		/* Release: our reads of the span come before the kernel may
		 * reuse it. Published per span, as the Deno reader does. */
		if (n)
			__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
		r->cons = cons;
		if (tables_full)
			continue;
		if (s->stop == STOP_PAST_END)
			break; /* corrupt header: counted as malformed */
		if (s->stop == STOP_BUSY) {
			t->busy_stops++;
			break;
		}
	}
	t->bytes += cons - start;
	return (long long)(cons - start);
}
