/**
 * The ring-buffer validation: for each requested rate, keep every CPU busy,
 * stream for a fixed time, and measure what the original methodology
 * measures: achieved rate, events produced / consumed / dropped, events per
 * 10 s, consumer CPU, heap, WASM memory and RSS. Every row is reconciled
 * exactly.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root, the BPF object and 10 s (tests/kernel/cli_test.ts runs it).
 * const report = await runValidation({ rates: [1000], durationMs: 2000 });
 * console.log(report.pass);
 * ```
 * @module
 */
import process from "node:process";
import { sleep } from "../common/signals.ts";
import { fullGc } from "../common/memory.ts";
import {
  describeEnvironment,
  type EnvironmentInfo,
} from "../common/environment.ts";
import {
  DEFAULT_RING_BYTES,
  type ProfilerCounters,
  zeroCounters,
} from "../bpf/profiler_object.ts";
import { EnvironmentError, KernelFeatureError } from "../common/errors.ts";
import { startBusyLoad } from "../profiler/busy_load.ts";
import {
  emptyConsumed,
  reconcile,
  type Reconciliation,
} from "../profiler/reconcile.ts";
import { ProfilerSession } from "../profiler/session.ts";
import { compileParser } from "../parser/wasm_parser.ts";

/** The memory bound of the original methodology: 20 MB (10^6 bytes). */
export const MEMORY_BOUND_BYTES = 20_000_000;

/** The sampling rates a validation runs by default, in Hz per CPU. */
export const DEFAULT_RATES = [100, 1000, 10000];

/** Options of a validation run. */
export interface ValidationOptions {
  /** Requested sampling rates in Hz per CPU (default 100, 1000, 10000). */
  rates?: number[];
  /** Streaming time per rate (default 10 s). */
  durationMs?: number;
  /** Keep CPUs busy with a load generator (default true). */
  load?: boolean;
  /** Ring buffer size (default 8 MiB). */
  ringBytes?: number;
  /** Folder holding profiler.bpf.o. */
  bpfDir?: string;
  /** Called with progress lines. */
  onProgress?: (line: string) => void;
  /** Ends the run early (rows so far are kept, the current one finished). */
  signal?: AbortSignal;
}

/** One rate's measurements. */
export interface ValidationRow {
  requestedHz: number;
  durationS: number;
  cpus: number;
  /** Samples per CPU-second the kernel took (all samples, idle included). */
  achievedPerCpuSecond: number;
  produced: number;
  consumed: number;
  dropped: number;
  eventsPer10s: number;
  /** Consumer process CPU time over the streaming window, % of one core. */
  consumerCpuPercent: number;
  /** CPU nanoseconds the consumer spent per consumed event. */
  consumerCpuNsPerEvent: number;
  /** Peak V8 heap used during this rate (from a full GC at its start). */
  v8HeapBytes: number;
  /** WASM memory the parser laid out (its own data, not the mapped ring). */
  wasmBytes: number;
  /** BPF ring buffer size (mapped, shared with the kernel). */
  ringBytes: number;
  /** heap + WASM + ring: the bound of the methodology. */
  consumerMemoryBytes: number;
  /** Peak resident set of the whole Deno process, for comparison. */
  rssBytes: number;
  counters: ProfilerCounters;
  reconciliation: Reconciliation;
  /** No drops, exact reconciliation (events and stacks), memory under the bound. */
  pass: boolean;
  problems: string[];
  /** A stop signal cut this rate short: it cannot pass. */
  interrupted?: boolean;
  /** The kernel refused this rate (no measurements): why. */
  refused?: string;
}

/** A whole validation run. */
export interface ValidationReport {
  tool: "streamprof validate";
  environment: EnvironmentInfo;
  startedAt: string;
  memoryBoundBytes: number;
  rows: ValidationRow[];
  /** A stop signal ended the run early: it cannot pass. */
  interrupted: boolean;
  /** An environment error ended the run (the rates after it did not run). */
  aborted?: string;
  pass: boolean;
}

/** A row for a rate that could not run. */
function refusedRow(
  hz: number,
  reason: string,
  ringBytes: number,
): ValidationRow {
  return {
    requestedHz: hz,
    durationS: 0,
    cpus: 0,
    achievedPerCpuSecond: 0,
    produced: 0,
    consumed: 0,
    dropped: 0,
    eventsPer10s: 0,
    consumerCpuPercent: 0,
    consumerCpuNsPerEvent: 0,
    v8HeapBytes: 0,
    wasmBytes: 0,
    ringBytes,
    consumerMemoryBytes: 0,
    rssBytes: 0,
    counters: zeroCounters(),
    reconciliation: reconcile(zeroCounters(), emptyConsumed()),
    pass: false,
    problems: [`refused: ${reason}`],
    refused: reason,
  };
}

