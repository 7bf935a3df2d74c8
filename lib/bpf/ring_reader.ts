/**
 * Reading a mapped BPF ring buffer: hand committed record spans to the WASM
 * walker, advance the consumer position once per span.
 *
 * No libbpf callback per event: one `poll()` reads the producer position
 * once, lets the WASM parser walk every committed record up to it (in place,
 * in the kernel's pages) and publishes the consumer position once.
 *
 * @example
 * ```ts ignore
 * const reader = new RingReader(parser, mapping);
 * reader.poll();
 * console.log(reader.totals.events);
 * ```
 * @module
 */
import type { ProfileParser } from "../parser/wasm_parser.ts";
import type { RingMapping } from "./ring_mapping.ts";

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

/** Running totals of everything a reader consumed. */
export interface ReaderTotals {
  /** Events decoded. */
  events: number;
  /** Records the producer discarded. */
  discarded: number;
  /** Malformed records (the BPF program never writes one: a bug if > 0). */
  malformed: number;
  /** Events out of per-CPU timestamp order. */
  outOfOrder: number;
  /** Bytes consumed. */
  bytes: number;
  /** Walks (spans handed to the parser). */
  walks: number;
  /** Times a poll stopped at a record still being written. */
  busyStops: number;
}

/** What to do with the decoded events. */
export interface ReaderOptions {
  /** Keep recent events in the parser's overwrite ring (default true). */
  toRing?: boolean;
  /**
   * Called after each walk with the batch of decoded events in the parser's
   * batch area (`parser.batchLength`, `batchPid(i)` ...). Without it, events
   * are only counted (and kept in the ring).
   */
  onBatch?: (parser: ProfileParser) => void;
}

/** Consumes one mapped ring buffer through one parser. */
export class RingReader {
  readonly #parser: ProfileParser;
  readonly #ring: RingMapping;
  readonly #toRing: boolean;
  readonly #onBatch?: (parser: ProfileParser) => void;
  readonly #mask: number;
  /** Running totals. */
  readonly totals: ReaderTotals = {
    events: 0,
    discarded: 0,
    malformed: 0,
    outOfOrder: 0,
    bytes: 0,
    walks: 0,
    busyStops: 0,
  };

  constructor(parser: ProfileParser, ring: RingMapping, o: ReaderOptions = {}) {
    this.#parser = parser;
    this.#ring = ring;
    this.#toRing = o.toRing ?? true;
    this.#onBatch = o.onBatch;
    this.#mask = ring.size - 1;
  }

  /** Bytes committed or reserved but not yet consumed. */
  pending(): number {
    return this.#ring.producerPosition() - this.#ring.consumerPosition;
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
      const n = p.walkAt(at, span, this.#toRing, toBatch);
      t.walks++;
      t.events += p.lastEvents;
      t.discarded += p.lastDiscarded;
      t.malformed += p.lastMalformed;
      t.outOfOrder += p.lastOutOfOrder;
      if (toBatch) this.#onBatch!(p);
      if (n === 0) {
        if (p.lastMalformed === 0) t.busyStops++;
        break;
      }
      cons += n;
      // Publish per span: the kernel can reuse the space right away.
      ring.advance(cons);
      const stop = p.lastStop;
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
