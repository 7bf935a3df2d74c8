/**
 * The consumers `bench:e2e` compares, and how one benchmark step runs them:
 * every consumer is a separate process printing one JSON object with the
 * same fields (harness-c/consumer.c, bench/deno_consumer.ts), so they are
 * measured the same way, from outside; and the /proc samplers that watch
 * them run.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { CONSUMERS } from "./consumers.ts";
 * const argv = CONSUMERS["c-wasm2c"].argv({ source: "stress", durationS: 2, ringBytes: 8 << 20 });
 * assert.deepEqual(argv.slice(1, 3), ["--decoder", "wasm2c"]);
 * assert.ok(argv.includes("--ring-size"));
 * ```
 * @module
 */
import { sleep } from "../../lib/common/signals.ts";
import { type RunCosts, runCostsOf } from "./cpu_costs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const HARNESS = `${ROOT}harness-c/build`;

/** Paths of the native programs. */
export const PROGRAMS = {
  consumerC: `${HARNESS}/streamprof-consumer-c`,
  stressgen: `${HARNESS}/streamprof-stressgen`,
  burn: `${HARNESS}/streamprof-burn`,
  decodeBench: `${HARNESS}/streamprof-decode-bench`,
  nativeWalkerLib: `${HARNESS}/libstreamprof-native-walker.so`,
};

/**
 * The ring sizes every consumer accepts: a power of two from 4 KiB to
 * 1 GiB (harness-c/consumer.c's --ring-size checks the same range; the
 * kernel also wants a multiple of the page).
 */
export const RING_BYTES_RULE = { min: 4096, max: 2 ** 30, powerOfTwo: true };

/** One consumer under test. */
export interface Consumer {
  /** Short id used in tables, JSON and the baseline. */
  id: string;
  /** What it is, for the report. */
  label: string;
  /** Deno (the project's consumer) or one of the C baselines. */
  family: "deno" | "c";
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
  /** Append the consumed ring bytes to this file (C consumer, wasm2c only). */
  record?: string;
  /** The steady window, seconds after attach (see cpu_costs.ts). */
  steadyFromS?: number;
  /** Its end (default: the end of the run). */
  steadyToS?: number;
}

/** The command-line options every consumer takes, `ringFlag` naming the ring size. */
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
  if (o.record) a.push("--record", o.record);
  if (o.steadyFromS) a.push("--steady-from", String(o.steadyFromS));
  if (o.steadyToS) a.push("--steady-to", String(o.steadyToS));
  return a;
}

/** A variant of the C consumer: `extra` options before the common ones. */
function cConsumer(id: string, label: string, extra: string[]): Consumer {
  return {
    id,
    label,
    family: "c",
    argv: (o) => [PROGRAMS.consumerC, ...extra, ...common(o, "--ring-size")],
  };
}

/** A variant of the Deno consumer: `extra` options after the common ones. */
function denoConsumer(id: string, label: string, extra: string[]): Consumer {
  return {
    id,
    label,
    family: "deno",
    argv: (o) => [
      Deno.execPath(),
      "run",
      "-A",
      `${ROOT}bench/deno_consumer.ts`,
      ...common(o, "--ring-bytes"),
      ...extra,
    ],
  };
}

/** The consumer whose figures the goals judge. */
export const DENO_CONSUMER = "deno-wasm";

/** Every consumer the benchmark knows, by id. */
export const CONSUMERS: Record<string, Consumer> = {
  "deno-wasm": denoConsumer(
    "deno-wasm",
    "Deno + WASM (ProfilerSession: ring mapped into WASM memory, adaptive polling asleep in the kernel; " +
      "aggregated in the WASM tables, processes captured, profile resolved at the end)",
    [],
  ),
  "deno-wasm-bare": denoConsumer(
    "deno-wasm-bare",
    "Deno + WASM consuming and checking only (--no-aggregate: no profile work)",
    ["--no-aggregate"],
  ),
  "c-libbpf": cConsumer(
    "c-libbpf",
    "C libbpf ring_buffer__poll (epoll, a wake-up per record: the usual way)",
    [],
  ),
  "c-libbpf-poll10": cConsumer(
    "c-libbpf-poll10",
    "C libbpf ring_buffer__consume every 10 ms (--poll-ms 10)",
    ["--poll-ms", "10"],
  ),
  "c-wasm2c": cConsumer(
    "c-wasm2c",
    "C + wasm2c parser (same design as Deno, native host)",
    ["--decoder", "wasm2c"],
  ),
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
export class WatchedProcess {
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

/**
 * A step the benchmark needs failed (recording ring data, a tool that
 * crashed, decoders that disagree, the CPU burner): the section that ran it
 * has no result. Not a bug in the benchmark, so not a stack trace.
 */
export class StepFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StepFailedError";
  }
}

/**
 * Why a consumer's run gave no valid measurement, or null if it did: it
 * crashed or was killed (an exit other than 0, or 1 for drops or a
 * mismatch), printed no JSON, or did not reconcile exactly.
 */
export function consumerFailure(r: ProcessResult): string | null {
  if (!r.json || (r.code !== 0 && r.code !== 1)) {
    return `exit ${r.code}: ${r.stderr.slice(-300)}`;
  }
  if (r.json.reconciled !== true) {
    return `not reconciled: ${JSON.stringify(r.json.reconciliation)}`;
  }
  return null;
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
  /** Start-up, steady window, resolution and total (cpu_costs.ts). */
  costs: RunCosts;
  detail: string;
}

