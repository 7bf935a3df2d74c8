/**
 * `streamprof profile`: the main job. Profiles the whole machine (or one
 * process or thread), resolves every sample's stack to function names, and
 * prints the top functions (self and total, as `perf report` does), the top
 * processes and threads, and the accounting that proves nothing was lost:
 * events (produced = consumed + dropped) and stacks (every sample's user and
 * kernel stack in one named bucket). Writes folded stacks and JSON on demand.
 *
 * @example
 * ```sh
 * deno task profile --duration 10s --freq 99 --top 10 --folded out.folded
 * ```
 * @module
 */
import { parseBytes, parseDuration, parsePositiveInt } from "../common/args.ts";
import { ExitCode, UsageError } from "../common/errors.ts";
import { formatCount, formatMB, formatPercent } from "../common/format.ts";
import { optionsHelp, parseOptions } from "../common/options.ts";
import {
  checkWritable,
  type OutputFile,
  writeOutputs,
} from "../common/output_file.ts";
import { interruptSignal } from "../common/signals.ts";
import { MAX_RING_BYTES } from "../bpf/profiler_object.ts";
import { foldedStacks } from "../profile/folded.ts";
import { type ProfileRun, runProfile } from "../profile/run_profile.ts";
import { type ProfileSummary, summarize } from "../profile/summary.ts";
import { formatTable } from "../report/table.ts";

/** The options of `profile`, with their defaults. */
export const PROFILE_OPTIONS = {
  duration: {
    type: "string",
    value: "TIME",
    help: "how long to profile (e.g. 30s, 2m)",
    default: "10s",
  },
  freq: {
    type: "string",
    value: "HZ",
    help:
      "samples per second per CPU (99: an odd rate that avoids lockstep with periodic work)",
    default: "99",
  },
  pid: { type: "string", value: "PID", help: "only sample this process" },
  tid: { type: "string", value: "TID", help: "only sample this thread" },
  top: {
    type: "string",
    value: "N",
    help: "rows in each table",
    default: "10",
  },
  "no-stacks": {
    type: "boolean",
    help: "events only: no stacks, no functions (lowest overhead)",
  },
  lines: {
    type: "boolean",
    help: "resolve source lines and inlined frames (slower)",
  },
  "hardware-events": {
    type: "boolean",
    help:
      "sample on hardware cycles instead of the CPU clock (fails clearly where no PMU exists)",
  },
  "ring-bytes": {
    type: "string",
    value: "SIZE",
    help: "ring buffer size, a power of two from 4K to 1G",
    default: "8M",
  },
  folded: {
    type: "string",
    value: "FILE",
    help: "write folded stacks (flamegraph.pl, speedscope)",
  },
  json: { type: "string", value: "FILE", help: "write the result as JSON" },
  "no-status": { type: "boolean", help: "no live status line" },
} as const;

/** Usage text of `profile`. */
export const PROFILE_HELP = `Usage: streamprof profile [options]

Samples every CPU (or one process or thread) with a BPF perf_event program,
streams each sample and its user and kernel stacks through the BPF ring
buffer, resolves the stacks to function names (kernel symbols, ELF symbol
tables and debug files, JIT perf maps), and prints the top functions by self
and total samples, the top processes and threads, and the reconciliation:
produced = consumed + dropped, and every stack accounted for.

Options:
${optionsHelp(PROFILE_OPTIONS)}

Signals: Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT end the profile early:
everything is detached and the full report of what was sampled is printed
and written. Further signals during the report are ignored.

Exit codes: 0 complete (or ended early by a signal) and reconciled with no
drops, 1 drops or a mismatch, 2 usage error, 3 the environment cannot run it
(privileges, kernel, BPF object), 70 an internal error.`;

/** The parsed options. */
export interface ProfileCommandOptions {
  durationMs: number;
  frequency: number;
  pid?: number;
  tid?: number;
  top: number;
  collectStacks: boolean;
  lines: boolean;
  hardwareEvents: boolean;
  ringBytes: number;
  folded?: string;
  json?: string;
  status: boolean;
}

