/**
 * `streamprof profile`: the main job. Profiles the whole machine (or one
 * process or thread), resolves every sample's stack to function names, and
 * prints the top functions (self and total, as `perf report` does), the top
 * processes and threads, and the accounting that proves nothing was lost:
 * events (produced = consumed + dropped) and stacks (every sample's user and
 * kernel stack in one named bucket). Writes folded stacks, JSON, pprof,
 * speedscope and a flame graph page on demand, and serves a live view.
 *
 * @example
 * ```sh
 * deno task profile --duration 10s --freq 99 --top 10 --folded out.folded
 * deno task profile --duration 30s --pprof cpu.pb.gz --flamegraph cpu.html
 * deno task profile --serve 8080
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
// The exports and the live view are imported when asked for: loading
// them (pprof-format from npm, the page's scripts) cost ~7 ms of every run.
import type { LiveFeed } from "../live/feed.ts";
import { isLoopback } from "../live/loopback.ts";
import type { LiveServer } from "../live/server.ts";
import { MAX_RING_BYTES } from "../bpf/profiler_object.ts";
import { autoRingBytes } from "../profiler/poll_policy.ts";
import { onlineCpus } from "../common/cpus.ts";
import { foldedStacks } from "../profile/folded.ts";
import { type ProfileRun, runProfile } from "../profile/run_profile.ts";
import { type ProfileSummary, summarize } from "../profile/summary.ts";
import { formatTable } from "../report/table.ts";

/** The options of `profile`, with their defaults. */
export const PROFILE_OPTIONS = {
  duration: {
    type: "string",
    value: "TIME",
    help:
      "how long to profile (e.g. 30s, 2m; default 10s, or until Ctrl-C with --serve)",
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
    help:
      "ring buffer size, a power of two from 4K to 1G; auto: 8M, or up to 64M where the worst case at --freq on every CPU would fill a quarter of it within 100 ms",
    default: "auto",
  },
  folded: {
    type: "string",
    value: "FILE",
    help: "write folded stacks (flamegraph.pl, speedscope)",
  },
  json: { type: "string", value: "FILE", help: "write the result as JSON" },
  pprof: {
    type: "string",
    value: "FILE",
    help:
      "write gzipped pprof (go tool pprof, Pyroscope, Parca): samples and CPU time per stack, mappings, labels pid/tid/cpu/comm/thread",
  },
  speedscope: {
    type: "string",
    value: "FILE",
    help:
      "write speedscope JSON (speedscope.app): one time-ordered profile per thread",
  },
  flamegraph: {
    type: "string",
    value: "FILE",
    help:
      "write an interactive flame graph as one self-contained HTML file (opens offline)",
  },
  serve: {
    type: "string",
    value: "[ADDR:]PORT",
    help:
      "serve a live view while profiling: a page whose browser decodes the raw ring records with parser.wasm (ADDR default 127.0.0.1; PORT 0 picks a free one)",
  },
  "serve-allow-remote": {
    type: "boolean",
    help:
      "let --serve bind an address other machines can reach (unauthenticated, unencrypted: it shows every process's names and stacks)",
  },
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

Files: --folded, --json, --pprof, --speedscope and --flamegraph may be given
together; every one describes the same samples. Open them with
  go tool pprof -http=127.0.0.1:8081 FILE.pb.gz     (or -top, -traces)
  speedscope FILE.json, or https://www.speedscope.app (drop the file there)
  any browser for the --flamegraph FILE.html (no network needed)

Live view: --serve 8080 serves http://127.0.0.1:8080/ while sampling: a page
and a WebSocket only. The server forwards the raw ring buffer records as they
are consumed; the page decodes them with the same parser.wasm, aggregates
them itself, redraws a flame graph and a samples-per-second chart every
second, and shows that it decoded exactly the events the server consumed
(or how many it missed: a tab that falls behind is skipped, never waited
for). Without --duration, --serve runs until Ctrl-C. Binding anything but a
loopback address needs --serve-allow-remote.

Caches: \${XDG_CACHE_HOME:-~/.cache}/streamprof/kallsyms holds the core
kernel's symbols of this boot (used after its first lines match
/proc/kallsyms; modules are always read live), and .../symbols the symbol
tables built from ELF .symtab and debug files, by build id (used while the
debug file is unchanged). Both only save work; deleting them is always safe.

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
  pprof?: string;
  speedscope?: string;
  flamegraph?: string;
  /** Where to serve the live view. */
  serve?: { hostname: string; port: number };
  status: boolean;
}