/** Runs the validation. Throws only for environment errors (no BPF, ...). */
export async function runValidation(
  o: ValidationOptions = {},
): Promise<ValidationReport> {
  const rates = o.rates ?? DEFAULT_RATES;
  const durationMs = o.durationMs ?? 10_000;
  const progress = o.onProgress ?? (() => {});
  const environment = describeEnvironment();
  const wasm = await compileParser();
  const gc = fullGc();
  const rows: ValidationRow[] = [];
  const startedAt = new Date().toISOString();
  let aborted: string | undefined;
  for (const hz of rates) {
    if (o.signal?.aborted || aborted) break;
    progress(
      `validate: ${hz} Hz on ${environment.onlineCpus} CPUs for ${
        durationMs / 1000
      } s ...`,
    );
    const load = o.load === false
      ? null
      : startBusyLoad(environment.onlineCpus);
    let session: ProfilerSession | undefined;
    try {
      try {
        // The stream is what is validated: every record walked, every
        // stack of every sample classified and reconciled, but nothing
        // aggregated or interned (a profile would be thrown away, and its
        // tables and growth are the profile command's, not the stream's).
        session = await ProfilerSession.start({
          frequency: hz,
          ringBytes: o.ringBytes,
          bpfDir: o.bpfDir,
          wasm,
          aggregate: false,
          tables: false,
        });
      } catch (err) {
        // A rate the kernel refuses is a failed row; the other rates still
        // run. Any other environment error would fail every rate alike:
        // the run ends, keeping the rows so far.
        if (!(err instanceof EnvironmentError)) throw err;
        rows.push(
          refusedRow(hz, err.message, o.ringBytes ?? DEFAULT_RING_BYTES),
        );
        progress(`validate: ${hz} Hz: FAIL: refused: ${err.message}`);
        if (
          !(err instanceof KernelFeatureError && err.feature === "sample-rate")
        ) {
          aborted = err.message;
        }
        continue;
      }
      // Each rate's peak heap from a clean start: a full GC first, so what
      // the previous rates left for the collector is not counted here.
      gc?.();
      let heap = Deno.memoryUsage().heapUsed;
      let rss = Deno.memoryUsage().rss;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      while (performance.now() - t0 < durationMs && !o.signal?.aborted) {
        await sleep(
          Math.min(1000, durationMs - (performance.now() - t0)),
          o.signal,
        );
        const m = Deno.memoryUsage();
        heap = Math.max(heap, m.heapUsed);
        rss = Math.max(rss, m.rss);
      }
      const cpu = process.cpuUsage(cpu0);
      const wallMs = performance.now() - t0;
      const report = await session.stop();
      const k = report.counters;
      const cpus = session.cpus.length;
      const cpuNs = (cpu.user + cpu.system) * 1000;
      const consumerMemoryBytes = heap + session.parser.ownBytes +
        session.object.ringBytes;
      const problems = [...report.reconciliation.problems];
      const cut = o.signal?.aborted ?? false;
      if (cut) {
        problems.push("interrupted: this rate was cut short by a stop signal");
      }
      if (consumerMemoryBytes >= MEMORY_BOUND_BYTES) {
        problems.push(
          `consumer memory ${consumerMemoryBytes} bytes >= bound ${MEMORY_BOUND_BYTES}`,
        );
      }
      const row: ValidationRow = {
        requestedHz: hz,
        durationS: wallMs / 1000,
        cpus,
        achievedPerCpuSecond: k.samplesSeen / cpus / (wallMs / 1000),
        produced: report.reconciliation.produced,
        consumed: report.reconciliation.consumed,
        dropped: report.reconciliation.dropped,
        eventsPer10s: report.consumed.events * 10_000 / wallMs,
        consumerCpuPercent: cpuNs / (wallMs * 1e6) * 100,
        consumerCpuNsPerEvent: report.consumed.events
          ? cpuNs / report.consumed.events
          : 0,
        v8HeapBytes: heap,
        wasmBytes: session.parser.ownBytes,
        ringBytes: session.object.ringBytes,
        consumerMemoryBytes,
        rssBytes: rss,
        counters: k,
        reconciliation: report.reconciliation,
        pass: problems.length === 0,
        problems,
        interrupted: cut || undefined,
      };
      rows.push(row);
      progress(
        `validate: ${hz} Hz: ${
          row.achievedPerCpuSecond.toFixed(0)
        }/CPU-s, consumed ${row.consumed}, dropped ${row.dropped}, ${
          row.pass ? "pass" : "FAIL: " + problems.join("; ")
        }`,
      );
    } finally {
      if (session && !session.stopped) await session.stop().catch(() => {});
      await load?.stop();
    }
  }
  const interrupted = o.signal?.aborted ?? false;
  return {
    tool: "streamprof validate",
    environment,
    startedAt,
    memoryBoundBytes: MEMORY_BOUND_BYTES,
    rows,
    interrupted,
    aborted,
    // An interrupted or aborted run never passes, whatever its rows say.
    pass: !interrupted && !aborted && rows.length === rates.length &&
      rows.every((r) => r.pass),
  };
}
