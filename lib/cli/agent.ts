/**
 * `streamprof agent`: continuous profiling that ships every interval's
 * pprof to Grafana Pyroscope (and/or a folder), until stopped.
 *
 * @example
 * ```sh
 * deno run -A cli.ts agent --pyroscope http://127.0.0.1:4040 --service web --label env=prod
 * ```
 * @module
 */
import { parseBytes, parseDuration, parsePositiveInt } from "../common/args.ts";
import { ExitCode, UsageError } from "../common/errors.ts";
import { optionsHelp, parseOptions } from "../common/options.ts";
import { interruptSignal } from "../common/signals.ts";
import { checkWritable, writeOutputs } from "../common/output_file.ts";
import { runAgent } from "../agent/agent.ts";

/** The default sampling rate of the agent: see AGENT_HELP for why. */
export const AGENT_DEFAULT_HZ = 49;

/** The options of `agent`, with their defaults. */
export const AGENT_OPTIONS = {
  pyroscope: {
    type: "string",
    value: "URL",
    help: "push each interval to this Pyroscope server (POST /ingest)",
  },
  "pprof-dir": {
    type: "string",
    value: "DIR",
    help: "also write each interval's pprof here",
  },
  service: {
    type: "string",
    value: "NAME",
    help:
      "service_name of the profiles (default: one profile per process, named after it)",
  },
  label: {
    type: "string",
    value: "K=V",
    help: "an extra label (repeat the option for more)",
  },
  hostname: {
    type: "string",
    value: "NAME",
    help: "the hostname label (default: this machine's)",
  },
  freq: {
    type: "string",
    value: "HZ",
    help: "samples per second per CPU",
    default: String(AGENT_DEFAULT_HZ),
  },
  interval: {
    type: "string",
    value: "TIME",
    help: "profile length; cut at multiples of it on the wall clock",
    default: "10s",
  },
  "spool-dir": {
    type: "string",
    value: "DIR",
    help:
      "spill undelivered intervals here (and send what is left on next start)",
  },
  "spool-memory": {
    type: "string",
    value: "SIZE",
    help: "undelivered intervals held in memory",
    default: "16M",
  },
  "spool-disk": {
    type: "string",
    value: "SIZE",
    help: "undelivered intervals held in --spool-dir",
    default: "256M",
  },
  metrics: {
    type: "string",
    value: "[ADDR:]PORT",
    help: "serve Prometheus metrics at /metrics (127.0.0.1 unless ADDR)",
  },
  "flush-timeout": {
    type: "string",
    value: "TIME",
    help: "at stop, how long to keep delivering before spooling the rest",
    default: "10s",
  },
  duration: {
    type: "string",
    value: "TIME",
    help: "stop after this long (default: run until stopped)",
  },
  "retry-max": {
    type: "string",
    value: "TIME",
    help: "longest wait between delivery attempts",
    default: "30s",
  },
  "push-timeout": {
    type: "string",
    value: "TIME",
    help: "a push taking longer is abandoned and retried",
    default: "10s",
  },
  json: {
    type: "string",
    value: "FILE",
    help: "at exit, write every interval's accounting and the counters as JSON",
  },
  verbose: { type: "boolean", help: "log every delivery attempt" },
} as const;

/** Usage text of `agent`. */
export const AGENT_HELP = `Usage: streamprof agent [options]

Profiles every CPU continuously at --freq, cuts a profile at every --interval
boundary of the wall clock, resolves it to function names and ships it as
pprof to a Grafana Pyroscope server (--pyroscope) and/or writes it to a
folder (--pprof-dir), with labels service_name, hostname, arch, kernel and
any --label. Runs until stopped.

Options:
${optionsHelp(AGENT_OPTIONS)}

Why ${AGENT_DEFAULT_HZ} Hz: continuous profilers sample at roughly 19 to 100 Hz so the
overhead is negligible on every host all the time. ${AGENT_DEFAULT_HZ} Hz gives about 490
samples per busy CPU in a 10 s interval (a function at 1% of the CPU shows
in every interval), is odd (no lockstep with periodic work), and costs a
fraction of a percent of a core (measured: see the README).

Delivery is at least once, with nothing lost silently: each interval queues
in memory (--spool-memory), then in --spool-dir (--spool-disk); a failed or
slow push is retried with exponential backoff and jitter; when a bound is hit
the oldest interval is dropped and counted. Every interval carries its
accounting (samples consumed, dropped, stacks lost by cause) as pprof
comments; /metrics has the exact counters.

Signals: SIGINT and SIGTERM (and SIGHUP, SIGQUIT) cut the current interval,
deliver what is queued for up to --flush-timeout, write the rest to
--spool-dir (sent on the next start), and exit 0.

Exit codes: 0 stopped in order, 2 usage error, 3 the environment cannot run
it, 70 an internal error.`;

