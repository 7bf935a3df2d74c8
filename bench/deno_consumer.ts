/**
 * The Deno+WASM consumer as a command line twin of
 * `harness-c/build/streamprof-consumer-c`, for the side-by-side benchmark
 * (bench/e2e.ts): the same options, the same per-event checks and the same
 * JSON fields, with a `ProfilerSession` (ring mapped into the WASM parser's
 * memory, adaptive polling with the thread asleep in the kernel between
 * polls: ProfilerSession.consumeFor) doing the consuming.
 *
 *   deno run -A bench/deno_consumer.ts --source stress --target-pid P \
 *     [--duration S] [--ring-bytes 8M] [--freq HZ] [--notify-pid P] \
 *     [--steady-from S [--steady-to S]] [--no-resolve] [--no-aggregate]
 *
 * Every decoded event goes through the checks the C consumer makes (valid
 * cpu, known flags, pid filter, stack flags only with frames, a stack id
 * that agrees with the flags and, with the parser's tables, names a stack
 * of the event's process or the kernel; per-CPU time order), reading the
 * parser's batch area in place, and its stacks are tallied by outcome
 * (resolved, truncated, empty, fault) and frames. The tally is checked
 * against the kernel's stack counters with the equations of
 * lib/profiler/reconcile.ts, and against the walk statistics the session
 * reconciled with.
 *
 * It also does a profile's whole work, as `runProfile`
 * (lib/profile/run_profile.ts) does: every event aggregated in the
 * parser's WASM tables (the stress source too, whose events carry no
 * frames but still have a key), every new process named and captured by a
 * `Symbolizer` after each walk, and after the run the session's profile
 * resolved (`resolveProfile`). That is what a profiler costs, so that is
 * what is measured; `--no-resolve` and `--no-aggregate` leave the work out.
 * Resolution comes after the run and is reported on its own ("resolve"),
 * as are the start-up ("startup_cpu_ns", spawn to attach) and, with
 * --steady-from, the steady window ("steady", see bench/e2e/cpu_costs.ts).
 *
 * Exit status: 0 reconciled and nothing dropped, 1 drops or mismatch, 2 usage
 * error, 3 the session could not start (privileges, BPF object, kernel),
 * 70 a bug. SIGINT, SIGTERM, SIGHUP and SIGQUIT stop it early; the JSON is
 * still printed.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseConsumerOptions } from "./deno_consumer.ts";
 * const o = parseConsumerOptions(["--source", "stress", "--target-pid", "1234", "--duration", "3"]);
 * assert.ok(o !== null);
 * assert.equal(o.durationS, 3);
 * assert.equal(o.ringBytes, 8 << 20);
 * assert.equal(o.aggregate && o.resolve, true); // the profile's work, by default
 * assert.equal(o.steadyFromS, null);
 * assert.throws(() => parseConsumerOptions(["--source", "stress"]), /needs --target-pid/);
 * assert.throws(() => parseConsumerOptions(["--steady-from", "6"]), /before the end/);
 * ```
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import {
  parseBytes,
  parseDuration,
  parsePositiveInt,
  parsePositiveNumber,
} from "../lib/common/args.ts";
import { runMain } from "../lib/common/command.ts";
import { possibleCpus } from "../lib/common/cpus.ts";
import { UsageError } from "../lib/common/errors.ts";
import { interruptSignal, sleep } from "../lib/common/signals.ts";
import { median } from "../lib/common/stats.ts";
import type { ProfilerCounters } from "../lib/bpf/profiler_object.ts";
import {
  EVENT_OFFSETS as O,
  EVENT_SIZE,
  EventFlags,
  STACK_DEPTH,
  StackId,
} from "../lib/parser/layout.ts";
import type { StackOutcomes } from "../lib/parser/walk_stats.ts";
import {
  DEFAULT_TABLES,
  type ProfileParser,
} from "../lib/parser/wasm_parser.ts";
import { stackProblems } from "../lib/profiler/reconcile.ts";
import { ProfilerSession } from "../lib/profiler/session.ts";
import {
  type CpuMark,
  processCpuNs,
  steadyJson,
  takeMark,
} from "./e2e/cpu_costs.ts";
import { RING_BYTES_RULE } from "./e2e/consumers.ts";
import { ProfileWork, type ResolveJson } from "./profile_work.ts";

const NAME = "deno-wasm-consumer";
/** The flags about stacks, which only a record with frames may carry. */
const STACK_FLAGS = EventFlags.USER_TRUNCATED | EventFlags.KERNEL_TRUNCATED |
  EventFlags.USER_STACK_ERROR | EventFlags.KERNEL_STACK_ERROR;
