/**
 * A profiling session on the real kernel: load the BPF object, map its ring
 * into the parser's memory, attach one sampling event per CPU, poll, and on
 * stop detach everything, drain the ring and reconcile exactly.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root and the BPF object (tests/kernel/session_test.ts runs sessions).
 * const s = await ProfilerSession.start({ frequency: 99 });
 * await new Promise((r) => setTimeout(r, 1000));
 * const report = await s.stop();
 * console.log(report.reconciliation.line);
 * ```
 * @module
 */
import { libbpf } from "../bpf/libbpf.ts";
import { lastErrno, libc, SysError } from "../bpf/libc.ts";
import { onlineCpus } from "../common/cpus.ts";
import { sleep } from "../common/signals.ts";
import { openSamplingEvent, type SamplingOptions } from "../bpf/perf_event.ts";
import {
  type LoadOptions,
  type ProfilerCounters,
  ProfilerObject,
} from "../bpf/profiler_object.ts";
import { mappingBytes, RingMapping } from "../bpf/ring_mapping.ts";
import { type ReaderTotals, RingReader } from "../bpf/ring_reader.ts";
import { ProfileParser, type TableOptions } from "../parser/wasm_parser.ts";
import { reconcile, type Reconciliation } from "./reconcile.ts";
import { StackProfile } from "./stack_profile.ts";
import { maxPollInterval, nextPollDelay } from "./poll_policy.ts";

/** Events one walk hands on at most (the parser's batch area). */
export const SESSION_BATCH_EVENTS = 8192;
/** Recent events the session's overwrite ring keeps by default. */
export const DEFAULT_RECENT_EVENTS = 16384;

/** Everything that shapes a session. */
export interface SessionOptions extends LoadOptions, SamplingOptions {
  /** CPUs to sample (default: every online CPU). */
  cpus?: number[];
  /** Longest wait between polls in ms (default: see maxPollInterval); the reader polls sooner as the ring fills faster. */
  pollIntervalMs?: number;
  /** Recent events kept in the parser's overwrite ring (default 16384). */
  recentEvents?: number;
  /** Called with each decoded batch (see RingReader). */
  onBatch?: (parser: ProfileParser) => void;
  /** Called after each walk, without a batch (see RingReader). */
  onWalk?: (parser: ProfileParser) => void;
  /**
   * Aggregate samples by (pid, tid, cpu, user stack, kernel stack) into
   * `session.profile` (default true for the profiler source).
   */
  aggregate?: boolean;
  /** Called with the raw record bytes of every consumed span (see RingReader). */
  onSpan?: (records: Uint8Array) => void;
  /** Keep a per-sample timeline in the profile (default false). */
  timeline?: boolean;
  /**
   * Sizes of the parser's stack and aggregation tables, or `false` for
   * none (then `aggregate` must be false: stacks are classified and
   * counted, not kept).
   */
  tables?: TableOptions | false;
  /** A parser module to reuse (saves compiling it per session). */
  wasm?: WebAssembly.Module;
}

/** What a session did, reconciled. */
export interface SessionReport {
  /** The aggregated samples and stacks (null when not aggregating). */
  profile: StackProfile | null;
  cpus: number[];
  durationMs: number;
  counters: ProfilerCounters;
  consumed: ReaderTotals;
  reconciliation: Reconciliation;
}

/** A running session. */
export class ProfilerSession {
  readonly parser: ProfileParser;
  readonly object: ProfilerObject;
  readonly reader: RingReader;
  #profile: StackProfile | null;
  readonly #timelineOn: boolean;
  readonly cpus: number[];
  readonly startedAt: number;
  readonly #mapping: RingMapping;
  #links: Deno.PointerObject[];
  #loop: Promise<void> | null = null;
  #stopping = false;
  #wake: (() => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: () => void = () => {};
  #blocking = false;
  #lastPoll = performance.now();
  #delay = 1;
  #report: SessionReport | null = null;
  readonly #maxInterval: number;
  #paused = false;

