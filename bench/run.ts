/**
 * `deno task bench`: parser benchmarks with their own timing loops,
 * per-event nanoseconds of
 * - decoding 1M ring buffer records in WASM (walk into the batch area),
 * - decoding the same records with a tight TypeScript DataView loop that does
 *   the same work (bench/ts_decoder.ts): the baseline the 2x target is
 *   judged against,
 * - decoding them with the plain TS reference decoder of lib/parser (an
 *   object per event), for scale,
 * - a single push into the overwrite ring called from TS (pushRaw),
 * - a batch push inside WASM: a decoded 8,192-event batch (the session's
 *   batch size) pushed into the ring with pushBatch, again and again,
 * - decoding and pushing in one walk (walk toRing), for reference,
 * against the targets (WASM >= 2x faster than TS; single push <= 3 ns; batch
 * push <= 1 ns/event). Each figure is the median of several timed runs after
 * warm-up. Missed targets print MISSED but do not fail. Other processes on
 * the machine skew the numbers, so the load average is printed with them.
 * The workloads themselves are in bench/parser_workloads.ts.
 *
 * @example
 * ```sh
 * deno run -A bench/run.ts --events 200000 --runs 5 --json /tmp/parser.json
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { parsePositiveInt } from "../lib/common/args.ts";
import { runMain } from "../lib/common/command.ts";
import { ExitCode } from "../lib/common/errors.ts";
import { checkWritable, writeFileAtomic } from "../lib/common/output_file.ts";
import { median } from "../lib/common/stats.ts";
import {
  BENCH_EVENTS,
  buildBenchStream,
  checkDecodersAgree,
  decodePushBatch,
  PUSH_BATCH_EVENTS,
  pushBatches,
  referenceDecode,
  singlePushes,
  tsDecode,
  walkToRing,
  wasmDecode,
} from "./parser_workloads.ts";

const USAGE = `Usage: deno task bench [--events N] [--runs N] [--json FILE]

Parser benchmarks: ns per event of WASM and TypeScript decoding, a single
push from TypeScript and a batch push inside WASM, against their targets.
Missed targets print MISSED; they do not change the exit status.

  --events N   records in the benchmark stream (default ${BENCH_EVENTS})
  --runs N     timed runs per measure; the median is reported (default 9)
  --json FILE  also write the results as one JSON object
  -h, --help   this text

Exit: 0 done, 1 the decoders disagree (nothing is timed), 2 usage error,
70 a crash (a bug).`;

/** Per-event ns of one measure over its timed runs. */
interface Timing {
  median: number;
  min: number;
  max: number;
}

/** Times `fn` (which handles `events` per call) `runs` times after warm-up. */
function measure(
  fn: () => unknown,
  events: number,
  runs: number,
  warmup: number,
): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const ns: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ns.push(((performance.now() - t0) * 1e6) / events);
  }
  return { median: median(ns), min: Math.min(...ns), max: Math.max(...ns) };
}

/** The targets, and whether this run met them. */
const TARGETS = { decodeRatio: 2, singlePushNs: 3, batchPushNs: 1 };

/** Every measure of one run. */
interface ParserTimings {
  wasm: Timing;
  ts: Timing;
  reference: Timing;
  single: Timing;
  batch: Timing;
  walkToRing: Timing;
}

function timeEverything(events: number, runs: number): ParserTimings | string {
  const stream = buildBenchStream(events);
  const disagreement = checkDecodersAgree(stream);
  if (disagreement !== null) return disagreement;
  const wasm = measure(() => wasmDecode(stream), events, runs, 3);
  const ts = measure(() => tsDecode(stream), events, runs, 3);
  // Allocates ~1M objects per pass: fewer runs.
  const reference = measure(
    () => referenceDecode(stream),
    events,
    Math.min(runs, 3),
    1,
  );
  const single = measure(() => singlePushes(stream, events), events, runs, 3);
  decodePushBatch(stream);
  const pushedPerRun = pushBatches(stream, events);
  const batch = measure(
    () => pushBatches(stream, events),
    pushedPerRun,
    runs,
    3,
  );
  const toRing = measure(() => walkToRing(stream), events, runs, 3);
  return { wasm, ts, reference, single, batch, walkToRing: toRing };
}

