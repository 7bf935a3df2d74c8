/**
 * The consumers bench/e2e.ts compares, and how one benchmark step runs them:
 * every consumer is a separate process printing one JSON object with the
 * same fields (harness-c/consumer.c, bench/deno_consumer.ts), so they are
 * measured the same way, from outside.
 *
 * @example
 * ```ts ignore
 * import { CONSUMERS, runStressStep } from "./e2e_consumers.ts";
 * const step = await runStressStep(CONSUMERS["c-wasm2c"], 100000, 2, 8 << 20);
 * console.log(step.status, step.achievedRate, step.cpuNsPerEvent);
 * ```
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;
const HARNESS = `${ROOT}harness-c/build`;

/** Paths of the native programs. */
export const PROGRAMS = {
  consumerC: `${HARNESS}/streamprof-consumer-c`,
  stressgen: `${HARNESS}/streamprof-stressgen`,
  burn: `${HARNESS}/streamprof-burn`,
  decodeBench: `${HARNESS}/streamprof-decode-bench`,
  nativeWalkerLib: `${HARNESS}/libstreamprof-native-walker.so`,
};

/** One consumer under test. */
export interface Consumer {
  /** Short id used in tables, JSON and the baseline. */
  id: string;
  /** What it is, for the report. */
  label: string;
  /** Command line for a run with the given common options. */
  argv(o: ConsumerArgs): string[];
}

/** Options every consumer takes (the C consumer's names). */
export interface ConsumerArgs {
  source: "perf" | "stress";
  durationS: number;
  ringBytes: number;
  targetPid?: number;
  notifyPid?: number;
  freq?: number;
}

function common(o: ConsumerArgs, ringFlag: string): string[] {
  const a = [
    "--source",
    o.source,
    "--duration",
    String(o.durationS),
    ringFlag,
    String(o.ringBytes),
  ];
  if (o.targetPid) a.push("--target-pid", String(o.targetPid));
  if (o.notifyPid) a.push("--notify-pid", String(o.notifyPid));
  if (o.freq) a.push("--freq", String(o.freq));
  return a;
}

