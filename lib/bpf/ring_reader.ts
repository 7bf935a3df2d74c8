/**
 * Reading a BPF ring buffer: hand committed record spans to the WASM
 * walker, advance the consumer position once per span.
 *
 * No libbpf callback per event: one `poll()` reads the producer position
 * once, lets the WASM parser walk every committed record up to it (in place,
 * in the kernel's pages) and publishes the consumer position once.
 *
 * The reader needs only a {@link RingSource}: positions and where the data
 * is in the parser's memory. `RingMapping` is the real one (the kernel's
 * pages mapped into WASM memory); `ring_reader_test.ts` feeds the same
 * reader records laid out in plain memory, no kernel needed.
 *
 * @example
 * ```ts ignore
 * // ignored: a live ring needs root; ring_reader_test.ts runs it on plain memory.
 * const reader = new RingReader(parser, mapping);
 * reader.poll();
 * console.log(reader.totals.events);
 * ```
 * @module
 */
import { MODULE_ABI as M } from "../parser/layout.ts";
import type { ProfileParser } from "../parser/wasm_parser.ts";
import { type ConsumedCounts, emptyConsumed } from "../profiler/reconcile.ts";

/**
 * x86 keeps loads in program order (TSO), so the parser reading a header
 * and then its payload is enough there. arm64 may satisfy a later load
 * before an earlier one, so a payload could be read before the header that
 * says it is committed: the kernel's consumer reads the header with
 * smp_load_acquire() for this reason (kernel/bpf/ringbuf.c). The parser
 * module has no atomics (so that wasm2c and every runtime can embed it), so
 * there we split the walk: headers, a full fence, then payloads.
 */
const WEAKLY_ORDERED = Deno.build.arch !== "x86_64";
const fenceCell = new Int32Array(1);

/**
 * A full fence for plain loads on both sides. Atomics are sequentially
 * consistent: on arm64 V8 emits a store-release (stlr) for Atomics.store and
 * a load-acquire (ldar) for Atomics.load. Earlier loads cannot pass the
 * stlr, later loads cannot pass the ldar, and ARMv8's RCsc rule keeps an
 * ldar after an earlier stlr; so every header load happens before every
 * payload load.
 */
function fullFence(): void {
  Atomics.store(fenceCell, 0, 1);
  Atomics.load(fenceCell, 0);
}

/**
 * What the reader needs of a ring: its size, where its data area sits in
 * the parser's memory (mapped twice, so a span never wraps), and the two
 * positions. Positions are byte counts since the ring was made.
 */
export interface RingSource {
  /** Data area size in bytes (a power of two). */
  readonly size: number;
  /** Byte offset of the data area in the parser's memory. */
  readonly dataOffset: number;
  /** The consumer position last published. */
  readonly consumerPosition: number;
  /** The producer position now (an acquire load for a live ring). */
  producerPosition(): number;
  /** Publishes a new consumer position (a release store for a live ring). */
  advance(to: number): void;
}

/** Running totals of everything a reader consumed. */
export interface ReaderTotals extends ConsumedCounts {
  /** Events out of per-CPU timestamp order. */
  outOfOrder: number;
  /** Bytes consumed. */
  bytes: number;
  /** Walks (spans handed to the parser). */
  walks: number;
  /** Times a poll stopped at a record still being written. */
  busyStops: number;
  /** Times the stack or aggregation tables were full and were cut. */
  tableCuts: number;
}

/** What to do with the decoded events. */
export interface ReaderOptions {
  /** Keep recent events in the parser's overwrite ring (default true). */
  toRing?: boolean;
  /** Aggregate every event in the parser's table (needs tables). */
  toAggregate?: boolean;
  /**
   * Called after each walk with the batch of decoded events in the parser's
   * batch area (`parser.batchLength`, `batchPid(i)` ...). Without it, events
   * are only counted (and kept in the ring). It must not walk the parser.
   */
  onBatch?: (parser: ProfileParser) => void;
  /**
   * Called after each walk, before the tables are cut, without asking for
   * the batch: the aggregation entries the walk added (`aggregateCount`
   * before and after, see `ProcessNames.noteNewKeys`) say which processes
   * and threads it met, one entry per new key rather than one per event.
   * It must not walk the parser.
   */
  onWalk?: (parser: ProfileParser) => void;
  /**
   * Called when a walk stopped because the stack or aggregation tables were
   * full: read them out, then `parser.cutTables()`. The reader then walks
   * on from the record that did not fit. Without it the reader cuts the
   * tables itself (and what they held is gone: only for tests).
   */
  onTablesFull?: (parser: ProfileParser) => void;
  /**
   * Called with the raw bytes of every span the walker consumed, before the
   * consumer position moves past them (a view into the ring: copy what you
   * keep). For forwarding the records themselves, e.g. to a live view
   * whose browser walks them with the same parser.
   */
  onSpan?: (records: Uint8Array) => void;
}