/**
 * Parses `--serve [ADDR:]PORT`: `8080`, `127.0.0.1:8080`, `[::1]:8080`,
 * `0.0.0.0:8080`. An address other machines can reach needs
 * `allowRemote` (`--serve-allow-remote`).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseServe } from "./profile.ts";
 * assert.deepEqual(parseServe("8080", false), { hostname: "127.0.0.1", port: 8080 });
 * assert.deepEqual(parseServe("[::1]:0", false), { hostname: "::1", port: 0 });
 * assert.throws(() => parseServe("0.0.0.0:8080", false), /--serve-allow-remote/);
 * assert.deepEqual(parseServe("0.0.0.0:8080", true), { hostname: "0.0.0.0", port: 8080 });
 * ```
 */
export function parseServe(
  text: string,
  allowRemote: boolean,
): { hostname: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(
    text.trim(),
  );
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      `--serve "${text}": use PORT or ADDR:PORT (e.g. 8080, 127.0.0.1:8080, [::1]:8080), port 0-65535`,
    );
  }
  const hostname = (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, "");
  if (!isLoopback(hostname) && !allowRemote) {
    throw new UsageError(
      `--serve ${text} would be reachable from other machines, unauthenticated and unencrypted; add --serve-allow-remote to mean it, or serve on 127.0.0.1`,
    );
  }
  return { hostname, port };
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
  const serve = v.serve !== undefined
    ? parseServe(v.serve, v["serve-allow-remote"])
    : undefined;
  if (v["serve-allow-remote"] && serve === undefined) {
    throw new UsageError("--serve-allow-remote goes with --serve");
  }
  const o: ProfileCommandOptions = {
    durationMs: v.duration !== undefined
      ? parseDuration(v.duration, "--duration")
      : serve
      ? Infinity
      : 10_000,
    frequency: parsePositiveInt(v.freq, "--freq"),
    top: parsePositiveInt(v.top, "--top"),
    collectStacks: !v["no-stacks"],
    lines: v.lines,
    hardwareEvents: v["hardware-events"],
    ringBytes: v["ring-bytes"] === "auto"
      ? autoRingBytes({
        frequency: parsePositiveInt(v.freq, "--freq"),
        hardwareEvents: v["hardware-events"],
        collectStacks: !v["no-stacks"],
      }, onlineCpus().length)
      : parseBytes(v["ring-bytes"], "--ring-bytes", {
        powerOfTwo: true,
        min: 4096,
        max: MAX_RING_BYTES,
      }),
    folded: v.folded,
    json: v.json,
    pprof: v.pprof,
    speedscope: v.speedscope,
    flamegraph: v.flamegraph,
    serve,
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
  for (const what of ["folded", "pprof", "speedscope", "flamegraph"] as const) {
    if (o[what] !== undefined && !o.collectStacks) {
      throw new UsageError(`--${what} needs stacks: drop --no-stacks`);
    }
  }
  if (o.serve && !o.collectStacks) {
    throw new UsageError("--serve needs stacks: drop --no-stacks");
  }
  for (
    const what of [
      "folded",
      "json",
      "pprof",
      "speedscope",
      "flamegraph",
    ] as const
  ) {
    const path = o[what];
    if (path !== undefined) checkWritable(path, `--${what}`);
  }
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
  s: ProfileSummary = summarize(run.profile, o.top),
): ProfileJson {
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
  s: ProfileSummary = summarize(run.profile, o.top),
): string {
  const p = run.profile;
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

/** The live view of a run: its server and feed. */
interface LiveView {
  server: LiveServer;
  feed: LiveFeed;
  /** After the run: last names and counters, the end, a short drain. */
  finish(run: ProfileRun): Promise<void>;
  /** Stops serving (on failure). */
  stop(): Promise<void>;
}

/** Binds the live view's server (a usage error if it cannot) and says where. */
async function startLiveView(
  o: ProfileCommandOptions,
  who: string,
): Promise<LiveView> {
  const at = o.serve!;
  const [{ LiveServer }, { LiveFeed }, { livePageHtml }] = await Promise.all([
    import("../live/server.ts"),
    import("../live/feed.ts"),
    import("../live/page.ts"),
  ]);
  let server: LiveServer;
  try {
    server = await LiveServer.start({
      hostname: at.hostname,
      port: at.port,
      page: await livePageHtml(),
      hello: {
        host: Deno.hostname(),
        kernel: Deno.osRelease(),
        arch: Deno.build.arch,
        target: who,
        frequencyHz: o.frequency,
        cpus: navigator.hardwareConcurrency,
        durationMs: Number.isFinite(o.durationMs) ? o.durationMs : null,
      },
    });
  } catch (err) {
    throw new UsageError(
      `--serve ${at.hostname}:${at.port}: cannot listen there (${
        (err as Error).message
      })`,
    );
  }
  const feed = await LiveFeed.create(server);
  const tick = setInterval(() => feed.tick(), 1000);
  if (!isLoopback(at.hostname)) {
    console.error(
      `profile: WARNING: the live view listens on ${at.hostname}:${server.addr.port}, reachable from other machines: anyone who can connect sees every sampled process's names and stacks (no authentication, no encryption)`,
    );
  }
  console.error(
    `profile: live view at ${server.url} (open it in a browser; the page decodes the ring records itself)`,
  );
  const stop = async () => {
    clearInterval(tick);
    await server.close();
  };
  return {
    server,
    feed,
    stop,
    finish: async (run) => {
      clearInterval(tick);
      feed.finish(run);
      await server.drain(3000);
      const pages = server.clientCounts();
      console.error(
        `profile: live view: forwarded ${
          formatCount(feed.totals.events)
        } events in ${formatCount(feed.totals.chunks)} chunks; ${
          pages.length === 0
            ? "no page connected at the end"
            : pages.map((c, i) =>
              `page ${i + 1}: joined after ${formatCount(c.beforeJoin)}, sent ${
                formatCount(c.sentEvents)
              }, skipped ${formatCount(c.skippedEvents)}`
            ).join("; ")
        }${
          Object.keys(server.rejected).length
            ? `; connections closed for bad messages: ${
              Object.entries(server.rejected).map(([k, n]) => `${k} ${n}`)
                .join(", ")
            }`
            : ""
        }`,
      );
      await server.close();
    },
  };
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
  const who = o.tid
    ? `thread ${o.tid}`
    : o.pid
    ? `process ${o.pid}`
    : "all processes";
  const view = o.serve ? await startLiveView(o, who) : undefined;
  console.error(
    `profile: sampling ${who} at ${o.frequency} Hz ${
      Number.isFinite(o.durationMs)
        ? `for ${o.durationMs / 1000} s`
        : "until stopped"
    }${o.collectStacks ? " with stacks" : ""} (Ctrl-C to stop${
      Number.isFinite(o.durationMs) ? " early" : ""
    })`,
  );
  let run: ProfileRun;
  try {
    run = await runProfile({
      durationMs: o.durationMs,
      frequency: o.frequency,
      targetPid: o.pid,
      targetTid: o.tid,
      hardwareEvents: o.hardwareEvents,
      ringBytes: o.ringBytes,
      collectStacks: o.collectStacks,
      lines: o.lines,
      timeline: o.speedscope !== undefined,
      signal: interrupt.signal,
      onSpan: view?.feed.onSpan,
      onStarted: view ? (l) => view.feed.attach(l) : undefined,
      // The live view's server needs the event loop; nothing else here does.
      blockingWaits: view === undefined,
      onStatus: live
        ? (st) => {
          const m = Deno.memoryUsage();
          const el = st.elapsedMs / 1000;
          Deno.stderr.writeSync(enc.encode(
            `\r\x1b[K${el.toFixed(1)} s | ${
              Math.round(st.events / el)
            } events/s | ${st.events} events | drops ${st.drops} | heap ${
              formatMB(m.heapUsed)
            } rss ${formatMB(m.rss)}${
              view ? ` | live view: ${view.server.clients} pages` : ""
            }`,
          ));
        }
        : undefined,
    });
  } catch (err) {
    await view?.stop();
    throw err;
  }
  if (view) {
    if (live) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
    await view.finish(run);
  }
  if (live) Deno.stderr.writeSync(enc.encode("\r\x1b[K"));
  // One summary for the report and the JSON (it walks every stack).
  const summary = summarize(run.profile, o.top);
  console.log(renderProfile(run, o, summary));
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
      data: () => JSON.stringify(profileJson(run, o, summary), null, 2) + "\n",
    });
  }
  // The formats that take async work are made first; a failure to make
  // one is reported like a failure to write it.
  const made: [
    string,
    string | undefined,
    () => Promise<string | Uint8Array>,
  ][] = [
    [
      "--pprof",
      o.pprof,
      async () => (await import("../export/pprof.ts")).encodePprof(run.profile),
    ],
    [
      "--speedscope",
      o.speedscope,
      async () =>
        JSON.stringify(
          (await import("../export/speedscope.ts")).toSpeedscope(run.profile),
        ) + "\n",
    ],
    [
      "--flamegraph",
      o.flamegraph,
      async () =>
        (await import("../export/flamegraph/html.ts")).flamegraphHtml(
          run.profile,
        ),
    ],
  ];
  const errors: string[] = [];
  for (const [what, path, make] of made) {
    if (path === undefined) continue;
    try {
      const data = await make();
      files.push({ what, path, data: () => data });
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  }
  errors.push(...await writeOutputs(files));
  for (const e of errors) console.error(`profile: ${e}`);
  if (!run.report.reconciliation.ok) return ExitCode.FAILED;
  return errors.length ? ExitCode.ENVIRONMENT : ExitCode.OK;
}
