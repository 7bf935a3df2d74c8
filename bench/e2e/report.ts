/**
 * What every section's report shares: the rate format of the tables and the
 * description of the machine the run happened on.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatRate } from "./report.ts";
 * assert.equal(formatRate(250_000), "250k");
 * assert.equal(formatRate(2_000_000), "2M");
 * ```
 * @module
 */

/** An events/s rate as the tables print it: "250k", "1.5M". */
export function formatRate(n: number): string {
  return n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : `${+(n / 1e3).toFixed(1)}k`;
}

/** The machine, as the JSON report and the baseline record it. */
export function describeMachine(): Record<string, unknown> {
  let model = "unknown";
  try {
    const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
    model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? model;
  } catch { /* not Linux? then BPF fails first anyway */ }
  return {
    hostname: Deno.hostname(),
    kernel: Deno.osRelease(),
    cpus: navigator.hardwareConcurrency,
    cpu_model: model,
    memory_bytes: Deno.systemMemoryInfo().total,
    deno: Deno.version.deno,
    loadavg_before: Deno.loadavg(),
  };
}

/** A load average as printed: "0.52 0.61 0.70". */
export function formatLoad(load: number[]): string {
  return load.map((x) => x.toFixed(2)).join(" ");
}