/** Consumes one ring through one parser. */
export class RingReader {
  readonly #parser: ProfileParser;
  readonly #ring: RingSource;
  readonly #toRing: boolean;
  readonly #toAggregate: boolean;
  readonly #onBatch?: (parser: ProfileParser) => void;
  readonly #onWalk?: (parser: ProfileParser) => void;
  readonly #onTablesFull?: (parser: ProfileParser) => void;
  readonly #onSpan?: (records: Uint8Array) => void;
  readonly #mask: number;
  /** Running totals. */
  readonly totals: ReaderTotals = {
    ...emptyConsumed(),
    outOfOrder: 0,
    bytes: 0,
    walks: 0,
    busyStops: 0,
    tableCuts: 0,
  };

  constructor(parser: ProfileParser, ring: RingSource, o: ReaderOptions = {}) {
    this.#parser = parser;
    this.#ring = ring;
    this.#toRing = o.toRing ?? true;
    this.#toAggregate = o.toAggregate ?? false;
    this.#onBatch = o.onBatch;
    this.#onWalk = o.onWalk;
    this.#onTablesFull = o.onTablesFull;
    this.#onSpan = o.onSpan;
    this.#mask = ring.size - 1;
  }

  /** Bytes committed or reserved but not yet consumed. */
  pending(): number {
    return this.#ring.producerPosition() - this.#ring.consumerPosition;
  }

  /** Adds the last walk's statistics to the totals (no allocation). */
  #add(): void {
    const s = this.#parser.lastStatsWords;
    const t = this.totals;
    t.walks++;
    t.events += s[M.ST_EVENTS];
    t.discarded += s[M.ST_DISCARDED];
    t.malformed += s[M.ST_MALFORMED];
    t.outOfOrder += s[M.ST_OUT_OF_ORDER];
    t.noFrames += s[M.ST_NO_FRAMES];
    const u = t.userStacks;
    u.resolved += s[M.ST_USER_RESOLVED];
    u.truncated += s[M.ST_USER_TRUNCATED];
    u.empty += s[M.ST_USER_EMPTY];
    u.fault += s[M.ST_USER_FAULT];
    const k = t.kernelStacks;
    k.resolved += s[M.ST_KERNEL_RESOLVED];
    k.truncated += s[M.ST_KERNEL_TRUNCATED];
    k.empty += s[M.ST_KERNEL_EMPTY];
    k.fault += s[M.ST_KERNEL_FAULT];
    t.userFrames += s[M.ST_USER_FRAMES];
    t.kernelFrames += s[M.ST_KERNEL_FRAMES];
  }

  /**
   * Consumes every record committed now. Returns the bytes consumed; 0 when
   * the ring is empty or its oldest record is still being written (BUSY).
   */
  poll(): number {
    const ring = this.#ring;
    const p = this.#parser;
    const t = this.totals;
    const prod = ring.producerPosition();
    let cons = ring.consumerPosition;
    const start = cons;
    const toBatch = this.#onBatch !== undefined;
    while (cons < prod) {
      // The data area is mapped twice, so [cons & mask, + (prod - cons)) is
      // contiguous even when it runs past the end of the first mapping.
      const at = ring.dataOffset + (cons & this.#mask);
      let span = prod - cons;
      if (WEAKLY_ORDERED) {
        // Read every header first, then fence, then the payloads: see
        // fullFence() for why this is needed off x86 and why it works.
        span = p.committedAt(at, span);
        fullFence();
        if (span === 0) {
          t.busyStops++;
          break;
        }
      }
      const n = p.walkAt(at, span, this.#toRing, toBatch, this.#toAggregate);
      this.#add();
      if (toBatch || this.#onWalk) {
        p.holdBatch(true);
        try {
          if (toBatch) this.#onBatch!(p);
          this.#onWalk?.(p);
        } finally {
          p.holdBatch(false);
        }
      }
      const stop = p.lastStop;
      if (stop === "tables-full") {
        // Make room and walk on from the record that did not fit.
        t.tableCuts++;
        if (this.#onTablesFull) this.#onTablesFull(p);
        else p.cutTables();
      }
      if (n > 0) {
        if (this.#onSpan) {
          this.#onSpan(new Uint8Array(p.memory.buffer, at, n));
        }
        cons += n;
        // Publish per span: the kernel can reuse the space right away.
        ring.advance(cons);
      }
      if (stop === "tables-full") continue;
      if (n === 0) {
        if (p.lastMalformed === 0) t.busyStops++;
        break;
      }
      if (stop === "past-end") break; // corrupt header: counted as malformed
      if (stop === "busy") {
        t.busyStops++;
        break;
      }
    }
    t.bytes += cons - start;
    return cons - start;
  }
}
