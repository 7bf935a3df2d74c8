/**
 * `deno task bench:perf`: streamprof against the tool people use today, on
 * the same workload: `profile` for 10 s at 10 kHz on every busy CPU, with
 * every stack resolved and symbolized and the report written, against
 * `perf record -g -a` for the same 10 s plus `perf report` of its data.
 * Both run in turn (never at once: each would sample the other), under the
 * same load (the fixture program's split workload on every CPU), `--rounds`
 * times (alternating), and the median CPU time of each (user + system, from
 * the shell's `time`) is printed with the ratio of the medians: one run of
 * each varies by ±10% under the load. Goal (issue 11): streamprof at most
 * half of perf's total.
 *
 * streamprof's caches (the kernel's symbols per boot, built symbol tables
 * per build id) are as they are: after any earlier run they are warm, as for
 * a user profiling again. `--cold` empties them before each of its runs (it
 * then also pays for saving them), as on a machine's first run after boot.
 *
 * Prints numbers; asserts nothing about time (tests/bench_smoke_test.ts
 * only checks that it runs and what its JSON holds).
 *
 * @example
 * ```sh
 * deno task bench:perf --duration 10s --freq 10000 --rounds 3 --json out/bench-perf.json
 * ```
 * @module
 */
import { parsePositiveInt } from "../lib/common/args.ts";
import { cacheDir } from "../lib/common/cache_dir.ts";
import { runMain } from "../lib/common/command.ts";
import { ExitCode } from "../lib/common/errors.ts";
import { onlineCpus } from "../lib/common/cpus.ts";
import { optionsHelp } from "../lib/common/options.ts";
import { median } from "../lib/common/stats.ts";
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
  rounds: {
    type: "string",
    value: "N",
    help: "runs of each tool, alternating; medians are compared",
    default: "3",
  },
  cold: {
    type: "boolean",
    help: "empty streamprof's symbol caches before each of its runs",
  },
});

const HELP = `Usage: deno task bench:perf [options]

Runs streamprof profile and perf record -g + perf report on the same busy
workload, one after the other, --rounds times, and prints the median CPU time
of each and the ratio of the medians.

Options:
${optionsHelp(OPTIONS)}`;

const cpuOf = (command: string) => cpuOfCommand(command, ROOT);

async function main(args: string[]): Promise<number> {
  const v = sideBySideArgs(OPTIONS, HELP, args);
  if (!v) return ExitCode.OK;
  const seconds = v.seconds;
  const freq = parsePositiveInt(v.freq, "--freq");
  if (v.json) checkWritable(v.json, "--json");
  const rounds = parsePositiveInt(v.rounds, "--rounds");
  const cpus = onlineCpus().length;
  const tmp = await Deno.makeTempDir({ prefix: "streamprof-bench-perf-" });
  const load = startBusyFixture(rounds * 3 * seconds + 60);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const deno = Deno.execPath();
    const perfRecords: number[] = [], perfReports: number[] = [];
    const ourRuns: number[] = [];
    let perfSamples = 0;
    // deno-lint-ignore no-explicit-any
    let j: any;
    for (let round = 0; round < rounds; round++) {
      const rec = await cpuOf(
        `perf record -q -e cpu-clock -F ${freq} -a -g -o ${tmp}/perf.data -- sleep ${seconds} >/dev/null`,
      );
      const rep = await cpuOf(
        `perf report -i ${tmp}/perf.data --stdio --no-children > ${tmp}/report.txt`,
      );
      perfRecords.push(rec.user + rec.sys);
      perfReports.push(rep.user + rep.sys);
      const count = await new Deno.Command("bash", {
        args: ["-c", `perf script -i ${tmp}/perf.data -F period | wc -l`],
        stdout: "piped",
      }).output();
      perfSamples = Number(new TextDecoder().decode(count.stdout).trim());
      if (v.cold) {
        for (const dir of [cacheDir("kallsyms"), cacheDir("symbols")]) {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      }
      const ours = await cpuOf(
        `${deno} run -A ${ROOT}cli.ts profile --duration ${seconds}s --freq ${freq} --no-status --json ${tmp}/ours.json > ${tmp}/ours.txt`,
      );
      ourRuns.push(ours.user + ours.sys);
      j = JSON.parse(await Deno.readTextFile(`${tmp}/ours.json`));
    }
    const perfRuns = perfRecords.map((r, i) => r + perfReports[i]);
    const perfTotal = median(perfRuns);
    const ourTotal = median(ourRuns);
    const result = {
      machine: `${Deno.build.arch} / ${Deno.osRelease()}, ${cpus} CPUs`,
      seconds,
      freq,
      rounds,
      cold: v.cold === true,
      perf: {
        samples: perfSamples,
        recordCpuS: median(perfRecords),
        reportCpuS: median(perfReports),
        totalCpuS: perfTotal,
        runsCpuS: perfRuns,
      },
      streamprof: {
        samples: j.samples,
        cpuS: ourTotal,
        runsCpuS: ourRuns,
        resolveMs: j.resolveMs,
        reconciliation: j.reconciliation.line,
      },
      ratio: ourTotal / perfTotal,
      goal: "streamprof <= 0.5 x perf",
      met: ourTotal <= 0.5 * perfTotal,
    };
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
    console.log(
      `bench:perf on ${result.machine}, ${seconds} s at ${freq} Hz per CPU, every CPU busy; medians of ${rounds} runs each${
        result.cold ? ", streamprof's caches emptied before each" : ""
      }`,
    );
    console.log(
      `  perf record -g -a : ${result.perf.recordCpuS.toFixed(2)} s CPU`,
    );
    console.log(
      `  perf report       : ${
        result.perf.reportCpuS.toFixed(2)
      } s CPU (${perfSamples} samples)`,
    );
    console.log(
      `  perf total        : ${perfTotal.toFixed(2)} s CPU (runs: ${
        list(perfRuns)
      })`,
    );
    console.log(
      `  streamprof profile: ${ourTotal.toFixed(2)} s CPU (runs: ${
        list(ourRuns)
      }; ${j.samples} samples, stacks resolved in ${
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