const KNOWN_FLAGS = STACK_FLAGS | EventFlags.FRAMES;
/** The batch area in u32 words: one event, and each field's word. */
const EVENT_WORDS = EVENT_SIZE / 4;
const W = {
  tsLo: O.timestampNs / 4,
  tsHi: O.timestampNs / 4 + 1,
  pid: O.pid / 4,
  tid: O.tid / 4,
  user: O.userStackId / 4,
  kernel: O.kernelStackId / 4,
  cpu: O.cpu / 4,
  flags: O.flags / 4,
} as const;

/** Usage text of the command. */
export const USAGE = `Usage: deno run -A bench/deno_consumer.ts [options]

Load streamprof's BPF object, consume its ring with a ProfilerSession (the
ring mapped into the WASM parser's memory, adaptive polling), reconcile with
the kernel's counters and print one JSON object with the same fields as
harness-c/build/streamprof-consumer-c.

  --source perf|stress   perf: CPU sampling (default); stress: one event per
                         system call of --target-pid
  --freq HZ              samples per second per CPU (default 1000)
  --duration T           how long to consume: seconds (fractions allowed),
                         or 500ms, 1m (default 5)
  --target-pid PID       only this process (required for --source stress)
  --ring-bytes BYTES     ring size, a power of two from 4K to 1G; K/M/G
                         suffixes (default 8M; --ring-size is the same)
  --notify-pid PID       send SIGUSR1 to PID once attached
  --memory-interval MS   sample V8 heap usage every MS ms (default 1000)
  --steady-from T        report the steady state ("steady"): the events
                         consumed and the CPU used from T after attach
                         (start-up and warm-up left out) to --steady-to
  --steady-to T          end of that window, after attach (default: the
                         end of --duration; the drain is never in it)
  --no-resolve           do not name processes, capture their symbols or
                         resolve the profile after the run
  --no-aggregate         do not aggregate in the WASM tables either (and
                         so resolve nothing): consume and check only
  -h, --help             this text`;

/** What one run printed and how it ended. */
export interface ConsumerRun {
  /** The JSON object (also printed on stdout by the CLI). */
  json: Record<string, unknown>;
  /** Exit status: 0 ok, 1 drops or mismatch. */
  status: number;
}

/** Largest process id (pid_max can be at most 2^22). */
const MAX_PID = 0x7fffffff;

/** The command line, checked. */
export interface ConsumerOptions {
  source: "perf" | "stress";
  freq: number;
  durationS: number;
  /** 0: every process. */
  targetPid: number;
  ringBytes: number;
  /** 0: nobody. */
  notifyPid: number;
  memoryIntervalMs: number;
  /** The steady window, seconds after attach (null: none). */
  steadyFromS: number | null;
  /** Its end (with steadyFromS; null: the end of the duration). */
  steadyToS: number | null;
  /** Aggregate every event in the WASM tables. */
  aggregate: boolean;
  /** Name and capture processes, resolve the profile after the run. */
  resolve: boolean;
}

