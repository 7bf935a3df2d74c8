/**
 * `deno task bench:agent`: what `streamprof agent` costs at its defaults
 * (49 Hz on every CPU, 10 s intervals, a profile per process pushed to a
 * real Pyroscope on 127.0.0.1 and read back), with every CPU busy running
 * the hotspots fixture; beside it, in the same run, what `perf record -g -a`
 * at the same rate costs for the same time (the baseline: collection only,
 * no symbols, no shipping).
 *
 * The agent's CPU comes from /proc/PID/stat (all its threads), sampled
 * every 5 s; the steady figure leaves out the first 20 s (start-up, the
 * first intervals' symbol loading). RSS and anonymous RSS are read at the
 * same times, so growth shows.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root, BPF, perf and the Pyroscope build (make setup).
 * // deno run -A bench/agent_overhead.ts --duration 100s --json out/agent.json
 * ```
 * @module
 */
import { runMain } from "../lib/common/command.ts";
import { ExitCode, UsageError } from "../lib/common/errors.ts";
import { formatMiB } from "../lib/common/format.ts";
import { checkWritable, writeFileAtomic } from "../lib/common/output_file.ts";
import { optionsHelp } from "../lib/common/options.ts";
import { onlineCpus } from "../lib/common/cpus.ts";
import { startPyroscope } from "../lib/fleet/pyroscope_server.ts";
import * as sideBySide from "./side_by_side.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE_EVERY_MS = 5000;
const STEADY_AFTER_S = 20;

const OPTIONS = sideBySide.sideBySideOptions(
  "how long the agent runs",
  "100s",
  {},
);

const HELP = `Usage: deno task bench:agent [options]

Runs streamprof agent at its defaults (49 Hz, 10 s intervals) against a real
Pyroscope on 127.0.0.1 while every CPU is busy, samples its CPU and memory,
then runs perf record -g -a at 49 Hz for the same steady time and prints
both and the ratio.

Options:
${optionsHelp(OPTIONS)}`;

interface ProcSample {
  /** Seconds since the agent started. */
  t: number;
  /** CPU seconds of all its threads. */
  cpuS: number;
  rssBytes: number;
  anonBytes: number;
}

function readProc(pid: number, t: number): ProcSample {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command (which may hold spaces): utime is the 14th
  // field of the line, the 12th after ") ".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = 100; // USER_HZ on Linux
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) =>
    Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0) * 1024;
  return {
    t,
    cpuS: (Number(f[11]) + Number(f[12])) / ticks,
    rssBytes: kb("VmRSS"),
    anonBytes: kb("RssAnon"),
  };
}

async function main(args: string[]): Promise<number> {
  const v = sideBySide.sideBySideArgs(OPTIONS, HELP, args);
  if (!v) return ExitCode.OK;
  const seconds = v.seconds;
  if (seconds < STEADY_AFTER_S + 2 * SAMPLE_EVERY_MS / 1000) {
    throw new UsageError(
      `--duration must be at least ${STEADY_AFTER_S + 10} s`,
    );
  }
  if (v.json) checkWritable(v.json, "--json");
  const cpus = onlineCpus().length;
  const server = await startPyroscope({ readyTimeoutMs: 60_000 });
  const load = sideBySide.startBusyFixture(2 * seconds + 60);
  try {
    const agent = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}cli.ts`,
        "agent",
        "--pyroscope",
        server.url,
        "--duration",
        `${seconds}s`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const samples: ProcSample[] = [];
    const t0 = performance.now();
    while (true) {
      await new Promise((r) => setTimeout(r, SAMPLE_EVERY_MS));
      const t = (performance.now() - t0) / 1000;
      if (t > seconds - 1) break;
      try {
        samples.push(readProc(agent.pid, t));
      } catch {
        break; // it exited early: the status below says why
      }
    }
    const out = await agent.output();
    if (out.code !== 0) {
      throw new Error(
        `agent exited ${out.code}: ${
          new TextDecoder().decode(out.stderr).slice(-2000)
        }`,
      );
    }
    const a = samples.find((s) => s.t >= STEADY_AFTER_S);
    const b = samples[samples.length - 1];
    if (!a || a === b) throw new Error("too few samples of the agent");
    const agentPercent = 100 * (b.cpuS - a.cpuS) / (b.t - a.t);
    // The baseline, on the same busy CPUs, for the same steady time.
    const window = Math.round(b.t - a.t);
    const tmp = await Deno.makeTempDir({ prefix: "streamprof-bench-agent-" });
    const perf = await sideBySide.cpuOfCommand(
      `perf record -q -e cpu-clock -F 49 -a -g -o ${tmp}/perf.data -- sleep ${window} >/dev/null`,
    );
    const perfS = perf.user + perf.sys;
    await Deno.remove(tmp, { recursive: true });
    const perfPercent = 100 * perfS / window;
    const result = {
      machine: `${Deno.build.arch} / ${Deno.osRelease()}, ${cpus} CPUs`,
      seconds,
      steadyFromS: a.t,
      steadyToS: b.t,
      agentCpuPercentOfCore: agentPercent,
      perfRecordCpuPercentOfCore: perfPercent,
      ratio: agentPercent / perfPercent,
      rssBytes: {
        steadyStart: a.rssBytes,
        end: b.rssBytes,
        max: Math.max(...samples.map((s) => s.rssBytes)),
      },
      anonBytes: { steadyStart: a.anonBytes, end: b.anonBytes },
      samples,
    };
    console.log(
      `bench:agent on ${result.machine}, agent at 49 Hz, 10 s intervals to Pyroscope, ${seconds} s, every CPU busy`,
    );
    for (const s of samples) {
      console.log(
        `  ${s.t.toFixed(0).padStart(4)} s: cpu ${s.cpuS.toFixed(2)} s, rss ${
          formatMiB(s.rssBytes)
        }, anon ${formatMiB(s.anonBytes)}`,
      );
    }
    console.log(
      `  agent (steady ${a.t.toFixed(0)}-${b.t.toFixed(0)} s): ${
        agentPercent.toFixed(2)
      }% of one core`,
    );
    console.log(
      `  perf record -g -a -F 49 (${window} s): ${
        perfPercent.toFixed(2)
      }% of one core`,
    );
    console.log(`  ratio agent / perf record: ${result.ratio.toFixed(2)}`);
    console.log(
      `  RSS ${formatMiB(a.rssBytes)} -> ${formatMiB(b.rssBytes)} (anon ${
        formatMiB(a.anonBytes)
      } -> ${formatMiB(b.anonBytes)})`,
    );
    if (v.json) {
      await writeFileAtomic(v.json, JSON.stringify(result, null, 2) + "\n");
    }
    return ExitCode.OK;
  } finally {
    load.kill();
    await load.status;
    await server.stop();
  }
}

if (import.meta.main) {
  Deno.exit(await runMain("bench:agent", () => main(Deno.args)));
}
