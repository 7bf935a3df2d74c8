/**
 * Section 4 of `bench:e2e`, memory: peak and steady RSS and heap of every
 * consumer over one run at 1 kHz, all consumers at once, CPUs busy. RSS is
 * sampled from /proc every 250 ms; the peak is VmHWM (ru_maxrss would carry
 * over the peak of the Deno process that started the consumer).
 *
 * @example
 * ```ts ignore
 * // ignored: needs root, BPF and the built harness (see bench/e2e/main.ts).
 * import { printMemory, runMemory } from "./memory.ts";
 * printMemory(options, await runMemory(options));
 * ```
 * @module
 */
import { formatCount, formatMB, formatMiB } from "../../lib/common/format.ts";
import { median } from "../../lib/common/stats.ts";
import { formatTable } from "../../lib/report/table.ts";
import {
  consumerFailure,
  type MemorySample,
  sampleMemory,
  WatchedProcess,
  withBusyCpus,
} from "./consumers.ts";
import type { Options } from "./options.ts";

/** The sampling rate of this section, per CPU. */
const MEMORY_FREQ = 1000;

/** One consumer's row. */
export interface MemoryRow {
  consumer: string;
  peakRssBytes: number;
  steadyRssBytes: number;
  steadyAnonBytes: number;
  /** V8 heapUsed (Deno) or malloc in use (C), steady. */
  heapBytes: number;
  /** The parser's own WASM memory (its regions, not the ring mapping). */
  wasmOwnBytes: number;
  /** All of the WASM linear memory, ring mapping span included. */
  wasmMemoryBytes: number;
  events: number;
  drops: number;
  reconciled: boolean;
  detail: string;
  /** Why the run gave no valid figure (see consumerFailure), or null. */
  failure: string | null;
}

/** The median of a series of samples; 0 when there is none. */
function medianOrZero(xs: number[]): number {
  return xs.length ? median(xs) : 0;
}

/** Runs every consumer at once at 1 kHz on busy CPUs, sampling memory. */
export function runMemory(o: Options): Promise<MemoryRow[]> {
  return withBusyCpus(o.memoryS + 15, async () => {
    // All consumers in one run: memory does not depend on sharing the CPUs
    // at 1 kHz, and it saves (consumers - 1) x the duration.
    const procs = o.consumers.map((c) =>
      new WatchedProcess(
        c.argv({
          source: "perf",
          freq: MEMORY_FREQ,
          durationS: o.memoryS,
          ringBytes: o.ringBytes,
        }),
        (o.memoryS + 60) * 1000,
      )
    );
    const samples: MemorySample[][] = procs.map(() => []);
    const timer = setInterval(() => {
      procs.forEach((p, i) => {
        const s = sampleMemory(p.pid);
        if (s) samples[i].push(s);
      });
    }, 250);
    const results = await Promise.all(procs.map((p) => p.result()));
    clearInterval(timer);
    return o.consumers.map((c, i) => {
      const json = results[i].json ?? {};
      // Steady: after the first quarter (start-up, ring first touched).
      const steady = samples[i].slice(Math.floor(samples[i].length / 4));
      const isDeno = c.id.startsWith("deno");
      return {
        consumer: c.id,
        // VmHWM, not ru_maxrss: exec carries the parent's (this Deno
        // process's) peak into ru_maxrss.
        peakRssBytes: Math.max(
          Number(json.vm_hwm_kib ?? 0) * 1024,
          ...samples[i].map((x) => x.hwm),
        ),
        steadyRssBytes: medianOrZero(steady.map((x) => x.rss)),
        steadyAnonBytes: medianOrZero(steady.map((x) => x.anon)),
        heapBytes: Number(
          (isDeno ? json.heap_used_bytes : json.heap_in_use_bytes) ?? 0,
        ),
        wasmOwnBytes: Number(json.wasm_own_bytes ?? 0),
        wasmMemoryBytes: Number(json.wasm_memory_bytes ?? 0),
        events: Number(json.consumed ?? 0),
        drops: Number(json.drops ?? 0),
        reconciled: json.reconciled === true,
        detail: results[i].code === 0
          ? ""
          : `exit ${results[i].code}: ${results[i].stderr.slice(-200)}`,
        failure: consumerFailure(results[i]),
      };
    });
  });
}

/** Heaps are small: MB with two decimals (a C consumer's is ~0.1 MB). */
const heapMB = (bytes: number) => formatMB(bytes, 2);

/** Prints the section's table. */
export function printMemory(o: Options, rows: MemoryRow[]): void {
  console.log(
    `\n## 4. Memory: 1 kHz sampling, CPUs busy, ${o.memoryS} s, all consumers at once (ring ${
      formatMiB(o.ringBytes)
    }; MB = 10^6 bytes)\n`,
  );
  console.log(formatTable(
    [
      "consumer",
      "peak RSS",
      "steady RSS",
      "steady anon RSS",
      "heap (V8 used / malloc)",
      "WASM own",
      "heap + WASM own",
      "events",
      "drops",
    ],
    rows.map((r) => [
      r.consumer,
      formatMB(r.peakRssBytes),
      formatMB(r.steadyRssBytes),
      formatMB(r.steadyAnonBytes),
      heapMB(r.heapBytes),
      r.wasmOwnBytes ? heapMB(r.wasmOwnBytes) : "-",
      heapMB(r.heapBytes + r.wasmOwnBytes),
      formatCount(r.events),
      `${r.drops}${r.reconciled ? "" : ` NOT reconciled ${r.detail}`}`,
    ]),
  ));
}