/** Parses the command line; null for --help. Throws a UsageError. */
export function parseConsumerOptions(args: string[]): ConsumerOptions | null {
  const { values } = parseArgs({
    args,
    options: {
      source: { type: "string", default: "perf" },
      freq: { type: "string", default: "1000" },
      duration: { type: "string", default: "5" },
      "target-pid": { type: "string" },
      "ring-bytes": { type: "string", default: "8M" },
      "ring-size": { type: "string" },
      "notify-pid": { type: "string" },
      "memory-interval": { type: "string", default: "1000" },
      "steady-from": { type: "string" },
      "steady-to": { type: "string" },
      "no-resolve": { type: "boolean", default: false },
      "no-aggregate": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return null;
  const source = values.source;
  if (source !== "perf" && source !== "stress") {
    throw new UsageError(`--source must be perf or stress, got "${source}"`);
  }
  const pid = (text: string | undefined, what: string) =>
    text === undefined ? 0 : parsePositiveInt(text, what, MAX_PID);
  const seconds = (text: string | undefined, what: string) =>
    text === undefined ? null : parseDuration(text, what) / 1000;
  const aggregate = !values["no-aggregate"];
  const o: ConsumerOptions = {
    source,
    freq: parsePositiveInt(values.freq!, "--freq"),
    durationS: parseDuration(values.duration!, "--duration") / 1000,
    targetPid: pid(values["target-pid"], "--target-pid"),
    ringBytes: values["ring-size"] !== undefined
      ? parseBytes(values["ring-size"], "--ring-size", RING_BYTES_RULE)
      : parseBytes(values["ring-bytes"]!, "--ring-bytes", RING_BYTES_RULE),
    notifyPid: pid(values["notify-pid"], "--notify-pid"),
    memoryIntervalMs: parsePositiveNumber(
      values["memory-interval"]!,
      "--memory-interval",
    ),
    steadyFromS: seconds(values["steady-from"], "--steady-from"),
    steadyToS: seconds(values["steady-to"], "--steady-to"),
    aggregate,
    // Nothing aggregated, nothing to resolve.
    resolve: aggregate && !values["no-resolve"],
  };
  if (o.source === "stress" && o.targetPid === 0) {
    throw new UsageError("--source stress needs --target-pid");
  }
  checkSteadyWindow(o);
  return o;
}

/** The steady window's rules (harness-c/consumer.c checks the same). */
function checkSteadyWindow(o: ConsumerOptions): void {
  const { steadyFromS: from, steadyToS: to, durationS } = o;
  if (to !== null && from === null) {
    throw new UsageError("--steady-to needs --steady-from");
  }
  const end = to ?? durationS;
  if (from !== null && from >= end) {
    throw new UsageError(
      `--steady-from ${from} must come before the end of the window (${end} s)`,
    );
  }
  if (to !== null && to > durationS) {
    throw new UsageError(
      `--steady-to ${to} is after the end of --duration ${durationS}`,
    );
  }
}

/** Entries of the per-CPU tables: every CPU that may ever come online. */
function possibleCpuCount(): number {
  try {
    return Math.max(...possibleCpus()) + 1;
  } catch {
    return navigator.hardwareConcurrency;
  }
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function countersJson(c: ProfilerCounters): Record<string, number> {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [snake(k), v]));
}

/** One kind of stack, tallied from the events handed on. */
interface StackTally extends StackOutcomes {
  frames: number;
}

const noStacks = (): StackTally => ({
  resolved: 0,
  truncated: 0,
  empty: 0,
  fault: 0,
  frames: 0,
});

/**
 * The per-event checks of consumer.c (its wasm2c decoder's batch checks), on
 * the batch area in place.
 */
class Tally {
  consumed = 0;
  badContent = 0;
  noFrames = 0;
  withFrames = 0;
  readonly user = noStacks();
  readonly kernel = noStacks();
  timeRegressions = 0;
  readonly perCpu: Float64Array;
  readonly lastTs: Float64Array;
  #u32: Uint32Array | null = null;
  #i32: Int32Array | null = null;

  constructor(readonly possible: number, readonly targetPid: number) {
    this.perCpu = new Float64Array(possible);
    this.lastTs = new Float64Array(possible);
  }

  /**
   * One stack of an event the parser handed on: a stack table id (the
   * session's parser has tables; the id is valid during onBatch) or, without
   * tables, the frame count; or a StackId sentinel. Counts its outcome;
   * false if the id and the flags disagree, or the id names no stack of
   * this kind (a user stack of the event's process, a kernel stack: -1).
   */
  #stack(
    p: ProfileParser,
    id: number,
    pid: number,
    flags: number,
    errorFlag: number,
    truncatedFlag: number,
    o: StackTally,
  ): boolean {
    const truncated = (flags & truncatedFlag) !== 0;
    if (id === StackId.FAULT) {
      o.fault++;
      return (flags & errorFlag) !== 0 && !truncated;
    }
    if (id === StackId.EMPTY) {
      o.empty++;
      return (flags & (errorFlag | truncatedFlag)) === 0;
    }
    if (truncated) o.truncated++;
    else o.resolved++;
    let n = id;
    if (p.hasTables) {
      if (!(id >= 0 && id < p.stackCount) || p.stackPid(id) !== pid) {
        return false;
      }
      n = p.stackLength(id);
    }
    o.frames += n;
    return n >= 1 && n <= STACK_DEPTH && (flags & errorFlag) === 0 &&
      truncated === (n === STACK_DEPTH);
  }

  /** RingReader's onBatch: check every event of the walk's batch. */
  onBatch = (p: ProfileParser): void => {
    if (this.#u32 === null) {
      // The memory never grows after init (the ring is mmap'ed over a span
      // it reserved), so views made once stay valid for the session.
      this.#u32 = new Uint32Array(p.memory.buffer);
      this.#i32 = new Int32Array(p.memory.buffer);
    }
    const u32 = this.#u32, i32 = this.#i32!;
    const n = p.batchLength;
    let w = p.batchOffset >>> 2;
    const { possible, targetPid, perCpu, lastTs } = this;
    for (let i = 0; i < n; i++, w += EVENT_WORDS) {
      this.consumed++;
      const cpu = u32[w + W.cpu];
      const flags = u32[w + W.flags];
      const pid = i32[w + W.pid];
      let ok = true;
      if (flags & EventFlags.FRAMES) {
        this.withFrames++;
        ok = this.#stack(
          p,
          i32[w + W.user],
          pid,
          flags,
          EventFlags.USER_STACK_ERROR,
          EventFlags.USER_TRUNCATED,
          this.user,
        );
        ok = this.#stack(
          p,
          i32[w + W.kernel],
          -1,
          flags,
          EventFlags.KERNEL_STACK_ERROR,
          EventFlags.KERNEL_TRUNCATED,
          this.kernel,
        ) && ok;
      } else {
        this.noFrames++;
        ok = (flags & STACK_FLAGS) === 0;
      }
      if (
        !ok || cpu >= possible || (flags & ~KNOWN_FLAGS) !== 0 ||
        (targetPid !== 0 && pid !== targetPid)
      ) {
        this.badContent++;
        continue;
      }
      perCpu[cpu]++;
      // Nanoseconds since boot stay far below 2^53: a double is exact.
      const ts = u32[w + W.tsHi] * 4294967296 + u32[w + W.tsLo];
      if (ts < lastTs[cpu]) this.timeRegressions++;
      lastTs[cpu] = ts;
    }
  };
}

