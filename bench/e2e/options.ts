/**
 * `bench:e2e`'s command line: the help text, the options and their checks.
 * Every value is checked here, before anything starts (a `--json` path that
 * cannot be written too), so a mistake is a usage error (exit 2), never a
 * failure half-way through a long run.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseOptions } from "./options.ts";
 * const o = parseOptions(["--rates", "1000,2000", "--step-duration", "500ms", "--sections", "rates"]);
 * assert.ok(o !== null);
 * assert.deepEqual(o.rates, [1000, 2000]);
 * assert.equal(o.stepS, 0.5);
 * assert.equal(o.warmupS, 0.167); // a third of a short step, in whole ms
 * assert.throws(() => parseOptions(["--ring-bytes", "3M"]), /power of two/);
 * assert.throws(() => parseOptions(["--step-duration", "2", "--warmup", "2"]), /shorter than/);
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import {
  parseBytes,
  parseDuration,
  parsePositiveInt,
  parseRates,
} from "../../lib/common/args.ts";
import { UsageError } from "../../lib/common/errors.ts";
import { checkWritable } from "../../lib/common/output_file.ts";
import { type Consumer, CONSUMERS, RING_BYTES_RULE } from "./consumers.ts";

/** The baseline the rate ladder is compared with, by default. */
export const DEFAULT_BASELINE =
  new URL("./baseline.json", import.meta.url).pathname;

/** The sections, in the order they run. */
export const SECTIONS = ["rates", "overhead", "decode", "memory"] as const;
/** One of {@link SECTIONS}. */
export type Section = typeof SECTIONS[number];

/** Most timed passes per decoder: streamprof-decode-bench's own limit. */
const MAX_DECODE_ITERATIONS = 1000;

/**
 * The default warm-up before a steady window: long enough for Deno's JIT
 * to have compiled the hot path (its first tier-up happens within the
 * first few hundred ms of events) and the ring's pages to be touched.
 */
const DEFAULT_WARMUP_S = 1;

/** The help text. */
export const HELP = `Usage: deno task bench:e2e [options]

The Deno+WASM consumer, the C libbpf consumer and the C+wasm2c consumer side
by side on the real kernel (root): zero-drop rate ladder with each
consumer's steady-state CPU per event at each rate (start-up and the Deno
consumer's resolution of its profile apart), 10 kHz overhead, decode cost
per event, memory. Tables on stdout.

  --rates LIST            events/s steps (default 100000,250000,500000,
                          1000000,2000000,4000000)
  --step-duration T       time per step: seconds, or 500ms, 1m (default 3)
  --warmup T              steady-state figures count from T after attach
                          (rates, overhead; default ${DEFAULT_WARMUP_S} s, or a third of the
                          shortest run if that is shorter)
  --ring-bytes N          ring size for every consumer, a power of two
                          from 4K to 1G (default 8M)
  --consumers LIST        default deno-wasm,c-libbpf,c-libbpf-poll10,c-wasm2c;
                          also deno-wasm-bare (the Deno consumer without
                          its profile work: no aggregation, no resolution)
  --sections LIST         default rates,overhead,decode,memory
  --overhead-duration T   time per consumer at 10 kHz (default 10)
  --decode-iterations N   timed passes per decoder, at most ${MAX_DECODE_ITERATIONS} (default 20)
  --decode-events N       ring events to record for the decode section
                          (recorded in 1 s of the stress source; default
                          200000, about one 8 MiB ring)
  --memory-duration T     time of the 1 kHz memory run (default 60)
  --json FILE             write the results as JSON
  --baseline FILE         baseline to compare with (default bench/e2e/baseline.json)
  --update-baseline       write this run's held rates as the new baseline
  -h, --help              this text

Exit: 0 done (missed goals print MISSED and do not fail: they are findings);
1 something could not be measured (a consumer failed every step of a
section, or a step a section needs failed: recording ring data, the decode
tool, the CPU burner; each is a FAILED line and in the JSON's "failures"),
or a consumer dropped at a rate it held in the baseline (REGRESSION); 2
usage error, checked before anything runs (an unwritable --json too); 3 the
machine cannot run it (not root, harness not built); 70 a bug.`;