/** Every consumer the benchmark knows, by id. */
export const CONSUMERS: Record<string, Consumer> = {
  "deno-wasm": {
    id: "deno-wasm",
    label:
      "Deno + WASM (ProfilerSession: ring mapped into WASM memory, adaptive polling)",
    argv: (o) => [
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}bench/deno_consumer.ts`,
      ...common(o, "--ring-bytes"),
    ],
  },
  "c-libbpf": {
    id: "c-libbpf",
    label:
      "C libbpf ring_buffer__poll (epoll, a wake-up per record: the usual way)",
    argv: (o) => [PROGRAMS.consumerC, ...common(o, "--ring-size")],
  },
  "c-libbpf-poll10": {
    id: "c-libbpf-poll10",
    label: "C libbpf ring_buffer__consume every 10 ms (--poll-ms 10)",
    argv: (o) => [
      PROGRAMS.consumerC,
      "--poll-ms",
      "10",
      ...common(o, "--ring-size"),
    ],
  },
  "c-wasm2c": {
    id: "c-wasm2c",
    label: "C + wasm2c parser (same design as Deno, native host)",
    argv: (o) => [
      PROGRAMS.consumerC,
      "--decoder",
      "wasm2c",
      ...common(o, "--ring-size"),
    ],
  },
};

/** The consumer's JSON object (the fields both consumers print). */
export type ConsumerJson = Record<string, unknown> & {
  consumed?: number;
  drops?: number;
  reconciled?: boolean;
  consumer_cpu_ns?: number;
  cpu_ns_per_event?: number;
  elapsed_s?: number;
  peak_rss_kib?: number;
  counters?: Record<string, number>;
};

/** A finished process: status, the last JSON line of stdout, stderr. */
export interface ProcessResult {
  code: number;
  json: ConsumerJson | null;
  stderr: string;
}

function lastJson(text: string): ConsumerJson | null {
  const lines = text.trim().split("\n").filter((l) => l.startsWith("{"));
  if (lines.length === 0) return null;
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    return null;
  }
}

/**
 * A running process whose output is collected; killed if it outlives
 * `timeoutMs` (a hung consumer must not hang the benchmark).
 */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly #result: Promise<ProcessResult>;

  constructor(argv: string[], timeoutMs: number) {
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, timeoutMs);
    this.#result = this.child.output().then((out) => {
      clearTimeout(timer);
      const dec = new TextDecoder();
      return {
        code: out.code,
        json: lastJson(dec.decode(out.stdout)),
        stderr: dec.decode(out.stderr).trim(),
      };
    });
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Waits for the end. */
  result(): Promise<ProcessResult> {
    return this.#result;
  }

  /** Sends SIGTERM if still running (idempotent). */
  stop(): void {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
}

/** How one stress step ended for one consumer. */
export type StepStatus = "held" | "dropped" | "not reached" | "failed";

/** One (rate, consumer) step of the stress ladder. */
export interface StressStep {
  consumer: string;
  rate: number;
  status: StepStatus;
  /** Generator calls per second actually made. */
  achievedRate: number;
  consumed: number;
  drops: number;
  reconciled: boolean;
  consumerCpuNs: number;
  cpuNsPerEvent: number;
  /** Consumer CPU as a share of one core over its run. */
  cpuPercent: number;
  detail: string;
}

/** Share of the requested rate the generator must reach for "held". */
export const REACHED_FRACTION = 0.9;

/**
 * One step: a generator waiting for SIGUSR1, the consumer attached to it
 * (its --notify-pid releases the generator once the program is attached),
 * generating for `stepS` seconds; the consumer runs half a second longer.
 */
export async function runStressStep(
  c: Consumer,
  rate: number,
  stepS: number,
  ringBytes: number,
): Promise<StressStep> {
  const gen = new Proc([
    PROGRAMS.stressgen,
    "--rate",
    String(rate),
    "--duration",
    String(stepS),
    "--wait-signal",
    "30",
  ], (stepS + 40) * 1000);
  const cons = new Proc(
    c.argv({
      source: "stress",
      durationS: stepS + 0.5,
      ringBytes,
      targetPid: gen.pid,
      notifyPid: gen.pid,
    }),
    (stepS + 40) * 1000,
  );
  const r = await cons.result();
  if (r.code !== 0 && r.code !== 1) gen.stop(); // it never attached
  const g = await gen.result();
  const j = r.json;
  const base: StressStep = {
    consumer: c.id,
    rate,
    status: "failed",
    achievedRate: Number(g.json?.achieved_rate ?? 0),
    consumed: Number(j?.consumed ?? 0),
    drops: Number(j?.drops ?? 0),
    reconciled: j?.reconciled === true,
    consumerCpuNs: Number(j?.consumer_cpu_ns ?? 0),
    cpuNsPerEvent: Number(j?.cpu_ns_per_event ?? 0),
    cpuPercent: j
      ? Number(j.consumer_cpu_ns) / (Number(j.elapsed_s) * 1e9) * 100
      : 0,
    detail: "",
  };
  if (!j || (r.code !== 0 && r.code !== 1)) {
    base.detail = `consumer exit ${r.code}: ${r.stderr.slice(-300)}`;
    return base;
  }
  if (g.code !== 0) {
    base.detail = `generator exit ${g.code}: ${g.stderr.slice(-200)}`;
    return base;
  }
  const reconciliation = j.reconciliation as Record<string, boolean>;
  const balanced = reconciliation?.consumed_equals_submitted &&
    reconciliation?.samples_balance;
  if (base.drops > 0 && balanced) {
    base.status = "dropped";
    base.detail = `${base.drops} events dropped (ring full)`;
  } else if (!base.reconciled) {
    base.detail = `not reconciled: ${JSON.stringify(reconciliation)}`;
  } else if (base.achievedRate < rate * REACHED_FRACTION) {
    base.status = "not reached";
    base.detail = `generator made ${
      Math.round(base.achievedRate)
    }/s of ${rate}/s with this consumer attached`;
  } else {
    base.status = "held";
  }
  return base;
}

/** One sample of a process's memory, from /proc/PID/status (bytes). */
export interface MemorySample {
  rss: number;
  hwm: number;
  anon: number;
  file: number;
  shmem: number;
}

/** Reads VmRSS, VmHWM, RssAnon, RssFile, RssShmem of `pid` (null if gone). */
export function sampleMemory(pid: number): MemorySample | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return {
    rss: kib("VmRSS"),
    hwm: kib("VmHWM"),
    anon: kib("RssAnon"),
    file: kib("RssFile"),
    shmem: kib("RssShmem"),
  };
}

/**
 * CPU time of every thread of `pid` so far, in ns, from
 * /proc/PID/task/TID/schedstat (first field: time on CPU, ns precision, where
 * /proc/PID/stat has 10 ms ticks). Null if the process is gone.
 */
export function sampleCpuNs(pid: number): number | null {
  let total = 0;
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const f = Deno.readTextFileSync(
          `/proc/${pid}/task/${t.name}/schedstat`,
        );
        total += Number(f.split(" ")[0]);
      } catch { /* a thread that just exited */ }
    }
  } catch {
    return null;
  }
  return total;
}
