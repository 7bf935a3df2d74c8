/**
 * `streamprof agent`: continuous profiling. Samples every CPU at a low
 * rate, cuts a profile at every interval boundary of the wall clock,
 * resolves it to function names, encodes it as pprof and ships it to a
 * Pyroscope server (and/or writes it to a folder), with nothing lost
 * between the kernel and the server: every sample consumed is in exactly
 * one interval's profile, every interval is delivered at least once or
 * counted as dropped or rejected, and each carries its own accounting.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { nextBoundary } from "./agent.ts";
 * // 10 s intervals aligned to the wall clock.
 * assert.equal(nextBoundary(1_000_003_500, 10_000), 1_000_010_000);
 * assert.equal(nextBoundary(1_000_010_000, 10_000), 1_000_020_000);
 * ```
 * @module
 */
import { describeEnvironment } from "../common/environment.ts";
import { writeFileAtomic } from "../common/output_file.ts";
import { fullGc, residentBreakdown } from "../common/memory.ts";
import { sleep } from "../common/signals.ts";
import { ProfilerSession } from "../profiler/session.ts";
import type { ProfilerCounters } from "../bpf/profiler_object.ts";
import { Symbolizer } from "../symbols/mod.ts";
import type { ResolvedProfile } from "../profile/model.ts";
import { ProcessNames } from "../profile/process_names.ts";
import { resolveProfile } from "../profile/resolve.ts";
import {
  type Confirm,
  Deliverer,
  noDeliveries,
  type Push,
  type RetryPolicy,
} from "./delivery.ts";
import {
  type MetricFamily,
  type MetricsServer,
  serveMetrics,
} from "./metrics.ts";
import { type IntervalMeta, Spool, type SpoolOptions } from "./spool.ts";
import { encodeForPush, splitByService } from "./encode.ts";

/** Encodes an interval's profile (gzipped pprof), with comment lines. */
export type Encode = (
  profile: ResolvedProfile,
  comments: string[],
) => Promise<Uint8Array>;

/** What the agent does. */
export interface AgentOptions {
  /** Samples per second per CPU. */
  frequency: number;
  /** Interval length, ms (profiles are cut at multiples of it). */
  intervalMs: number;
  /** Pyroscope base URL; none: no push. */
  pyroscope?: string;
  /** Also (or instead) write each interval's pprof here. */
  pprofDir?: string;
  /** service_name; default: one profile per process name (comm). */
  service?: string;
  /** Extra series labels. */
  labels: Record<string, string>;
  /** The hostname label (default the machine's). */
  hostname?: string;
  spool?: SpoolOptions;
  retry?: RetryPolicy;
  /** Serve /metrics on [host, port]. */
  metrics?: { hostname: string; port: number };
  /** How long the final flush may take at stop, ms (default 10 s). */
  flushMs?: number;
  /** Stops the agent (after the current interval is cut and flushed). */
  signal?: AbortSignal;
  /** The encoder (default: lib/export/pprof.ts). */
  encode?: Encode;
  /** The push (default: Pyroscope's /ingest through lib/fleet). */
  push?: Push;
  /** With a custom push: how to read an interval back (none: trust the acknowledgement). */
  confirm?: Confirm;
  /** A line per event worth logging. */
  log?: (line: string) => void;
  /** Also log every delivery attempt. */
  verbose?: boolean;
  /** Ring bytes and BPF folder, as for profile. */
  ringBytes?: number;
  bpfDir?: string;
  /** Clock, for tests (ms since the epoch). */
  now?: () => number;
}

/** One cut interval, as the agent accounted for it. */
export interface IntervalRecord {
  fromMs: number;
  untilMs: number;
  /** Samples in its profile: the events consumed in it, exactly. */
  samples: number;
  /** Events the kernel dropped in it (ring full). */
  dropped: number;
  /** Stacks lost in it, by kind and cause. */
  stacksLost: { user: number; kernel: number };
  /** Samples per service pushed (they add up to `samples`). */
  services: Record<string, number>;
  bytes: number;
}

