/**
 * Where a consumer run's CPU went, in the fields every consumer prints
 * (harness-c/cpu_mark.c, bench/deno_consumer.ts): start-up (spawn to
 * attach), the steady-state window, resolution after the run (Deno only)
 * and the total (spawn to the end of all its work).
 *
 * The steady window is measured by the consumer itself, not sampled from
 * outside: at each of its two marks it reads how many events it has
 * consumed and how much CPU it has used back to back, between two polls,
 * so no event is consumed between the two readings. CPU sampled from
 * outside would pair a count with a CPU figure from another moment (an
 * 8 MiB ring holds 200,000 events, seconds of a low rate), so the window's
 * events would be off by whatever the consumer took in between.
 *
 * The CPU of a mark is getrusage(RUSAGE_SELF): the scheduler's run time of
 * every thread of the process, in µs, threads that have ended included
 * (Deno's `process.cpuUsage()` is the same call). The sum of
 * /proc/self/task/TID/schedstat over the live threads is recorded next to
 * it (`threads_cpu_ns`) and agrees with it while no thread ends; a thread
 * that ends takes its run time out of that sum (a Deno Worker's 500 ms of
 * CPU vanished from it when the Worker ended), which is why it is the
 * cross-check and not the figure.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { runCostsOf, steadyJson } from "./cpu_costs.ts";
 * const a = { atS: 1, consumed: 1000, cpuNs: 5e6, threadsCpuNs: 5.1e6 };
 * const b = { atS: 3, consumed: 201000, cpuNs: 25e6, threadsCpuNs: 25.1e6 };
 * const costs = runCostsOf({ consumed: 250000, startup_cpu_ns: 4e6, total_cpu_ns: 40e6,
 *   steady: steadyJson(a, b) });
 * assert.equal(costs.steady?.events, 200000);
 * assert.equal(costs.steady?.nsPerEvent, 100);
 * assert.equal(costs.totalNsPerEvent, 160);
 * assert.equal(costs.resolveCpuNs, null); // a C consumer resolves nothing
 * ```
 * @module
 */
import process from "node:process";

/** One mark of a run: when, the events consumed so far, the CPU so far. */
export interface CpuMark {
  /** Seconds since attach. */
  atS: number;
  consumed: number;
  /** getrusage(RUSAGE_SELF), every thread, ended ones included (ns). */
  cpuNs: number;
  /** The sum of the live threads' schedstat run time (ns). */
  threadsCpuNs: number;
}

/**
 * CPU time of every thread of this process so far, ended threads included
 * (getrusage RUSAGE_SELF, µs resolution), in ns.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { processCpuNs } from "./cpu_costs.ts";
 * const a = processCpuNs();
 * let x = 0;
 * for (let i = 0; i < 1e6; i++) x += i;
 * assert.ok(processCpuNs() >= a && x > 0);
 * ```
 */
export function processCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/**
 * The sum of the first field of TASK_DIR/TID/schedstat (run time, ns) over
 * the threads listed there: /proc/self/task (this process) by default, or
 * /proc/PID/task. Null if the folder cannot be read (the process is gone).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { threadsCpuNs } from "./cpu_costs.ts";
 * assert.ok((threadsCpuNs() ?? 0) > 0);
 * assert.equal(threadsCpuNs("/proc/no-such-process/task"), null);
 * ```
 */
export function threadsCpuNs(taskDir = "/proc/self/task"): number | null {
  let total = 0;
  try {
    for (const t of Deno.readDirSync(taskDir)) {
      try {
        const f = Deno.readTextFileSync(`${taskDir}/${t.name}/schedstat`);
        total += Number(f.split(" ")[0]);
      } catch { /* a thread that just ended */ }
    }
  } catch {
    return null;
  }
  return total;
}

/**
 * Takes a mark now, with `consumed` read by the caller at this same point
 * between two polls. A start mark reads the thread sum before getrusage
 * and an end mark after it, so the getrusage window holds neither /proc
 * walk (about 0.1 ms each).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { takeMark } from "./cpu_costs.ts";
 * const m = takeMark(true, 1.5, 1234);
 * assert.equal(m.consumed, 1234);
 * assert.ok(m.cpuNs > 0 && m.threadsCpuNs > 0);
 * ```
 */
