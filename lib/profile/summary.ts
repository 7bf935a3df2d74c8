/**
 * The summary of a resolved profile that the terminal report and the JSON
 * both show: top functions (self and total), top processes and threads,
 * the accounting lines, the symbolized share.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { summarize } from "./summary.ts";
 * const s = summarize({
 *   frames: [{ name: "spin", module: "a", kind: "user", symbolized: true }],
 *   samples: [{ pid: 1, tid: 2, cpu: 0, comm: "a", thread: "t", count: 4, stack: [0] }],
 *   totalSamples: 4,
 * }, 10);
 * assert.equal(s.functions[0].name, "spin");
 * assert.deepEqual(s.processes, [{ pid: 1, comm: "a", samples: 4, percent: 100 }]);
 * ```
 * @module
 */
import type { ResolvedProfile } from "./model.ts";
import { byName, type FunctionShare, topFunctions } from "./top_functions.ts";

/** A process's share. */
export interface ProcessShare {
  pid: number;
  comm: string;
  samples: number;
  percent: number;
}

/** A thread's share. */
export interface ThreadShare extends ProcessShare {
  tid: number;
  thread: string;
}

/** What the report shows. */
export interface ProfileSummary {
  /** Top functions by self samples (then total). */
  functions: FunctionShare[];
  /** Top functions by total samples. */
  functionsByTotal: FunctionShare[];
  processes: ProcessShare[];
  threads: ThreadShare[];
}

/** The top `top` of each table. */
export function summarize(
  p: Pick<ResolvedProfile, "frames" | "samples" | "totalSamples">,
  top: number,
): ProfileSummary {
  const fns = topFunctions(p);
  const byTotal = [...fns].sort((a, b) =>
    b.total - a.total || b.self - a.self || byName(a, b)
  );
  const pct = (n: number) => p.totalSamples ? (100 * n) / p.totalSamples : 0;
  const procs = new Map<number, ProcessShare>();
  const threads = new Map<number, ThreadShare>();
  for (const s of p.samples) {
    const pr = procs.get(s.pid) ??
      { pid: s.pid, comm: s.comm, samples: 0, percent: 0 };
    pr.samples += s.count;
    procs.set(s.pid, pr);
    const th = threads.get(s.tid) ?? {
      pid: s.pid,
      comm: s.comm,
      tid: s.tid,
      thread: s.thread,
      samples: 0,
      percent: 0,
    };
    th.samples += s.count;
    threads.set(s.tid, th);
  }
  const ranked = <T extends ProcessShare>(m: Map<number, T>) =>
    [...m.values()]
      .sort((a, b) => b.samples - a.samples)
      .slice(0, top)
      .map((x) => ({ ...x, percent: pct(x.samples) }));
  return {
    functions: fns.slice(0, top),
    functionsByTotal: byTotal.slice(0, top),
    processes: ranked(procs),
    threads: ranked(threads),
  };
}