/** Exact counters of the agent. */
export interface AgentCounters {
  intervalsCut: number;
  intervalsWritten: number;
  encodeFailures: number;
}

/** What a finished agent run did. */
export interface AgentSummary {
  intervals: IntervalRecord[];
  counters: AgentCounters;
  spool: Spool["counters"];
  delivery: Deliverer["counters"];
  /** Left in the spool at exit (on disk when there is a folder). */
  leftInSpool: number;
  reconciliation: import("../profiler/reconcile.ts").Reconciliation;
  kernel: ProfilerCounters;
}

/**
 * The read-back from Pyroscope: per series (service and labels), one
 * SelectSeries over the acknowledged intervals' span at a 1 ms step, which
 * gives the samples filed at each interval's own time (a profile is filed
 * at its time_nanos, in ms: unique per series).
 */
async function pyroscopeReadBack(url: string): Promise<Confirm> {
  const { PROFILE_CPU_SAMPLES, selectSeries } = await import(
    "../fleet/pyroscope_client.ts"
  );
  return async (metas, signal) => {
    const groups = new Map<string, IntervalMeta[]>();
    for (const m of metas) {
      const key = JSON.stringify([m.name, m.labels]);
      const g = groups.get(key);
      if (g) g.push(m);
      else groups.set(key, [m]);
    }
    const held = new Map<IntervalMeta, number>();
    for (const g of groups.values()) {
      const series = await selectSeries(url, {
        profileType: PROFILE_CPU_SAMPLES,
        selector: { service_name: g[0].name, ...g[0].labels },
        start: Math.min(...g.map((m) => m.fromMs)),
        end: Math.max(...g.map((m) => m.fromMs)) + 1,
        step: 0.001,
        signal,
      });
      const at = new Map<number, number>();
      for (const s of series) {
        for (const [ts, v] of s.points) at.set(ts, (at.get(ts) ?? 0) + v);
      }
      for (const m of g) held.set(m, at.get(m.fromMs) ?? 0);
    }
    return metas.map((m) => held.get(m) ?? 0);
  };
}

/** Interval records the summary keeps (the most recent). */
export const MAX_RECORDS = 2000;

/** A service name as a file name part. */
function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_") || "_";
}

/** The next interval boundary after `nowMs` (strictly later). */
export function nextBoundary(nowMs: number, intervalMs: number): number {
  return (Math.floor(nowMs / intervalMs) + 1) * intervalMs;
}

/** The accounting comment lines of an interval. */
export function intervalComments(
  r: IntervalRecord,
  cumulative: string,
): string[] {
  return [
    `streamprof interval ${new Date(r.fromMs).toISOString()} .. ${
      new Date(r.untilMs).toISOString()
    }`,
    `samples consumed ${r.samples}, dropped by the kernel ${r.dropped}`,
    `stacks lost: user ${r.stacksLost.user} (fault), kernel ${r.stacksLost.kernel} (fault), collisions 0, storage full 0`,
    `since start: ${cumulative}`,
  ];
}