const outcomesJson = (o: StackOutcomes, frames: number) => ({
  resolved: o.resolved,
  truncated: o.truncated,
  empty: o.empty,
  fault: o.fault,
  frames,
});

/**
 * This process's own peak RSS (VmHWM) in KiB. `maxRSS` (getrusage) is not
 * it: exec carries the parent's peak over, so a consumer started by a large
 * process would report the parent's size.
 */
function vmHwmKib(): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(
      Deno.readTextFileSync("/proc/self/status"),
    );
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Whether `pid` blocks or catches SIGUSR1 yet (SigBlk/SigCgt of its
 * /proc/PID/status; SIGUSR1 is signal 10): a freshly started generator may
 * not have set that up, and the default action would kill it. Null: gone.
 */
function usr1Ready(pid: number): boolean | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const bit = 1n << 9n;
  return ["SigBlk", "SigCgt"].some((k) => {
    const m = new RegExp(`^${k}:\\s+([0-9a-f]+)`, "m").exec(text);
    return m !== null && (BigInt(`0x${m[1]}`) & bit) !== 0n;
  });
}

/** --notify-pid: SIGUSR1 once the target is ready for it (at most 2 s). */
async function notify(pid: number): Promise<void> {
  let ready = usr1Ready(pid);
  for (let i = 0; i < 2000 && ready === false; i++) {
    await sleep(1);
    ready = usr1Ready(pid);
  }
  if (ready !== true) {
    console.error(
      `${NAME}: --notify-pid ${pid}: ${
        ready === null
          ? "no such process"
          : "it never blocked or caught SIGUSR1; not sent"
      }`,
    );
    return;
  }
  try {
    Deno.kill(pid, "SIGUSR1");
  } catch (err) {
    console.error(`${NAME}: --notify-pid ${pid}: ${err}`);
  }
}