/** Share of the requested rate the generator must reach for "held". */
export const REACHED_FRACTION = 0.9;

/** Consumer CPU as a share of one core over its run, from its JSON. */
export function cpuPercentOf(json: ConsumerJson | null): number {
  return json
    ? Number(json.consumer_cpu_ns) / (Number(json.elapsed_s) * 1e9) * 100
    : 0;
}

/** How a consumer and the stress generator it listened to ended. */
export interface StressRun {
  consumer: ProcessResult;
  generator: ProcessResult;
}

/** What else a stress run asks of its consumer. */
export interface StressPairOptions {
  /** Append the consumed ring bytes to this file (c-wasm2c). */
  record?: string;
  /**
   * Measure the steady window from this many seconds after attach to
   * `seconds` after it: the generator, released just after attach, is
   * still generating then, so the window holds no idle tail.
   */
  warmupS?: number;
}

/**
 * A stress generator waiting for SIGUSR1 and consumer `c` attached to it
 * (its --notify-pid releases the generator once the program is attached),
 * generating `rate` calls/s for `seconds`; the consumer runs half a second
 * longer. A consumer that fails before attaching stops the generator.
 */
export async function runStressPair(
  c: Consumer,
  rate: number,
  seconds: number,
  ringBytes: number,
  extra: StressPairOptions = {},
): Promise<StressRun> {
  const generator = new WatchedProcess([
    PROGRAMS.stressgen,
    "--rate",
    String(rate),
    "--duration",
    String(seconds),
    "--wait-signal",
    "30",
  ], (seconds + 40) * 1000);
  const consumer = new WatchedProcess(
    c.argv({
      source: "stress",
      durationS: seconds + 0.5,
      ringBytes,
      targetPid: generator.pid,
      notifyPid: generator.pid,
      record: extra.record,
      steadyFromS: extra.warmupS,
      steadyToS: extra.warmupS ? seconds : undefined,
    }),
    (seconds + 40) * 1000,
  );
  const consumed = await consumer.result();
  // Exit 0 or 1 (drops, mismatch): it ran. Anything else: it never attached.
  if (consumed.code !== 0 && consumed.code !== 1) generator.stop();
  return { consumer: consumed, generator: await generator.result() };
}

/**
 * One step of the rate ladder: consumer `c` against the stress source at
 * `rate` for `stepS` seconds, the steady window from `warmupS` after
 * attach to the end of the generator's run, classified as held, dropped,
 * not reached or failed.
 */
export async function runStressStep(
  c: Consumer,
  rate: number,
  stepS: number,
  warmupS: number,
  ringBytes: number,
): Promise<StressStep> {
  const { consumer, generator } = await runStressPair(
    c,
    rate,
    stepS,
    ringBytes,
    { warmupS },
  );
  const json = consumer.json;
  const step: StressStep = {
    consumer: c.id,
    rate,
    status: "failed",
    achievedRate: Number(generator.json?.achieved_rate ?? 0),
    consumed: Number(json?.consumed ?? 0),
    drops: Number(json?.drops ?? 0),
    reconciled: json?.reconciled === true,
    consumerCpuNs: Number(json?.consumer_cpu_ns ?? 0),
    cpuNsPerEvent: Number(json?.cpu_ns_per_event ?? 0),
    cpuPercent: cpuPercentOf(json),
    costs: runCostsOf(json),
    detail: "",
  };
  if (!json || (consumer.code !== 0 && consumer.code !== 1)) {
    step.detail = `consumer exit ${consumer.code}: ${
      consumer.stderr.slice(-300)
    }`;
    return step;
  }
  if (generator.code !== 0) {
    step.detail = `generator exit ${generator.code}: ${
      generator.stderr.slice(-200)
    }`;
    return step;
  }
  const reconciliation = json.reconciliation as Record<string, boolean>;
  const balanced = reconciliation?.consumed_equals_submitted &&
    reconciliation?.samples_balance;
  if (step.drops > 0 && balanced) {
    step.status = "dropped";
    step.detail = `${step.drops} events dropped (ring full)`;
  } else if (!step.reconciled) {
    step.detail = `not reconciled: ${JSON.stringify(reconciliation)}`;
  } else if (step.achievedRate < rate * REACHED_FRACTION) {
    step.status = "not reached";
    step.detail = `generator made ${
      Math.round(step.achievedRate)
    }/s of ${rate}/s with this consumer attached`;
  } else {
    step.status = "held";
  }
  return step;
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
 * Runs `fn` while streamprof-burn keeps every CPU busy (for at most
 * `seconds`, so a hung benchmark does not burn forever), then stops it.
 * Throws a StepFailedError if the burner failed: figures taken on idle
 * CPUs are not the ones asked for.
 */
export async function withBusyCpus<T>(
  seconds: number,
  fn: () => Promise<T>,
): Promise<T> {
  const burn = new WatchedProcess(
    [PROGRAMS.burn, "--duration", String(seconds)],
    (seconds + 50) * 1000,
  );
  let value: T;
  try {
    await sleep(300); // burners up
    value = await fn();
  } finally {
    burn.stop();
  }
  const burned = await burn.result();
  if (burned.code !== 0) {
    throw new StepFailedError(
      `streamprof-burn exit ${burned.code}: ${burned.stderr.slice(-200)}`,
    );
  }
  return value;
}
