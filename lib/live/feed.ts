/**
 * What the live server sends, made from what the profiler consumes: each
 * consumed span of ring records is cut into chunks of whole records (at
 * most {@link DEFAULT_CHUNK_BYTES}) and offered to the pages as it comes,
 * copied out of the ring, with the number of events in it. The feed walks
 * every chunk once more with its own instance of the parser (the same
 * module the page runs) to count those events and to learn the distinct
 * stacks; about every second ({@link LiveFeed.tick}) it names the (pid,
 * address) pairs not named before, with the run's own symbolizer (which
 * observed every process at first sight), sends the names of new
 * processes, and sends every page the counters it reconciles against.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { referenceEncodeSamples } from "../parser/reference_decoder.ts";
 * import { LiveFeed } from "./feed.ts";
 * const offered: number[] = [];
 * const feed = await LiveFeed.create({ offer: (_m, _seq, events) => offered.push(events),
 *   broadcast: () => {}, sendCounters: () => {} });
 * const event = { timestampNs: 1n, pid: 7, tid: 7, userStackId: 0, kernelStackId: 0, cpu: 0, flags: 0 };
 * feed.onSpan(referenceEncodeSamples([{ event, user: [0x401000n], kernel: [] }, { event, user: [0x401000n], kernel: [] }]));
 * assert.deepEqual(offered, [2]);
 * assert.equal(feed.totals.events, 2);
 * ```
 * @module
 */
import { ProfileParser } from "../parser/wasm_parser.ts";
import type { LiveRun, ProfileRun } from "../profile/run_profile.ts";
import { encodeChunk } from "./page/protocol.js";
import { symbolKey } from "./page/live_profile.js";

/** Largest chunk of records in one message (bytes). */
export const DEFAULT_CHUNK_BYTES = 256 << 10;
/** Names sent at most over a run (the set of sent names is bounded). */
export const MAX_NAMES = 1_000_000;

/** Where the feed sends (a LiveServer, or a test's fake). */
export interface FeedSink {
  offer(message: Uint8Array, seq: number, events: number): void;
  broadcast(msg: object, replay?: boolean): void;
  sendCounters(common: Record<string, unknown>): void;
}

/** What the feed forwarded. */
export interface FeedTotals {
  /** Spans handed over by the profiler. */
  spans: number;
  /** Chunks offered, events and bytes in them. */
  chunks: number;
  events: number;
  bytes: number;
  /** Bytes of a span that were not whole records (never expected). */
  undecoded: number;
  /** Names and process names sent. */
  names: number;
  processes: number;
  /** Names not sent because {@link MAX_NAMES} were. */
  namesCapped: number;
}

/** Cuts, counts and forwards consumed record spans; names what they hold. */
export class LiveFeed {
  readonly #sink: FeedSink;
  readonly #parser: ProfileParser;
  readonly #chunkBytes: number;
  readonly #mem: Uint8Array;
  readonly #at: number;
  #seq = 0;
  #stacksSeen = 0;
  #pending: { pid: number; frames: BigUint64Array }[] = [];
  readonly #named = new Set<string>();
  readonly #pids = new Set<number>();
  readonly #procsSent = new Set<number>();
  #live: LiveRun | undefined;
  readonly #t0 = performance.now();
  /** What was forwarded so far. */
  readonly totals: FeedTotals = {
    spans: 0,
    chunks: 0,
    events: 0,
    bytes: 0,
    undecoded: 0,
    names: 0,
    processes: 0,
    namesCapped: 0,
  };

  private constructor(sink: FeedSink, parser: ProfileParser, chunk: number) {
    this.#sink = sink;
    this.#parser = parser;
    this.#chunkBytes = chunk;
    this.#mem = new Uint8Array(parser.memory.buffer);
    this.#at = parser.mapOffset;
  }

  /** A feed with its own parser instance. */
  static async create(
    sink: FeedSink,
    o: { chunkBytes?: number; wasm?: WebAssembly.Module } = {},
  ): Promise<LiveFeed> {
    const chunk = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    const parser = await ProfileParser.create({
      ringCapacity: 1,
      batchCapacity: 0,
      inputBytes: 0,
      mapBytes: chunk,
      mapAlign: 64,
      wasm: o.wasm,
    });
    return new LiveFeed(sink, parser, chunk);
  }

  /** The run's symbolizer, names and session, once sampling started. */
  attach(live: LiveRun): void {
    this.#live = live;
  }