/**
 * Waits out the run (`durationS` after attach at `t0`, or until `signal`)
 * while the session consumes, taking the steady window's marks on time:
 * the marks, or null without --steady-from or when stopped before it.
 * Each mark is taken between two polls (after a consumeFor returned,
 * before the next starts), so `consumed()` cannot move while the mark
 * reads the clocks.
 */
async function waitOutRun(
  o: ConsumerOptions,
  session: ProfilerSession,
  t0: number,
  consumed: () => number,
  signal: AbortSignal,
): Promise<[CpuMark, CpuMark] | null> {
  const at = () => (performance.now() - t0) / 1000;
  // Until `s` has passed, the session polling with this thread asleep in
  // the kernel between polls, as `profile` does (see consumeFor; the C
  // consumer sleeps the same way). Looped: a wait may end a little early.
  const until = async (s: number) => {
    while (!signal.aborted && at() < s) {
      await session.consumeFor(s * 1000 - (performance.now() - t0), {
        signal,
      });
    }
  };
  if (o.steadyFromS === null) {
    await until(o.durationS);
    return null;
  }
  await until(o.steadyFromS);
  if (signal.aborted) return null;
  const from = takeMark(true, at(), consumed());
  await until(o.steadyToS ?? o.durationS);
  const to = takeMark(false, at(), consumed());
  await until(o.durationS);
  return [from, to];
}

/**
 * Runs the consumer and returns its JSON object and exit status. Throws
 * when the session cannot start.
 */
export async function runDenoConsumer(
  o: ConsumerOptions,
): Promise<ConsumerRun> {
  const work = o.resolve ? new ProfileWork() : null;
  try {
    return await consume(o, work);
  } finally {
    work?.close();
  }
}

