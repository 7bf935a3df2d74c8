/**
 * What the benchmarks that put streamprof beside another tool (bench:perf,
 * bench:agent) share: the CPU time of a shell command (user and system
 * seconds of the command and all its children, as bash's `time` builtin
 * reports them), and their common options (how long, where the JSON goes).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { cpuOfCommand } from "./side_by_side.ts";
 * const r = await cpuOfCommand("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
 * assert.equal(r.code, 0);
 * assert.ok(r.user + r.sys > 0);
 * ```
 * @module
 */
import { parseDuration } from "../lib/common/args.ts";
import { onlineCpus } from "../lib/common/cpus.ts";
import {
  type OptionTable,
  type OptionValues,
  parseOptions,
} from "../lib/common/options.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** What {@link cpuOfCommand} measured. */
export interface CommandCpu {
  /** User CPU seconds. */
  user: number;
  /** System CPU seconds. */
  sys: number;
  /** The command's exit status. */
  code: number;
  /** Its stdout and stderr, for error messages. */
  out: string;
}

/**
 * Runs `command` with bash (in `cwd`, if given) and returns its CPU time
 * and exit status. Throws if bash reported no time (the command did not
 * run at all).
 */
export async function cpuOfCommand(
  command: string,
  cwd?: string,
): Promise<CommandCpu> {
  const out = await new Deno.Command("bash", {
    args: ["-c", `TIMEFORMAT='@@cpu %U %S'; time ( ${command} ) 2>&1`],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  const m = /@@cpu ([\d.]+) ([\d.]+)/.exec(text);
  if (!m) throw new Error(`no time output from: ${command}\n${text}`);
  return { user: Number(m[1]), sys: Number(m[2]), code: out.code, out: text };
}

/**
 * The options of a side-by-side benchmark: `--duration` (with its help and
 * default), the script's own `extra` options, then `--json`.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { sideBySideOptions } from "./side_by_side.ts";
 * const t = sideBySideOptions("how long", "10s", {
 *   freq: { type: "string", value: "HZ", help: "rate", default: "99" },
 * });
 * assert.deepEqual(Object.keys(t), ["duration", "freq", "json"]);
 * assert.equal(t.duration.default, "10s");
 * ```
 */
export function sideBySideOptions<T extends OptionTable>(
  durationHelp: string,
  durationDefault: string,
  extra: T,
) {
  return {
    duration: {
      type: "string",
      value: "TIME",
      help: durationHelp,
      default: durationDefault,
    },
    ...extra,
    json: { type: "string", value: "FILE", help: "write the figures as JSON" },
  } as const;
}

/**
 * Parses a side-by-side benchmark's arguments: null after printing `help`
 * for `--help`, else the values and `--duration` in seconds (bad values
 * throw a UsageError, which runMain turns into exit 2).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { sideBySideArgs, sideBySideOptions } from "./side_by_side.ts";
 * const t = sideBySideOptions("how long", "10s", {});
 * assert.equal(sideBySideArgs(t, "help", ["--duration", "2s"])?.seconds, 2);
 * assert.throws(() => sideBySideArgs(t, "help", ["--duration", "0"]), /positive/);
 * ```
 */
export function sideBySideArgs<T extends OptionTable>(
  table: T,
  help: string,
  args: string[],
): (OptionValues<T> & { seconds: number }) | null {
  const v = parseOptions(table, args);
  if (v.help) {
    console.log(help);
    return null;
  }
  const duration = (v as { duration?: string }).duration ?? "";
  return { ...v, seconds: parseDuration(duration, "--duration") / 1000 };
}

/**
 * Starts the busy workload both tools are measured on: the hotspots
 * fixture with one busy thread per online CPU, for `seconds` (it stops by
 * itself; kill it when done).
 */
export function startBusyFixture(seconds: number): Deno.ChildProcess {
  return new Deno.Command(`${ROOT}tests/fixtures/build/hotspots`, {
    args: [
      "--threads",
      String(onlineCpus().length),
      "--seconds",
      String(Math.ceil(seconds)),
    ],
    stdout: "null",
  }).spawn();
}
