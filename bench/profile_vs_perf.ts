/**
 * `deno task bench:perf`: streamprof against the tool people use today, on
 * the same workload: `profile` for 10 s at 10 kHz on every busy CPU, with
 * every stack resolved and symbolized and the report written, against
 * `perf record -g -a` for the same 10 s plus `perf report` of its data.
 * Both run in turn (never at once: each would sample the other), under the
 * same load (the fixture program's split workload on every CPU), and their
 * CPU time (user + system, from the shell's `time`) is printed with the
 * ratio. Goal (issue 11): streamprof at most half of perf's total.
 *
 * Prints numbers; asserts nothing about time (tests/bench_smoke_test.ts
 * only checks that it runs).
 *
 * @example
 * ```sh
 * deno task bench:perf --duration 10s --freq 10000 --json out/bench-perf.json
 * ```
 * @module
 */
import { parsePositiveInt } from "../lib/common/args.ts";
import { runMain } from "../lib/common/command.ts";
import { ExitCode } from "../lib/common/errors.ts";
import { onlineCpus } from "../lib/common/cpus.ts";
import { optionsHelp } from "../lib/common/options.ts";
import { checkWritable, writeFileAtomic } from "../lib/common/output_file.ts";
import {
  cpuOfCommand,
  sideBySideArgs,
  sideBySideOptions,
  startBusyFixture,
} from "./side_by_side.ts";

const ROOT = new URL("../", import.meta.url).pathname;

const OPTIONS = sideBySideOptions("profiling time of each tool", "10s", {
  freq: {
    type: "string",
    value: "HZ",
    help: "samples per second per CPU",
    default: "10000",
  },
});

const HELP = `Usage: deno task bench:perf [options]

Runs streamprof profile and perf record -g + perf report on the same busy
workload, one after the other, and prints the CPU time of each and the ratio.

Options:
${optionsHelp(OPTIONS)}`;

const cpuOf = (command: string) => cpuOfCommand(command, ROOT);

async function main(args: string[]): Promise<number> {
  const v = sideBySideArgs(OPTIONS, HELP, args);
  if (!v) return ExitCode.OK;
  const seconds = v.seconds;
  const freq = parsePositiveInt(v.freq, "--freq");
  if (v.json) checkWritable(v.json, "--json");
  const cpus = onlineCpus().length;
  const tmp = await Deno.makeTempDir({ prefix: "streamprof-bench-perf-" });
  const load = startBusyFixture(4 * seconds + 60);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const deno = Deno.execPath();
    const perfRecord = await cpuOf(
      `perf record -q -e cpu-clock -F ${freq} -a -g -o ${tmp}/perf.data -- sleep ${seconds} >/dev/null`,
    );
    const perfReport = await cpuOf(
      `perf report -i ${tmp}/perf.data --stdio --no-children > ${tmp}/report.txt`,
    );
    const perfSamples = await new Deno.Command("bash", {
      args: ["-c", `perf script -i ${tmp}/perf.data -F period | wc -l`],
      stdout: "piped",
    }).output();
    const ours = await cpuOf(
      `${deno} run -A ${ROOT}cli.ts profile --duration ${seconds}s --freq ${freq} --no-status --json ${tmp}/ours.json > ${tmp}/ours.txt`,
    );
    const j = JSON.parse(await Deno.readTextFile(`${tmp}/ours.json`));
    const perfTotal = perfRecord.user + perfRecord.sys + perfReport.user +
      perfReport.sys;
    const ourTotal = ours.user + ours.sys;
    const result = {
      machine: `${Deno.build.arch} / ${Deno.osRelease()}, ${cpus} CPUs`,
      seconds,
      freq,
      perf: {
        samples: Number(new TextDecoder().decode(perfSamples.stdout).trim()),
        recordCpuS: perfRecord.user + perfRecord.sys,
        reportCpuS: perfReport.user + perfReport.sys,
        totalCpuS: perfTotal,
      },
      streamprof: {
        samples: j.samples,
        cpuS: ourTotal,
        resolveMs: j.resolveMs,
        reconciliation: j.reconciliation.line,
      },
      ratio: ourTotal / perfTotal,
      goal: "streamprof <= 0.5 x perf",
      met: ourTotal <= 0.5 * perfTotal,
    };
    console.log(
      `bench:perf on ${result.machine}, ${seconds} s at ${freq} Hz per CPU, every CPU busy`,
    );
    console.log(
      `  perf record -g -a : ${result.perf.recordCpuS.toFixed(2)} s CPU`,
    );
    console.log(
      `  perf report       : ${
        result.perf.reportCpuS.toFixed(2)
      } s CPU (${result.perf.samples} samples)`,
    );
    console.log(`  perf total        : ${perfTotal.toFixed(2)} s CPU`);
    console.log(
      `  streamprof profile: ${
        ourTotal.toFixed(2)
      } s CPU (${j.samples} samples, stacks resolved in ${
        j.resolveMs.toFixed(0)
      } ms)`,
    );
    console.log(
      `  ratio streamprof / perf: ${result.ratio.toFixed(2)} (goal <= 0.5: ${
        result.met ? "met" : "MISSED"
      })`,
    );
    if (v.json) {
      await writeFileAtomic(v.json, JSON.stringify(result, null, 2) + "\n");
    }
    return ExitCode.OK;
  } finally {
    load.kill("SIGKILL");
    await load.status;
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  Deno.exit(await runMain("bench:perf", () => main(Deno.args)));
}