/** runDenoConsumer, with the profile work to do (null: none). */
async function consume(
  o: ConsumerOptions,
  work: ProfileWork | null,
): Promise<ConsumerRun> {
  const { source, freq, durationS, targetPid, ringBytes, notifyPid } = o;
  const possible = possibleCpuCount();
  const tally = new Tally(possible, targetPid);
  const wallStart = Date.now();
  const session = await ProfilerSession.start({
    source: source === "stress" ? "stress" : "profiler",
    frequency: freq,
    targetPid: targetPid || undefined,
    ringBytes,
    aggregate: o.aggregate,
    // The session aggregates the stress source only with its tables named.
    tables: o.aggregate ? DEFAULT_TABLES : undefined,
    onBatch: tally.onBatch,
    onWalk: work?.noteNewKeys,
  });
  // Attached: all CPU so far (runtime, modules, WASM, BPF load) is
  // start-up. As in the C consumer, the whole-run figure counts from here.
  const cpu0 = processCpuNs();
  const t0 = performance.now();
  if (notifyPid) await notify(notifyPid);

  const interrupt = interruptSignal();
  const heap: number[] = [];
  const sampler = setInterval(
    () => heap.push(Deno.memoryUsage().heapUsed),
    o.memoryIntervalMs,
  );
  let marks: [CpuMark, CpuMark] | null;
  try {
    marks = await waitOutRun(
      o,
      session,
      t0,
      () => tally.consumed,
      interrupt.signal,
    );
  } finally {
    clearInterval(sampler);
  }
  const interrupted = interrupt.interrupted();
  const elapsedS = (performance.now() - t0) / 1000;
  // stop() closes the object, so the per-CPU split is read just before it
  // (informational: the exact totals are the counters stop() reads).
  const perCpuCounters = session.object.readPerCpuCounters();
  const report = await session.stop();
  const cpuUsed = processCpuNs() - cpu0;
  const mem = Deno.memoryUsage();
  // After the run, as runProfile: every distinct stack resolved once. The
  // profile is stop()'s, which holds the drain's events too (takeProfile()
  // before stop() would leave those to the next interval's profile).
  const resolved: ResolveJson | null = work && report.profile
    ? work.resolve(report.profile, {
      startTimeNs: wallStart * 1e6,
      durationNs: report.durationMs * 1e6,
      frequencyHz: source === "perf" ? freq : 0,
      cpus: report.cpus.length,
      targetPid: targetPid || null,
      targetTid: null,
    }, report.reconciliation)
    : null;

  const k = report.counters;
  const c = report.consumed; // the walk statistics, totalled by the reader
  const consumedOk = tally.consumed === k.eventsSubmitted &&
    c.events === k.eventsSubmitted;
  const balanceOk = k.samplesSeen ===
    k.idleSkipped + k.filtered + k.reserveFailed + k.eventsSubmitted;
  // The stacks: the walk statistics against the kernel (what the session
  // reconciled) and, as consumer.c does, the events handed on against both.
  const mine = {
    events: tally.consumed,
    noFrames: tally.noFrames,
    userStacks: tally.user,
    kernelStacks: tally.kernel,
    userFrames: tally.user.frames,
    kernelFrames: tally.kernel.frames,
  };
  const stackIssues = [
    ...stackProblems(k, c),
    ...stackProblems(k, mine).map((p) => `events handed on: ${p}`),
  ];
  const stacksOk = c.noFrames + (c.events - c.noFrames) === k.eventsSubmitted &&
    stackIssues.length === 0;
  const walkOk = tally.noFrames === c.noFrames &&
    tally.withFrames === c.events - c.noFrames &&
    JSON.stringify(outcomesJson(tally.user, tally.user.frames)) ===
      JSON.stringify(outcomesJson(c.userStacks, c.userFrames)) &&
    JSON.stringify(outcomesJson(tally.kernel, tally.kernel.frames)) ===
      JSON.stringify(outcomesJson(c.kernelStacks, c.kernelFrames));
  // Every consumed sample in the session's profile exactly once.
  const aggregated = report.profile?.totalSamples ?? null;
  const aggregateOk = aggregated === null || aggregated === c.events;
  // And every one of them in the resolved profile.
  const resolveOk = resolved === null || resolved.samples === c.events;
  const contentOk = tally.badContent === 0 && c.malformed === 0;
  const activeOk = source !== "perf" || k.samplesSeen > 0 ||
    freq * elapsedS * report.cpus.length < 100;
  const drops = k.reserveFailed;
  const reconciled = consumedOk && balanceOk && stacksOk && contentOk &&
    activeOk && walkOk && aggregateOk && resolveOk &&
    report.reconciliation.balanced;
  // Steady heap: the median of the samples after the first quarter of the
  // run (start-up garbage and JIT warm-up excluded).
  const steady = heap.slice(Math.floor(heap.length / 4));

  const json: Record<string, unknown> = {
    consumer: NAME,
    source,
    bpf_object: session.object.path,
    freq: source === "perf" ? freq : null,
    event: source === "perf" ? "cpu-clock" : "raw_tp/sys_enter",
    duration_s: durationS,
    elapsed_s: Number(elapsedS.toFixed(6)),
    cpus: report.cpus.length,
    possible_cpus: possible,
    target_pid: targetPid,
    ring_size: ringBytes,
    decoder: "wasm",
    poll: "adaptive",
    poll_ms: 0,
    walks: c.walks,
    busy_stops: c.busyStops,
    discarded: c.discarded,
    malformed: c.malformed,
    wasm_own_bytes: session.parser.ownBytes,
    wasm_memory_bytes: session.parser.memory.buffer.byteLength,
    tables: session.parser.tableCapacity,
    aggregate: report.profile !== null,
    table_cuts: c.tableCuts,
    aggregated: aggregated ?? 0,
    counters: countersJson(k),
    consumed: tally.consumed,
    bad_size: c.malformed,
    bad_content: tally.badContent,
    events_per_s: Number((tally.consumed / elapsedS).toFixed(1)),
    samples_per_s: Number((k.samplesSeen / elapsedS).toFixed(1)),
    events_per_cpu: [...tally.perCpu],
    samples_per_cpu: perCpuCounters.map((c) => c.samplesSeen),
    stacks: {
      with_frames: c.events - c.noFrames,
      no_frames: c.noFrames,
      user: outcomesJson(c.userStacks, c.userFrames),
      kernel: outcomesJson(c.kernelStacks, c.kernelFrames),
    },
    stack_problems: stackIssues,
    per_cpu_time_regressions: tally.timeRegressions,
    // Not read by the Deno library; the C consumer adds it to drops.
    prog_recursion_misses: null,
    drops,
    reconciled,
    reconciliation: {
      consumed_equals_submitted: consumedOk,
      samples_balance: balanceOk,
      stacks_match: stacksOk,
      content_valid: contentOk,
      program_ran: activeOk,
      events_match_walk: walkOk,
      every_event_aggregated: aggregateOk,
      every_event_resolved: resolveOk,
    },
    reconciliation_line: report.reconciliation.line,
    stack_line: report.reconciliation.stackLine,
    consumer_cpu_ns: cpuUsed,
    cpu_ns_per_event: tally.consumed
      ? Number((cpuUsed / tally.consumed).toFixed(1))
      : 0,
    // As harness-c/cpu_mark.c: start-up, the window, resolution, spawn to now.
    startup_cpu_ns: cpu0,
    steady: marks ? steadyJson(marks[0], marks[1]) : null,
    resolve: resolved,
    total_cpu_ns: processCpuNs(),
    peak_rss_kib: process.resourceUsage().maxRSS,
    vm_hwm_kib: vmHwmKib(),
    heap_used_bytes: steady.length ? median(steady) : 0,
    heap_used_max_bytes: Math.max(0, ...heap, mem.heapUsed),
    heap_total_bytes: mem.heapTotal,
    external_bytes: mem.external,
    interrupted,
  };
  return { json, status: reconciled && drops === 0 ? 0 : 1 };
}

async function main(args: string[]): Promise<number> {
  const options = parseConsumerOptions(args);
  if (options === null) {
    console.log(USAGE);
    return 0;
  }
  const run = await runDenoConsumer(options);
  console.log(JSON.stringify(run.json));
  const j = run.json;
  console.error(
    `${NAME}: ${j.consumed} events in ${
      (j.elapsed_s as number).toFixed(2)
    } s, ${j.reconciled ? "reconciled" : "NOT reconciled"}, ${j.drops} dropped`,
  );
  return run.status;
}

if (import.meta.main) {
  Deno.exit(
    await runMain(NAME, () => main(Deno.args), "bench/deno_consumer.ts"),
  );
}