/** The thread group (process) of a task, from /proc; undefined if none. */
function tgidOf(id: number): number | undefined {
  try {
    const m = /^Tgid:\s*(\d+)/m.exec(
      Deno.readTextFileSync(`/proc/${id}/status`),
    );
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Parses and checks every option before anything starts. */
export function parseProfileOptions(
  args: string[],
): ProfileCommandOptions | "help" {
  const v = parseOptions(PROFILE_OPTIONS, args);
  if (v.help) return "help";
  const o: ProfileCommandOptions = {
    durationMs: parseDuration(v.duration, "--duration"),
    frequency: parsePositiveInt(v.freq, "--freq"),
    top: parsePositiveInt(v.top, "--top"),
    collectStacks: !v["no-stacks"],
    lines: v.lines,
    hardwareEvents: v["hardware-events"],
    ringBytes: parseBytes(v["ring-bytes"], "--ring-bytes", {
      powerOfTwo: true,
      min: 4096,
      max: MAX_RING_BYTES,
    }),
    folded: v.folded,
    json: v.json,
    status: !v["no-status"],
  };
  if (v.pid !== undefined) {
    o.pid = parsePositiveInt(v.pid, "--pid");
    const tgid = tgidOf(o.pid);
    if (tgid === undefined) {
      throw new UsageError(`--pid ${o.pid}: no such process`);
    }
    if (tgid !== o.pid) {
      throw new UsageError(
        `--pid ${o.pid} is a thread of process ${tgid}, not a process: use --tid ${o.pid} to sample that thread, or --pid ${tgid} for the whole process`,
      );
    }
  }
  if (v.tid !== undefined) {
    o.tid = parsePositiveInt(v.tid, "--tid");
    const tgid = tgidOf(o.tid);
    if (tgid === undefined) {
      throw new UsageError(`--tid ${o.tid}: no such thread`);
    }
    if (o.pid !== undefined && tgid !== o.pid) {
      throw new UsageError(`--tid ${o.tid} is not a thread of --pid ${o.pid}`);
    }
  }
  if (o.lines && !o.collectStacks) {
    throw new UsageError("--lines needs stacks: drop --no-stacks");
  }
  if (o.folded !== undefined) checkWritable(o.folded, "--folded");
  if (o.json !== undefined) checkWritable(o.json, "--json");
  return o;
}

/** The --json shape. */
export interface ProfileJson {
  tool: "streamprof profile";
  environment: ProfileRun["environment"];
  options: ProfileCommandOptions;
  interrupted: boolean;
  durationS: number;
  samples: number;
  functions: ProfileSummary["functions"];
  functionsByTotal: ProfileSummary["functionsByTotal"];
  processes: ProfileSummary["processes"];
  threads: ProfileSummary["threads"];
  reconciliation: ProfileRun["report"]["reconciliation"];
  counters: ProfileRun["report"]["counters"];
  consumed: ProfileRun["report"]["consumed"];
  symbolization: ProfileRun["profile"]["symbolization"] & {
    fullySymbolizedPercent: number;
  };
  resolveMs: number;
}

/** Makes the --json document of a run. */
export function profileJson(
  run: ProfileRun,
  o: ProfileCommandOptions,
): ProfileJson {
  const s = summarize(run.profile, o.top);
  const sym = run.profile.symbolization;
  return {
    tool: "streamprof profile",
    environment: run.environment,
    options: o,
    interrupted: run.interrupted,
    durationS: run.report.durationMs / 1000,
    samples: run.profile.totalSamples,
    functions: s.functions,
    functionsByTotal: s.functionsByTotal,
    processes: s.processes,
    threads: s.threads,
    reconciliation: run.report.reconciliation,
    counters: run.report.counters,
    consumed: run.report.consumed,
    symbolization: {
      ...sym,
      fullySymbolizedPercent: sym.samples
        ? (100 * sym.fullySymbolizedSamples) / sym.samples
        : 100,
    },
    resolveMs: run.resolveMs,
  };
}

/** The terminal report. */
export function renderProfile(
  run: ProfileRun,
  o: ProfileCommandOptions,
): string {
  const p = run.profile;
  const s = summarize(p, o.top);
  const r = run.report;
  const out: string[] = [];
  const who = o.tid
    ? `thread ${o.tid}`
    : o.pid
    ? `process ${o.pid}`
    : "all processes";
  out.push(
    `${run.interrupted ? "interrupted after" : "profiled"} ${
      (r.durationMs / 1000).toFixed(1)
    } s of ${who} on ${run.environment.label} at ${o.frequency} Hz on ${r.cpus.length} CPUs: ${
      formatCount(p.totalSamples)
    } samples (idle samples skipped: ${formatCount(r.counters.idleSkipped)})`,
    "",
  );
  const fnRows = (list: ProfileSummary["functions"]) =>
    list.map((f) => [
      f.selfPercent.toFixed(1),
      formatCount(f.self),
      f.totalPercent.toFixed(1),
      formatCount(f.total),
      f.name,
      f.module,
    ]);
  const fnHeader = ["self %", "self", "total %", "total", "function", "module"];
  if (o.collectStacks) {
    out.push(
      `Top functions by self samples (as perf report --no-children)\n${
        formatTable(fnHeader, fnRows(s.functions))
      }`,
      "",
      `Top functions by total samples (as perf report --children)\n${
        formatTable(fnHeader, fnRows(s.functionsByTotal))
      }`,
      "",
    );
  }
  out.push(
    `Top processes\n${
      formatTable(
        ["pid", "command", "samples", "%"],
        s.processes.map((x) => [
          String(x.pid),
          x.comm,
          formatCount(x.samples),
          x.percent.toFixed(1),
        ]),
      )
    }`,
    "",
    `Top threads\n${
      formatTable(
        ["pid", "tid", "thread", "samples", "%"],
        s.threads.map((x) => [
          String(x.pid),
          String(x.tid),
          x.thread,
          formatCount(x.samples),
          x.percent.toFixed(1),
        ]),
      )
    }`,
    "",
    r.reconciliation.line,
  );
  if (r.reconciliation.stackLine) out.push(r.reconciliation.stackLine);
  if (o.collectStacks) {
    const sym = p.symbolization;
    const unnamed = Object.entries(sym.unnamedFrames)
      .map(([k, n]) => `${k} ${n}`).join(", ");
    out.push(
      `symbolized: ${
        formatPercent(sym.fullySymbolizedSamples, sym.samples)
      } of samples have every frame named${
        unnamed ? `; unnamed distinct frames: ${unnamed}` : ""
      }; symbol caches ${formatMB(sym.cacheBytes)}; resolved in ${
        run.resolveMs.toFixed(0)
      } ms`,
    );
    if (sym.kernelWarning) out.push(`kernel symbols: ${sym.kernelWarning}`);
  }
  return out.join("\n");
}

/** Runs `profile` with command-line arguments; returns the exit code. */
export async function profileCommand(args: string[]): Promise<number> {
  const o = parseProfileOptions(args);
  if (o === "help") {
    console.log(PROFILE_HELP);
    return ExitCode.OK;
  }
  const interrupt = interruptSignal();
  const live = o.status && Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  console.error(
    `profile: sampling ${
      o.tid ? `thread ${o.tid}` : o.pid ? `process ${o.pid}` : "all processes"
    } at ${o.frequency} Hz for ${o.durationMs / 1000} s${
      o.collectStacks ? " with stacks" : ""
    } (Ctrl-C to stop early)`,
  );
  const run = await runProfile({
    durationMs: o.durationMs,
    frequency: o.frequency,
    targetPid: o.pid,
    targetTid: o.tid,
    hardwareEvents: o.hardwareEvents,
    ringBytes: o.ringBytes,
    collectStacks: o.collectStacks,
    lines: o.lines,
    signal: interrupt.signal,
    onStatus: live
      ? (st) => {
        const m = Deno.memoryUsage();
        const el = st.elapsedMs / 1000;
        Deno.stderr.writeSync(enc.encode(
          `\r\x1b[K${el.toFixed(1)} s | ${
            Math.round(st.events / el)
          } events/s | ${st.events} events | drops ${st.drops} | heap ${
            formatMB(m.heapUsed)
          } rss ${formatMB(m.rss)}`,
        ));
      }
      : undefined,
  });
  if (live) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  console.log(renderProfile(run, o));
  const files: OutputFile[] = [];
  if (o.folded) {
    files.push({
      what: "--folded",
      path: o.folded,
      data: () => foldedStacks(run.profile),
    });
  }
  if (o.json) {
    files.push({
      what: "--json",
      path: o.json,
      data: () => JSON.stringify(profileJson(run, o), null, 2) + "\n",
    });
  }
  const errors = await writeOutputs(files);
  for (const e of errors) console.error(`profile: ${e}`);
  if (!run.report.reconciliation.ok) return ExitCode.FAILED;
  return errors.length ? ExitCode.ENVIRONMENT : ExitCode.OK;
}