export function takeMark(
  start: boolean,
  atS: number,
  consumed: number,
): CpuMark {
  if (start) {
    const threads = threadsCpuNs() ?? 0;
    return { atS, consumed, cpuNs: processCpuNs(), threadsCpuNs: threads };
  }
  const cpuNs = processCpuNs();
  return { atS, consumed, cpuNs, threadsCpuNs: threadsCpuNs() ?? 0 };
}

/** The steady window as the consumers print it ("steady" of their JSON). */
export interface SteadyJson {
  from_s: number;
  to_s: number;
  events: number;
  cpu_ns: number;
  threads_cpu_ns: number;
  ns_per_event: number;
}

/**
 * The window from mark `a` to mark `b`, as harness-c/cpu_mark.c prints it.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { steadyJson } from "./cpu_costs.ts";
 * const w = steadyJson({ atS: 1, consumed: 10, cpuNs: 1000, threadsCpuNs: 1000 },
 *   { atS: 2, consumed: 20, cpuNs: 3000, threadsCpuNs: 3100 });
 * assert.deepEqual(w, { from_s: 1, to_s: 2, events: 10, cpu_ns: 2000,
 *   threads_cpu_ns: 2100, ns_per_event: 200 });
 * ```
 */
export function steadyJson(a: CpuMark, b: CpuMark): SteadyJson {
  const events = b.consumed - a.consumed;
  const cpu = b.cpuNs - a.cpuNs;
  return {
    from_s: Number(a.atS.toFixed(6)),
    to_s: Number(b.atS.toFixed(6)),
    events,
    cpu_ns: cpu,
    threads_cpu_ns: b.threadsCpuNs - a.threadsCpuNs,
    ns_per_event: events ? Number((cpu / events).toFixed(1)) : 0,
  };
}

/** A consumer's steady window, read back by the benchmark. */
export interface SteadyWindow {
  /** Seconds after attach. */
  fromS: number;
  toS: number;
  /** Events consumed in the window, exactly. */
  events: number;
  /** CPU in the window, every thread (getrusage). */
  cpuNs: number;
  /** The live threads' schedstat sum over the window (the cross-check). */
  threadsCpuNs: number;
  nsPerEvent: number;
}

/** What one consumer run cost, from its JSON (null: it did not say). */
export interface RunCosts {
  /** Spawn to attach: exec, runtime, loading, the verifier, attaching. */
  startupCpuNs: number | null;
  /** The steady window (null: not asked for, or the run ended first). */
  steady: SteadyWindow | null;
  /** Resolving the profile after the run (Deno; null: none). */
  resolveCpuNs: number | null;
  /** Spawn to the end of all its work (resolution included). */
  totalCpuNs: number | null;
  /** totalCpuNs over every event the run consumed (null: no events). */
  totalNsPerEvent: number | null;
}

/** A finite non-negative number, or null. */
function count(x: unknown): number | null {
  return typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : null;
}

/**
 * The costs of a consumer's JSON. A steady window with no events has no
 * figure (null): nothing was consumed in it to divide by.
 */
export function runCostsOf(json: Record<string, unknown> | null): RunCosts {
  const s = json?.steady as Partial<SteadyJson> | null | undefined;
  const events = count(s?.events);
  const cpu = count(s?.cpu_ns);
  const steady: SteadyWindow | null = s && events && cpu !== null
    ? {
      fromS: Number(s.from_s),
      toS: Number(s.to_s),
      events,
      cpuNs: cpu,
      threadsCpuNs: Number(s.threads_cpu_ns),
      nsPerEvent: cpu / events,
    }
    : null;
  const resolve = json?.resolve as { cpu_ns?: unknown } | null | undefined;
  const total = count(json?.total_cpu_ns);
  const consumed = count(json?.consumed);
  return {
    startupCpuNs: count(json?.startup_cpu_ns),
    steady,
    resolveCpuNs: count(resolve?.cpu_ns),
    totalCpuNs: total,
    totalNsPerEvent: total !== null && consumed ? total / consumed : null,
  };
}