  /** Loads, maps, attaches and starts polling. Cleans up fully on failure. */
  static async start(o: SessionOptions = {}): Promise<ProfilerSession> {
    const cpus = o.cpus ?? onlineCpus();
    if (o.aggregate && o.tables === undefined && o.source === "stress") {
      throw new RangeError("the stress source carries no stacks to aggregate");
    }
    if (o.aggregate && o.tables === false) {
      throw new RangeError("aggregating needs the parser's tables");
    }
    const obj = ProfilerObject.open(o);
    let parser: ProfileParser | undefined;
    let mapping: RingMapping | undefined;
    const links: Deno.PointerObject[] = [];
    try {
      const page = libc().pageSize;
      const parserOptions = {
        ringCapacity: o.recentEvents ?? DEFAULT_RECENT_EVENTS,
        batchCapacity: SESSION_BATCH_EVENTS,
        inputBytes: 4096,
        mapBytes: mappingBytes(obj.ringBytes, page),
        mapAlign: Math.max(page, 65536),
        tables: o.tables,
      };
      parser = o.wasm
        ? ProfileParser.fromModule(o.wasm, parserOptions)
        : await ProfileParser.create(parserOptions);
      mapping = RingMapping.map(parser, obj.ringFd, obj.ringBytes);
      const bpf = libbpf().symbols;
      if (o.source === "stress") {
        // raw_tp/sys_enter: libbpf attaches it from its section name.
        const link = bpf.bpf_program__attach(obj.program);
        if (link === null) {
          throw new SysError(
            "attaching the stress program to raw_tp/sys_enter",
            lastErrno(),
          );
        }
        links.push(link);
      }
      for (const cpu of o.source === "stress" ? [] : cpus) {
        const fd = openSamplingEvent(cpu, o);
        const link = bpf.bpf_program__attach_perf_event(obj.program, fd);
        if (link === null) {
          const errno = lastErrno();
          libc().symbols.close(fd);
          throw new SysError(`attaching the BPF program to CPU ${cpu}`, errno);
        }
        // The link owns the perf event fd from here: destroying it closes it.
        links.push(link);
      }
      return new ProfilerSession(parser, obj, mapping, links, cpus, o);
    } catch (err) {
      for (const l of links) libbpf().symbols.bpf_link__destroy(l);
      mapping?.unmap();
      obj.close();
      throw err;
    }
  }

