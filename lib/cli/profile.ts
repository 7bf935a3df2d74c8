/**
 * `streamprof profile`: the main job. Profiles the whole machine (or one
 * process) and prints the top processes and threads by samples, with the
 * reconciliation line that proves nothing was lost.
 *
 * @example
 * ```sh
 * deno task profile --duration 10s --freq 99 --top 10
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { parseBytes, parseDuration, parsePositiveInt } from "../common/args.ts";
import { ExitCode, UsageError } from "../common/errors.ts";
import { formatMB } from "../common/format.ts";
import { interruptSignal, sleep } from "../common/signals.ts";
import { describeEnvironment } from "../common/environment.ts";
import type { ProfileParser } from "../parser/wasm_parser.ts";
import { ProfilerSession, type SessionReport } from "../profiler/session.ts";
import { formatTable } from "../report/table.ts";

/** Usage text of `profile`. */
export const PROFILE_HELP = `Usage: streamprof profile [options]

Samples every CPU (or one process) with a BPF perf_event program, streams the
samples through the BPF ring buffer, and prints the top processes and threads
by samples and the reconciliation of produced = consumed + dropped. Ctrl-C
ends it early with a complete summary.

Options:
  --duration TIME     how long to profile (default 10s; e.g. 30s, 2m)
  --freq HZ           samples per second per CPU (default 99: an odd rate
                      that avoids lockstep with periodic work)
  --pid PID           only sample this process
  --top N             rows in each table (default 10)
  --hardware-events   sample on hardware cycles instead of the CPU clock
                      (fails clearly where no PMU exists)
  --ring-bytes SIZE   ring buffer size, power of two (default 8M)
  --json FILE         write the result as JSON
  --no-status         no live status line
  -h, --help          this text

Exit codes: 0 complete and reconciled with no drops, 1 drops or a mismatch,
2 usage error, 3 the environment cannot run it.`;

interface Tally {
  samples: number;
  comm: string;
}

function readComm(path: string): string {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return "?";
  }
}

/** Result of a profile run (the --json shape). */
export interface ProfileResult {
  tool: "streamprof profile";
  environment: ReturnType<typeof describeEnvironment>;
  frequencyHz: number;
  targetPid: number | null;
  interrupted: boolean;
  durationS: number;
  samples: number;
  processes: { pid: number; comm: string; samples: number; percent: number }[];
  threads: {
    pid: number;
    tid: number;
    comm: string;
    samples: number;
    percent: number;
  }[];
  report: SessionReport;
}

/** Runs `profile` with command-line arguments; returns the exit code. */
export async function profileCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string" },
      freq: { type: "string" },
      pid: { type: "string" },
      top: { type: "string" },
      "hardware-events": { type: "boolean" },
      "ring-bytes": { type: "string" },
      json: { type: "string" },
      "no-status": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(PROFILE_HELP);
    return ExitCode.OK;
  }
  const durationMs = parseDuration(values.duration ?? "10s", "--duration");
  const freq = values.freq ? parsePositiveInt(values.freq, "--freq") : 99;
  const pid = values.pid ? parsePositiveInt(values.pid, "--pid") : undefined;
  const top = values.top ? parsePositiveInt(values.top, "--top") : 10;
  const ringBytes = values["ring-bytes"]
    ? parseBytes(values["ring-bytes"], "--ring-bytes")
    : undefined;
  if (pid !== undefined) {
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch {
      throw new UsageError(`--pid ${pid}: no such process`);
    }
  }

  const processes = new Map<number, Tally>();
  const threads = new Map<number, Tally & { pid: number }>();
  // Aggregate straight from the parser's batch area: no object per event.
  const onBatch = (p: ProfileParser) => {
    const n = p.batchLength;
    for (let i = 0; i < n; i++) {
      const pr = p.batchPid(i);
      const th = p.batchTid(i);
      let a = processes.get(pr);
      if (!a) {
        processes.set(
          pr,
          a = { samples: 0, comm: readComm(`/proc/${pr}/comm`) },
        );
      }
      a.samples++;
      let t = threads.get(th);
      if (!t) {
        threads.set(
          th,
          t = {
            pid: pr,
            samples: 0,
            comm: readComm(`/proc/${pr}/task/${th}/comm`),
          },
        );
      }
      t.samples++;
    }
  };

  const interrupt = interruptSignal();
  const environment = describeEnvironment();
  let session: ProfilerSession;
  try {
    session = await ProfilerSession.start({
      frequency: freq,
      targetPid: pid,
      hardwareEvents: values["hardware-events"],
      ringBytes,
      onBatch,
    });
  } catch (err) {
    throw err;
  }
  const live = !values["no-status"] && Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  console.error(
    `profile: sampling ${
      pid ? `pid ${pid}` : "all processes"
    } on ${session.cpus.length} CPUs at ${freq} Hz for ${
      durationMs / 1000
    } s (Ctrl-C to stop early)`,
  );
  const t0 = performance.now();
  let report: SessionReport;
  try {
    while (performance.now() - t0 < durationMs && !interrupt.signal.aborted) {
      await sleep(
        Math.min(500, durationMs - (performance.now() - t0)),
        interrupt.signal,
      );
      if (live) {
        const el = (performance.now() - t0) / 1000;
        const c = session.counters();
        const m = Deno.memoryUsage();
        Deno.stderr.writeSync(enc.encode(
          `\r\x1b[K${el.toFixed(1)} s | ${
            Math.round(session.reader.totals.events / el)
          } events/s | ${session.reader.totals.events} events | drops ${c.reserveFailed} | heap ${
            formatMB(m.heapUsed)
          } rss ${formatMB(m.rss)}`,
        ));
      }
    }
  } finally {
    report = await session.stop();
    if (live) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  }
  const total = report.consumed.events;
  const pct = (n: number) => total ? (100 * n) / total : 0;
  const result: ProfileResult = {
    tool: "streamprof profile",
    environment,
    frequencyHz: freq,
    targetPid: pid ?? null,
    interrupted: interrupt.interrupted(),
    durationS: report.durationMs / 1000,
    samples: total,
    processes: [...processes].sort((a, b) => b[1].samples - a[1].samples).slice(
      0,
      top,
    )
      .map(([pid, t]) => ({
        pid,
        comm: t.comm,
        samples: t.samples,
        percent: pct(t.samples),
      })),
    threads: [...threads].sort((a, b) => b[1].samples - a[1].samples).slice(
      0,
      top,
    )
      .map(([tid, t]) => ({
        pid: t.pid,
        tid,
        comm: t.comm,
        samples: t.samples,
        percent: pct(t.samples),
      })),
    report,
  };
  console.log(
    `${result.interrupted ? "interrupted after" : "profiled"} ${
      result.durationS.toFixed(1)
    } s on ${environment.label}: ${total} samples (idle samples skipped: ${report.counters.idleSkipped})\n`,
  );
  console.log(`Top processes\n${
    formatTable(
      ["pid", "command", "samples", "%"],
      result.processes.map((
        p,
      ) => [String(p.pid), p.comm, String(p.samples), p.percent.toFixed(1)]),
    )
  }\n`);
  console.log(`Top threads\n${
    formatTable(
      ["pid", "tid", "command", "samples", "%"],
      result.threads.map((t) => [
        String(t.pid),
        String(t.tid),
        t.comm,
        String(t.samples),
        t.percent.toFixed(1),
      ]),
    )
  }\n`);
  console.log(report.reconciliation.line);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify(result, null, 2) + "\n",
    );
  }
  return report.reconciliation.ok ? ExitCode.OK : ExitCode.FAILED;
}