/** Parses `K=V` labels. */
export function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=([^,{}]*)$/.exec(l);
    if (!m) {
      throw new UsageError(
        `--label must be K=V (K a label name, V without , { or }), got "${l}"`,
      );
    }
    if (m[1].startsWith("__")) {
      throw new UsageError(
        `--label ${m[1]}: names starting with __ are reserved`,
      );
    }
    out[m[1]] = m[2];
  }
  return out;
}

/** Parses `[ADDR:]PORT`. */
export function parseListen(
  text: string,
  what: string,
): { hostname: string; port: number } {
  const m = /^(?:(.+):)?(\d+)$/.exec(text);
  if (!m) throw new UsageError(`${what} must be [ADDR:]PORT, got "${text}"`);
  const port = Number(m[2]);
  if (port < 0 || port > 65535) {
    throw new UsageError(`${what}: port ${port} is out of range`);
  }
  return { hostname: m[1] ?? "127.0.0.1", port };
}

/** Runs `agent`; returns the exit code. */
export async function agentCommand(args: string[]): Promise<number> {
  // --label repeats: collect them before the table parse.
  const labels: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--label") {
      if (i + 1 >= args.length) throw new UsageError("--label needs K=V");
      labels.push(args[++i]);
    } else if (a.startsWith("--label=")) labels.push(a.slice(8));
    else rest.push(a);
  }
  const v = parseOptions(AGENT_OPTIONS, rest);
  if (v.help) {
    console.log(AGENT_HELP);
    return ExitCode.OK;
  }
  if (!v.pyroscope && !v["pprof-dir"]) {
    throw new UsageError("give --pyroscope URL, --pprof-dir DIR, or both");
  }
  if (v.pyroscope && !/^https?:\/\/[^/]+/.test(v.pyroscope)) {
    throw new UsageError(
      `--pyroscope must be an http(s) URL, got "${v.pyroscope}"`,
    );
  }
  const intervalMs = parseDuration(v.interval, "--interval");
  if (intervalMs < 1000) throw new UsageError("--interval must be at least 1s");
  const durationMs = v.duration !== undefined
    ? parseDuration(v.duration, "--duration")
    : undefined;
  if (v.json) checkWritable(v.json, "--json");
  const interrupt = interruptSignal();
  const signal = durationMs !== undefined
    ? AbortSignal.any([interrupt.signal, AbortSignal.timeout(durationMs)])
    : interrupt.signal;
  const summary = await runAgent({
    frequency: parsePositiveInt(v.freq, "--freq"),
    intervalMs,
    pyroscope: v.pyroscope,
    pprofDir: v["pprof-dir"],
    service: v.service,
    labels: parseLabels(labels),
    hostname: v.hostname,
    spool: {
      dir: v["spool-dir"],
      memoryBytes: parseBytes(v["spool-memory"], "--spool-memory"),
      diskBytes: parseBytes(v["spool-disk"], "--spool-disk"),
    },
    metrics: v.metrics ? parseListen(v.metrics, "--metrics") : undefined,
    flushMs: parseDuration(v["flush-timeout"], "--flush-timeout"),
    retry: {
      capMs: parseDuration(v["retry-max"], "--retry-max"),
      attemptTimeoutMs: parseDuration(v["push-timeout"], "--push-timeout"),
    },
    signal,
    verbose: v.verbose,
    log: (l) => console.error(l),
  });
  const d = summary.delivery;
  if (d.lastError) console.error(`agent: last delivery error: ${d.lastError}`);
  console.log(
    `agent: stopped: ${summary.counters.intervalsCut} intervals cut, ${d.pushed} pushed, ${d.retried} retries, ${d.rejected} rejected, ${summary.spool.dropped} dropped, ${summary.leftInSpool} left in the spool${
      summary.spool.spooledToDisk
        ? ` (${summary.spool.spooledToDisk} spooled to disk)`
        : ""
    }`,
  );
  console.log(summary.reconciliation.line);
  if (summary.reconciliation.stackLine) {
    console.log(summary.reconciliation.stackLine);
  }
  const errors = v.json
    ? await writeOutputs([{
      what: "--json",
      path: v.json,
      data: () => JSON.stringify(summary, null, 2) + "\n",
    }])
    : [];
  for (const e of errors) console.error(`agent: ${e}`);
  return errors.length ? ExitCode.ENVIRONMENT : ExitCode.OK;
}