function printTable(t: ParserTimings, events: number, runs: number): void {
  const ratio = t.ts.median / t.wasm.median;
  const status = (ok: boolean) => ok ? "ok" : "MISSED";
  const ns = (x: number) => x.toFixed(2).padStart(8);
  const range = (m: Timing) =>
    `${m.min.toFixed(2)}-${m.max.toFixed(2)}`.padStart(15);
  const row = (label: string, m: Timing, note = "") =>
    console.log(`${label.padEnd(34)}${ns(m.median)}${range(m)}${note}`);
  const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(
    `parser benchmarks: ${events} events per run, median of ${runs} runs, ` +
      `${navigator.hardwareConcurrency} CPUs, load average ${load}`,
  );
  console.log(
    `${"measure".padEnd(34)}${"ns/event".padStart(8)}${
      "min-max".padStart(15)
    }  target`,
  );
  row("decode: wasm", t.wasm);
  row("decode: ts (DataView loop)", t.ts);
  row(
    "decode: ts reference decoder",
    t.reference,
    `  (objects, BigInt; ${
      (t.reference.median / t.wasm.median).toFixed(1)
    }x wasm)`,
  );
  console.log(
    `${"decode: ts / wasm".padEnd(34)}${ratio.toFixed(3).padStart(8)}x${
      "".padStart(14)
    }>= ${TARGETS.decodeRatio}x  ${status(ratio >= TARGETS.decodeRatio)}`,
  );
  const atMost = (m: Timing, targetNs: number) =>
    `  <= ${targetNs} ns  ${status(m.median <= targetNs)}`;
  row(
    "push: single pushRaw from TS",
    t.single,
    atMost(t.single, TARGETS.singlePushNs),
  );
  row(
    "push: batch inside wasm (pushBatch)",
    t.batch,
    atMost(t.batch, TARGETS.batchPushNs),
  );
  row("  (decode + push: walk toRing)", t.walkToRing);
}

function resultJson(t: ParserTimings, events: number, runs: number) {
  const ratio = t.ts.median / t.wasm.median;
  return {
    bench: "parser",
    events,
    runs,
    cpus: navigator.hardwareConcurrency,
    loadavg: Deno.loadavg(),
    wasmDecodeNs: t.wasm.median,
    tsDecodeNs: t.ts.median,
    referenceDecodeNs: t.reference.median,
    decodeRatio: ratio,
    singlePushNs: t.single.median,
    batchPushNs: t.batch.median,
    batchEvents: PUSH_BATCH_EVENTS,
    walkToRingNs: t.walkToRing.median,
    targets: TARGETS,
    met: {
      decodeRatio: ratio >= TARGETS.decodeRatio,
      singlePushNs: t.single.median <= TARGETS.singlePushNs,
      batchPushNs: t.batch.median <= TARGETS.batchPushNs,
    },
  };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: "string" },
      runs: { type: "string", default: "9" },
      events: { type: "string", default: String(BENCH_EVENTS) },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return ExitCode.OK;
  }
  const runs = parsePositiveInt(values.runs!, "--runs");
  const events = parsePositiveInt(values.events!, "--events");
  if (values.json !== undefined) checkWritable(values.json, "--json");

  const timings = timeEverything(events, runs);
  if (typeof timings === "string") {
    console.error(`bench: the decoders disagree (${timings}): nothing timed`);
    return ExitCode.FAILED;
  }
  printTable(timings, events, runs);
  const line = JSON.stringify(resultJson(timings, events, runs));
  console.log(line);
  if (values.json !== undefined) {
    await writeFileAtomic(values.json, line + "\n");
  }
  return ExitCode.OK;
}

if (import.meta.main) {
  Deno.exit(await runMain("bench", () => main(Deno.args), "deno task bench"));
}