/** What one run measures, and where it writes. */
export interface Options {
  rates: number[];
  stepS: number;
  /** Seconds after attach the steady windows start. */
  warmupS: number;
  ringBytes: number;
  consumers: Consumer[];
  sections: Set<Section>;
  overheadS: number;
  decodeIterations: number;
  decodeEvents: number;
  memoryS: number;
  json?: string;
  baseline: string;
  updateBaseline: boolean;
}

/** Seconds of a duration option ("3", "500ms", "1m"). */
function seconds(text: string, what: string): number {
  return parseDuration(text, what) / 1000;
}

/** The items of a comma-separated list option, each one of `known`. */
function listOf<T>(
  text: string,
  what: string,
  known: Record<string, T>,
): T[] {
  return text.split(",").map((item) => {
    const name = item.trim();
    if (!Object.hasOwn(known, name)) {
      throw new UsageError(
        `unknown ${what} "${name}" (known: ${Object.keys(known).join(", ")})`,
      );
    }
    return known[name];
  });
}

/**
 * The warm-up: `text` if given, else the default or a third of the
 * shortest run it applies to (a step of the ladder, a consumer's overhead
 * run), whichever is shorter. It must be shorter than each of those runs:
 * the window starts after it and ends with the run.
 */
function warmupOf(
  text: string | undefined,
  sections: Set<Section>,
  stepS: number,
  overheadS: number,
): number {
  const runs: [string, number][] = [];
  if (sections.has("rates")) runs.push(["--step-duration", stepS]);
  if (sections.has("overhead")) runs.push(["--overhead-duration", overheadS]);
  if (text === undefined) {
    // Whole ms: the consumers take it on their command lines.
    const w = Math.min(DEFAULT_WARMUP_S, ...runs.map(([, s]) => s / 3));
    return Math.round(w * 1000) / 1000;
  }
  const w = seconds(text, "--warmup");
  for (const [what, s] of runs) {
    if (w >= s) {
      throw new UsageError(
        `--warmup ${w} s must be shorter than ${what} (${s} s): the steady window comes after it`,
      );
    }
  }
  return w;
}

/** Parses the command line; null for --help. Throws a UsageError. */
export function parseOptions(args: string[]): Options | null {
  const { values } = parseArgs({
    args,
    options: {
      rates: {
        type: "string",
        default: "100000,250000,500000,1000000,2000000,4000000",
      },
      "step-duration": { type: "string", default: "3" },
      warmup: { type: "string" },
      "ring-bytes": { type: "string", default: "8M" },
      consumers: {
        type: "string",
        default: "deno-wasm,c-libbpf,c-libbpf-poll10,c-wasm2c",
      },
      sections: { type: "string", default: SECTIONS.join(",") },
      "overhead-duration": { type: "string", default: "10" },
      "decode-iterations": { type: "string", default: "20" },
      "decode-events": { type: "string", default: "200000" },
      "memory-duration": { type: "string", default: "60" },
      json: { type: "string" },
      baseline: { type: "string", default: DEFAULT_BASELINE },
      "update-baseline": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return null;
  const sectionNames = Object.fromEntries(SECTIONS.map((s) => [s, s]));
  const sections = new Set(listOf(values.sections!, "section", sectionNames));
  const stepS = seconds(values["step-duration"]!, "--step-duration");
  const overheadS = seconds(
    values["overhead-duration"]!,
    "--overhead-duration",
  );
  const o: Options = {
    rates: parseRates(values.rates!, "--rates"),
    stepS,
    warmupS: warmupOf(values.warmup, sections, stepS, overheadS),
    ringBytes: parseBytes(
      values["ring-bytes"]!,
      "--ring-bytes",
      RING_BYTES_RULE,
    ),
    consumers: listOf(values.consumers!, "consumer", CONSUMERS),
    sections,
    overheadS,
    decodeIterations: parsePositiveInt(
      values["decode-iterations"]!,
      "--decode-iterations",
      MAX_DECODE_ITERATIONS,
    ),
    decodeEvents: parsePositiveInt(values["decode-events"]!, "--decode-events"),
    memoryS: seconds(values["memory-duration"]!, "--memory-duration"),
    json: values.json,
    baseline: values.baseline!,
    updateBaseline: values["update-baseline"]!,
  };
  if (o.updateBaseline && !o.sections.has("rates")) {
    throw new UsageError("--update-baseline needs the rates section");
  }
  if (o.json !== undefined) checkWritable(o.json, "--json");
  if (o.updateBaseline) checkWritable(o.baseline, "--baseline");
  return o;
}