  /**
   * Forwards one consumed span (a view into the ring: it is copied here).
   * For `runProfile`'s `onSpan`.
   */
  readonly onSpan = (records: Uint8Array): void => {
    const p = this.#parser;
    this.totals.spans++;
    let off = 0;
    while (off < records.byteLength) {
      const len = Math.min(records.byteLength - off, this.#chunkBytes);
      this.#mem.set(records.subarray(off, off + len), this.#at);
      // Whole records only: a chunk never ends inside one.
      const whole = p.committedAt(this.#at, len);
      if (whole === 0) break;
      let events = 0;
      let at = this.#at;
      let left = whole;
      while (left > 0) {
        const n = p.walkAt(at, left, false, false, true);
        events += p.lastEvents;
        this.#collect();
        at += n;
        left -= n;
        if (p.lastStop === "tables-full") {
          this.#cut();
          continue;
        }
        if (n === 0 || p.lastStop !== "end") break;
      }
      this.totals.undecoded += left;
      const chunk = records.subarray(off, off + whole);
      const seq = this.#seq++;
      this.#sink.offer(encodeChunk(seq, events, chunk), seq, events);
      this.totals.chunks++;
      this.totals.events += events;
      this.totals.bytes += whole;
      off += whole;
    }
    this.totals.undecoded += records.byteLength - off;
  };

  /** Notes the stacks interned since the last look (not yet named ones). */
  #collect(): void {
    const p = this.#parser;
    const n = p.stackCount;
    for (let id = this.#stacksSeen; id < n; id++) {
      const pid = p.stackPid(id);
      const frames = p.stackFrames(id);
      let known = true;
      for (let i = 0; i < frames.length && known; i++) {
        known = this.#named.has(
          symbolKey(pid, frames[i].toString(16), i === 0),
        );
      }
      if (!known) this.#pending.push({ pid, frames: frames.slice() });
    }
    this.#stacksSeen = n;
  }

  /** Reads the processes out of the tables, then empties them. */
  #cut(): void {
    const p = this.#parser;
    for (const a of p.readAggregates()) this.#pids.add(a.pid);
    p.cutTables();
    this.#stacksSeen = 0;
  }

  /**
   * About once a second: names for the new (pid, address) pairs, names of
   * new processes, and every page's counters.
   */
  tick(): void {
    this.#collect();
    this.#cut();
    const live = this.#live;
    if (live) {
      const entries: [string, string, string, string][] = [];
      for (const s of this.#pending) {
        const fs = s.pid < 0
          ? live.symbolizer.kernel(s.frames)
          : live.symbolizer.user(s.pid, s.frames);
        fs.forEach((f, i) => {
          const key = symbolKey(s.pid, s.frames[i].toString(16), i === 0);
          if (this.#named.has(key)) return;
          if (this.#named.size >= MAX_NAMES) {
            this.totals.namesCapped++;
            return;
          }
          this.#named.add(key);
          entries.push([key, f.name, f.module, f.kind]);
        });
      }
      this.#pending = [];
      if (entries.length > 0) {
        this.#sink.broadcast({ t: "symbols", entries }, true);
        this.totals.names += entries.length;
      }
      const procs: [number, string][] = [];
      for (const pid of this.#pids) {
        if (this.#procsSent.has(pid)) continue;
        this.#procsSent.add(pid);
        procs.push([pid, live.names.comm(pid)]);
      }
      if (procs.length > 0) {
        this.#sink.broadcast({ t: "processes", entries: procs }, true);
        this.totals.processes += procs.length;
      }
    }
    this.#sink.sendCounters(this.#common());
  }

  /** The server's own totals, sent to every page with its counts. */
  #common(): Record<string, unknown> {
    const s = this.#live?.session;
    const k = s && !s.stopped ? s.counters() : undefined;
    return {
      elapsedMs: Math.round(performance.now() - this.#t0),
      consumed: s ? s.reader.totals.events : this.totals.events,
      forwarded: this.totals.events,
      forwardedChunks: this.totals.chunks,
      undecodedBytes: this.totals.undecoded,
      produced: k ? k.eventsSubmitted + k.reserveFailed : undefined,
      dropped: k ? k.reserveFailed : undefined,
    };
  }

  /**
   * The end of the run: the last names and counters, then `end` with the
   * run's reconciliation (which every page that joins later also gets).
   */
  finish(run: ProfileRun): void {
    this.tick();
    const r = run.report;
    this.#sink.sendCounters({
      ...this.#common(),
      consumed: r.consumed.events,
      produced: r.reconciliation.produced,
      dropped: r.reconciliation.dropped,
    });
    this.#sink.broadcast({
      t: "end",
      consumed: r.consumed.events,
      forwarded: this.totals.events,
      produced: r.reconciliation.produced,
      dropped: r.reconciliation.dropped,
      ok: r.reconciliation.ok,
      line: r.reconciliation.line,
      stackLine: r.reconciliation.stackLine,
      interrupted: run.interrupted,
      durationMs: Math.round(r.durationMs),
    }, true);
  }
}