/** Runs until `o.signal` aborts; resolves with what it did. */
export async function runAgent(o: AgentOptions): Promise<AgentSummary> {
  const log = o.log ?? (() => {});
  const now = o.now ?? Date.now;
  const env = describeEnvironment();
  const hostname = o.hostname ?? env.hostname;
  const labels: Record<string, string> = {
    hostname,
    arch: env.arch,
    kernel: env.kernel,
    ...o.labels,
  };
  const encode = o.encode ?? encodeForPush;
  const push: Push | undefined = o.push ??
    (o.pyroscope
      ? await (async () => {
        const { ingestPprof } = await import("../fleet/pyroscope_client.ts");
        const url = o.pyroscope!.replace(/\/$/, "");
        return (meta: IntervalMeta, body: Uint8Array, signal: AbortSignal) =>
          ingestPprof(url, {
            name: meta.name,
            labels: meta.labels,
            from: meta.fromMs,
            until: meta.untilMs,
            spyName: "streamprof",
            signal,
          }, body);
      })()
      : undefined);
  const spool = new Spool(o.spool);
  const recovered = await spool.load();
  if (recovered) {
    log(
      `agent: ${recovered} intervals left by an earlier run will be sent first`,
    );
  }
  // The read-back: the interval's samples on the server, for its exact
  // series and time (the default push only; a custom push brings its own).
  const confirm: Confirm | undefined = o.push
    ? o.confirm
    : o.pyroscope
    ? await pyroscopeReadBack(o.pyroscope.replace(/\/$/, ""))
    : undefined;
  const deliverer = push
    ? new Deliverer(spool, push, o.retry, confirm)
    : undefined;
  if (deliverer && o.verbose) {
    deliverer.onAttempt = (e, error) =>
      log(
        `agent: push ${e.meta.name} ${
          new Date(e.meta.fromMs).toISOString()
        } attempt ${e.attempts}: ${error ?? "delivered"}`,
      );
  }
  deliverer?.start();

  const names = new ProcessNames();
  const sym = new Symbolizer();
  names.onNewProcess = (pid) => sym.observe(pid);
  const session = await ProfilerSession.start({
    frequency: o.frequency,
    ringBytes: o.ringBytes,
    bpfDir: o.bpfDir,
    onWalk: (p) => names.noteNewKeys(p),
  });
  const counters: AgentCounters = {
    intervalsCut: 0,
    intervalsWritten: 0,
    encodeFailures: 0,
  };
  // The live heap, measured after a full GC at most every 10 s (at a cut):
  // what a leak would grow, without the GC's saw-tooth. Only when /metrics
  // is served, the one place it shows: a forced full GC costs tens of ms
  // of CPU, a few tenths of a percent of a core every 10 s.
  const gc = o.metrics ? fullGc() : undefined;
  let lastGc = -Infinity;
  const live = { heap: 0, rssAnon: 0 };
  const intervals: IntervalRecord[] = [];
  let metricsServer: MetricsServer | undefined;
  if (o.metrics) {
    metricsServer = serveMetrics(
      o.metrics.hostname,
      o.metrics.port,
      () => agentMetrics(session, spool, deliverer, counters, sym, live),
    );
    log(
      `agent: metrics on http://${metricsServer.hostname}:${metricsServer.port}/metrics`,
    );
  }

  let from = now();
  let recentPids = new Set<number>();
  let recentTids = new Set<number>();
  let dropped0 = 0;
  let userLost0 = 0;
  let kernelLost0 = 0;
  // Cuts the interval that ends now. `k` is the kernel's counters (passed
  // in after stop, when the object is closed).
  const cut = async (k: ProfilerCounters = session.counters()) => {
    const until = now();
    const t0 = performance.now();
    const stacks = session.takeProfile();
    const t = session.reader.totals;
    const record: IntervalRecord = {
      fromMs: from,
      untilMs: until,
      samples: stacks.totalSamples,
      dropped: k.reserveFailed - dropped0,
      stacksLost: {
        user: t.userStacks.fault - userLost0,
        kernel: t.kernelStacks.fault - kernelLost0,
      },
      services: {},
      bytes: 0,
    };
    dropped0 = k.reserveFailed;
    userLost0 = t.userStacks.fault;
    kernelLost0 = t.kernelStacks.fault;
    from = until;
    counters.intervalsCut++;
    const resolved = resolveProfile(stacks, sym, names, {
      meta: {
        host: hostname,
        startTimeNs: record.fromMs * 1e6,
        durationNs: (record.untilMs - record.fromMs) * 1e6,
        frequencyHz: o.frequency,
        cpus: session.cpus.length,
      },
    });
    const cumulative =
      `consumed ${t.events} of ${k.eventsSubmitted} submitted, dropped ${k.reserveFailed}`;
    const comments = intervalComments(record, cumulative);
    for (const part of splitByService(resolved, o.service)) {
      let body: Uint8Array;
      try {
        body = await encode(part.profile, comments);
      } catch (err) {
        counters.encodeFailures++;
        log(`agent: encoding the interval failed: ${(err as Error).message}`);
        continue;
      }
      record.bytes += body.byteLength;
      record.services[part.service] = part.profile.totalSamples;
      const meta: IntervalMeta = {
        name: part.service,
        labels,
        fromMs: record.fromMs,
        untilMs: record.untilMs,
        samples: part.profile.totalSamples,
      };
      if (o.pprofDir) {
        await Deno.mkdir(o.pprofDir, { recursive: true });
        await writeFileAtomic(
          `${o.pprofDir}/${safeName(part.service)}-${record.fromMs}.pb.gz`,
          body,
        );
        counters.intervalsWritten++;
      }
      if (deliverer) {
        spool.push(meta, body);
        deliverer.notify();
      }
    }
    intervals.push(record);
    // The summary keeps the last MAX_RECORDS intervals' accounting: a day
    // of 10 s intervals must not grow the agent.
    if (intervals.length > MAX_RECORDS) intervals.shift();
    // Names and symbols of processes not seen for two intervals are
    // dropped, so a day of process churn does not grow the agent.
    const pids = new Set(resolved.samples.map((x) => x.pid));
    const tids = new Set(resolved.samples.map((x) => x.tid));
    for (
      const pid of names.retainOnly(
        new Set([...pids, ...recentPids]),
        new Set([...tids, ...recentTids]),
      )
    ) {
      sym.forget(pid);
    }
    recentPids = pids;
    recentTids = tids;
    if (gc && performance.now() - lastGc >= 10_000) {
      gc();
      lastGc = performance.now();
      live.heap = Deno.memoryUsage().heapUsed;
      live.rssAnon = residentBreakdown().anon;
    }
    log(
      `agent: interval ${
        new Date(record.fromMs).toISOString()
      }: ${record.samples} samples, ${record.dropped} dropped, ${record.bytes} bytes, cut in ${
        (performance.now() - t0).toFixed(0)
      } ms; spool ${spool.depth().entries}`,
    );
  };

  // Errors in the loop end it, but only after everything is stopped,
  // detached and flushed; then they are thrown (never swallowed).
  let failure: unknown;
  try {
    while (!o.signal?.aborted) {
      const boundary = nextBoundary(now(), o.intervalMs);
      await sleep(Math.max(0, boundary - now()), o.signal);
      if (o.signal?.aborted) break;
      await cut();
    }
  } catch (err) {
    failure = err;
  }
  // Stop: detach and drain first, so the last, partial interval holds
  // every sample consumed since the last cut; cut it; deliver what is
  // queued within the bound, then leave the rest on disk.
  const report = await session.stop();
  try {
    await cut(report.counters);
  } catch (err) {
    failure ??= err;
  }
  if (deliverer) {
    await deliverer.stop(o.flushMs ?? 10_000);
    await spool.spill(true);
  }
  await metricsServer?.close();
  sym.close();
  if (failure !== undefined) throw failure;
  return {
    intervals,
    counters,
    spool: spool.counters,
    delivery: deliverer?.counters ?? noDeliveries(),
    leftInSpool: spool.depth().entries,
    reconciliation: report.reconciliation,
    kernel: report.counters,
  };
}