  private constructor(
    parser: ProfileParser,
    obj: ProfilerObject,
    mapping: RingMapping,
    links: Deno.PointerObject[],
    cpus: number[],
    o: SessionOptions,
  ) {
    this.parser = parser;
    this.object = obj;
    this.#mapping = mapping;
    this.#links = links;
    this.cpus = cpus;
    this.#maxInterval = o.pollIntervalMs ??
      maxPollInterval(o, cpus.length, mapping.size);
    const aggregate = (o.aggregate ?? o.source !== "stress") &&
      parser.hasTables;
    this.#timelineOn = o.timeline ?? false;
    this.#profile = aggregate
      ? new StackProfile({ timeline: this.#timelineOn })
      : null;
    const user = o.onBatch;
    const onBatch = this.#timelineOn && aggregate
      ? (p: ProfileParser) => {
        this.#profile!.recordBatch(p);
        user?.(p);
      }
      : user;
    this.reader = new RingReader(parser, mapping, {
      toRing: true,
      toAggregate: aggregate,
      onBatch,
      onWalk: o.onWalk,
      onSpan: o.onSpan,
      // The tables are full: move what they hold into the profile, then
      // make room; the reader walks on from the record that did not fit.
      onTablesFull: aggregate
        ? (p) => {
          this.#profile!.absorb(p);
          p.cutTables();
        }
        : undefined,
    });
    this.startedAt = performance.now();
    this.#loop = this.#run();
  }

  /**
   * Polls until stopped. Timer polling costs less CPU than a wake-up per
   * event (FIELD-NOTES: libbpf's per-event wake-ups cost 12-17% of a core
   * at 10 kHz on 2 CPUs), so we sleep between polls:
   * - after a poll that consumed data, until the ring should be about an
   *   eighth full at the measured rate (at once after a burst of more);
   * - after an empty poll, a little longer each time (1, 2, 4 ... ms), so a
   *   quiet ring costs few wake-ups but a burst that starts is met within
   *   the last wait, never the whole maximum;
   * - after a poll that stopped at a record still being written, 1 ms;
   * never longer than the maximum interval (see maxPollInterval).
   */
  #run(): Promise<void> {
    // A timer-driven tick rather than an async loop: no Promise and no
    // closure per poll, so a long session makes (almost) no garbage.
    return new Promise<void>((resolve) => {
      this.#tick = () => {
        this.#timer = undefined;
        if (this.#stopping) return resolve();
        if (this.#blocking) return; // consumeFor polls meanwhile
        this.#timer = setTimeout(this.#tick, this.#step());
      };
      this.#wake = () => {
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#tick();
      };
      this.#tick();
    });
  }

  /** One poll; returns how long to wait before the next, in ms. */
  #step(): number {
    const n = this.#paused ? 0 : this.reader.poll();
    const now = performance.now();
    const elapsed = Math.max(now - this.#lastPoll, 0.001);
    this.#lastPoll = now;
    this.#delay = this.#paused ? this.#maxInterval : nextPollDelay({
      consumed: n,
      elapsedMs: elapsed,
      ringBytes: this.#mapping.size,
      pending: n > 0 ? 0 : this.reader.pending(),
      lastDelayMs: this.#delay,
      maxMs: this.#maxInterval,
    });
    return this.#delay;
  }

  /**
   * Consumes for `ms` (or until stopped or `o.signal` aborts) with the
   * calling thread asleep in the kernel between polls, by a synchronous
   * libc usleep, turning the event loop only every `o.turnEveryMs` (default
   * 250) so that signal listeners, aborts, stop() and other callbacks still
   * run then. The polls follow the same policy as the timer's.
   *
   * Why: on the machines measured here one turn of Deno's event loop costs
   * 0.3-0.6 ms of CPU (a timer wake-up; even a zero timeout right after a
   * synchronous sleep costs about as much), a usleep wake-up from the same
   * thread 0.05-0.1 ms. At 10 kHz a session polls about 10 times a second.
   * The price: whatever else waits on the event loop (a server, a live
   * view, a status line) waits up to `turnEveryMs`; use the timer (just
   * await something else) when that matters.
   *
   * @example
   * ```ts ignore
   * // ignored: needs root and the BPF object (tests/kernel/session_test.ts runs it).
   * const s = await ProfilerSession.start({ frequency: 999 });
   * await s.consumeFor(1000);
   * console.log((await s.stop()).reconciliation.line);
   * ```
   */
  async consumeFor(
    ms: number,
    o: { signal?: AbortSignal; turnEveryMs?: number } = {},
  ): Promise<void> {
    if (this.#stopping || this.#blocking) {
      throw new Error("consumeFor: the session is stopped or already blocking");
    }
    const turnEvery = o.turnEveryMs ?? 250;
    const usleep = libc().symbols.usleep;
    this.#blocking = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      const end = performance.now() + ms;
      let nextTurn = performance.now() + turnEvery;
      while (!this.#stopping && !o.signal?.aborted) {
        const delay = this.#step();
        let now = performance.now();
        if (now >= end) break;
        const wait = Math.min(delay, end - now, nextTurn - now);
        // usleep returns early (EINTR) when a signal lands on this thread:
        // the loop just polls again.
        if (wait > 0) usleep(Math.ceil(wait * 1000));
        now = performance.now();
        if (now >= nextTurn) {
          await sleep(0);
          nextTurn = performance.now() + turnEvery;
        }
      }
    } finally {
      this.#blocking = false;
      if (!this.#stopping && this.#timer === undefined) {
        this.#timer = setTimeout(this.#tick, this.#delay);
      }
    }
  }

  /**
   * Stops consuming (the kernel keeps producing; when the ring fills, it
   * counts drops). For tests of a stalled consumer.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Consumes again after pause(). */
  resume(): void {
    this.#paused = false;
    this.#wake?.();
  }

  /** The aggregated samples so far (null when not aggregating). */
  get profile(): StackProfile | null {
    return this.#profile;
  }

  /**
   * Ends the current interval: everything consumed so far goes into the
   * returned profile, and a new, empty one collects from here on. Polls
   * first, so what the ring holds now belongs to this interval. Every
   * consumed sample is in exactly one interval's profile.
   */
  takeProfile(): StackProfile {
    const p = this.#profile;
    if (p === null) throw new Error("this session does not aggregate");
    if (!this.#stopping) this.reader.poll();
    p.absorb(this.parser);
    this.parser.cutTables();
    this.#profile = new StackProfile({ timeline: this.#timelineOn });
    return p;
  }

  /** Exact counters now (the session keeps running). */
  counters(): ProfilerCounters {
    return this.object.readCounters();
  }

  /** Whether stop() has been called. */
  get stopped(): boolean {
    return this.#stopping;
  }

  /**
   * Detaches every event, drains the ring, reconciles, and releases all.
   * Safe to call more than once: later calls return the same report.
   */
  async stop(): Promise<SessionReport> {
    if (this.#report) return this.#report;
    if (this.#stopping) {
      await this.#loop;
      return this.#report!;
    }
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    const bpf = libbpf().symbols;
    try {
      // Detach first: after this no new samples are produced.
      for (const l of this.#links) bpf.bpf_link__destroy(l);
      this.#links = [];
      // Drain. A program that was running while we detached may still hold
      // a reservation (BUSY) for a moment: retry briefly until all is in.
      const deadline = performance.now() + 2000;
      while (this.reader.pending() > 0 && performance.now() < deadline) {
        if (this.reader.poll() === 0) {
          await sleep(1);
        }
      }
      const counters = this.object.readCounters();
      const consumed = structuredClone(this.reader.totals);
      if (this.#profile) {
        this.#profile.absorb(this.parser);
        this.parser.cutTables();
      }
      this.#report = {
        profile: this.#profile,
        cpus: this.cpus,
        durationMs: performance.now() - this.startedAt,
        counters,
        consumed,
        reconciliation: reconcile(counters, consumed),
      };
      return this.#report;
    } finally {
      this.#mapping.unmap();
      this.object.close();
    }
  }
}