/** The agent's metrics, now. */
export function agentMetrics(
  session: ProfilerSession,
  spool: Spool,
  deliverer: Deliverer | undefined,
  c: AgentCounters,
  sym?: Symbolizer,
  live?: { heap: number; rssAnon: number },
): MetricFamily[] {
  const k = session.counters();
  const t = session.reader.totals;
  const m = Deno.memoryUsage();
  const d = deliverer?.counters;
  const depth = spool.depth();
  const counter = (
    name: string,
    help: string,
    value: number,
  ): MetricFamily => ({
    name,
    help,
    type: "counter",
    samples: [{ value }],
  });
  const gauge = (name: string, help: string, value: number): MetricFamily => ({
    name,
    help,
    type: "gauge",
    samples: [{ value }],
  });
  return [
    counter(
      "streamprof_events_total",
      "Events consumed from the ring.",
      t.events,
    ),
    counter(
      "streamprof_events_dropped_total",
      "Events the kernel dropped (ring full).",
      k.reserveFailed,
    ),
    counter(
      "streamprof_samples_total",
      "Samples the BPF program saw.",
      k.samplesSeen,
    ),
    {
      name: "streamprof_stacks_lost_total",
      help: "Stacks lost, by kind and cause.",
      type: "counter",
      samples: [
        { labels: { kind: "user", cause: "fault" }, value: t.userStacks.fault },
        {
          labels: { kind: "kernel", cause: "fault" },
          value: t.kernelStacks.fault,
        },
        { labels: { kind: "user", cause: "collision" }, value: 0 },
        { labels: { kind: "kernel", cause: "collision" }, value: 0 },
        { labels: { kind: "user", cause: "storage_full" }, value: 0 },
        { labels: { kind: "kernel", cause: "storage_full" }, value: 0 },
      ],
    },
    counter(
      "streamprof_consumer_cpu_seconds_total",
      "CPU time of this process.",
      processCpuSeconds(),
    ),
    gauge("streamprof_rss_bytes", "Resident set of this process.", m.rss),
    gauge("streamprof_heap_used_bytes", "V8 heap used.", m.heapUsed),
    gauge(
      "streamprof_heap_live_bytes",
      "V8 heap after the last forced full GC (at most every 10 s).",
      live?.heap ?? 0,
    ),
    gauge(
      "streamprof_rss_anon_bytes",
      "Anonymous resident memory at the last forced GC.",
      live?.rssAnon ?? 0,
    ),
    gauge(
      "streamprof_symbol_cache_bytes",
      "Memory the symbol caches take.",
      sym?.stats().cacheBytes ?? 0,
    ),
    gauge(
      "streamprof_spool_intervals",
      "Intervals waiting for delivery.",
      depth.entries,
    ),
    gauge(
      "streamprof_spool_bytes",
      "Bytes waiting for delivery, memory and disk.",
      depth.memoryBytes + depth.diskBytes,
    ),
    {
      name: "streamprof_intervals_total",
      help: "Intervals by outcome.",
      type: "counter",
      samples: [
        { labels: { outcome: "cut" }, value: c.intervalsCut },
        { labels: { outcome: "written" }, value: c.intervalsWritten },
        { labels: { outcome: "pushed" }, value: d?.pushed ?? 0 },
        { labels: { outcome: "confirmed" }, value: d?.confirmed ?? 0 },
        { labels: { outcome: "repushed" }, value: d?.repushed ?? 0 },
        { labels: { outcome: "retried" }, value: d?.retried ?? 0 },
        { labels: { outcome: "rejected" }, value: d?.rejected ?? 0 },
        { labels: { outcome: "spooled" }, value: spool.counters.spooledToDisk },
        { labels: { outcome: "dropped" }, value: spool.counters.dropped },
        { labels: { outcome: "encode_failed" }, value: c.encodeFailures },
      ],
    },
    counter(
      "streamprof_push_latency_seconds_sum",
      "Total latency of successful pushes.",
      (d?.latencySumMs ?? 0) / 1000,
    ),
    counter(
      "streamprof_push_latency_seconds_count",
      "Successful pushes.",
      d?.latencyCount ?? 0,
    ),
  ];
}

function processCpuSeconds(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(
      " ",
    );
    const ticks = Number(f[11]) + Number(f[12]);
    return ticks / 100;
  } catch {
    return 0;
  }
}
