/**
 * `deno task bench`: parser benchmarks with their own timing loops,
 * per-event nanoseconds of
 * - decoding 1M ring buffer records in WASM (walk into the batch area),
 * - decoding the same records with a tight TypeScript DataView loop that does
 *   the same work (bench/ts_decoder.ts): the baseline the 2x target is
 *   judged against,
 * - decoding them with the plain TS reference decoder of lib/parser (an
 *   object per event), for scale,
 * - decoding and aggregating them in one walk (SINK_AGGREGATE, plain
 *   events: by pid, tid and cpu), timed alternately with decode alone, and
 *   the difference per event (goal: at most +2 ns),
 * - records with frames of a realistic depth (about 24 frames per event,
 *   up to 304 distinct stacks, see bench/parser_workloads.ts): decode without
 *   tables, decode + intern, decode + intern + aggregate, per event and per
 *   frame,
 * - a single push into the overwrite ring called from TS (pushRaw),
 * - a batch push inside WASM: a decoded 8,192-event batch (the session's
 *   batch size) pushed into the ring with pushBatch, again and again,
 * - decoding and pushing in one walk (walk toRing), for reference,
 * against the targets (WASM >= 2x faster than TS; aggregation <= +2 ns per
 * event; single push <= 3 ns; batch push <= 1 ns/event). Each figure is the
 * median of several timed runs after
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
  buildFramesStream,
  checkDecodersAgree,
  checkFramesWorkloads,
  decodePushBatch,
  framesDecode,
  framesIntern,
  framesInternAggregate,
  PUSH_BATCH_EVENTS,
  pushBatches,
  referenceDecode,
  singlePushes,
  tsDecode,
  walkToRing,
  wasmDecode,
  wasmDecodeAggregate,
} from "./parser_workloads.ts";

const USAGE = `Usage: deno task bench [--events N] [--runs N] [--json FILE]

Parser benchmarks: ns per event of WASM and TypeScript decoding, of decoding
and aggregating, of records with frames (decode, intern, aggregate; also per
frame), a single push from TypeScript and a batch push inside WASM, against
their targets. Missed targets print MISSED; they do not change the exit
status.

  --events N   records in the benchmark stream (default ${BENCH_EVENTS}); the
               stream of records with frames has a fifth as many
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

/**
 * Times `a` and `b` (each handling `events` per call) alternately, `runs`
 * pairs after warm-up, so that both see the same spells of machine load;
 * `diff` is the median of the per-pair differences b - a.
 */
function measurePair(
  a: () => unknown,
  b: () => unknown,
  events: number,
  runs: number,
  warmup: number,
): { a: Timing; b: Timing; diff: Timing } {
  for (let i = 0; i < warmup; i++) {
    a();
    b();
  }
  const na: number[] = [], nb: number[] = [], d: number[] = [];
  const time = (fn: () => unknown) => {
    const t0 = performance.now();
    fn();
    return ((performance.now() - t0) * 1e6) / events;
  };
  for (let i = 0; i < runs; i++) {
    const x = time(a), y = time(b);
    na.push(x);
    nb.push(y);
    d.push(y - x);
  }
  const t = (ns: number[]): Timing => ({
    median: median(ns),
    min: Math.min(...ns),
    max: Math.max(...ns),
  });
  return { a: t(na), b: t(nb), diff: t(d) };
}

/** The targets, and whether this run met them. */
const TARGETS = {
  decodeRatio: 2,
  aggregateOverheadNs: 2,
  singlePushNs: 3,
  batchPushNs: 1,
};

/** The frames stream's shape and its three measures. */
interface FramesTimings {
  events: number;
  frames: number;
  distinctStacks: number;
  aggregationKeys: number;
  decode: Timing;
  intern: Timing;
  internAggregate: Timing;
}

/** Every measure of one run. */
interface ParserTimings {
  wasm: Timing;
  ts: Timing;
  reference: Timing;
  /** Decode alone and decode + aggregate, timed alternately. */
  pairDecode: Timing;
  aggregate: Timing;
  aggregateOverhead: Timing;
  frames: FramesTimings;
  single: Timing;
  batch: Timing;
  walkToRing: Timing;
}

function timeEverything(events: number, runs: number): ParserTimings | string {
  const stream = buildBenchStream(events);
  const disagreement = checkDecodersAgree(stream);
  if (disagreement !== null) return disagreement;
  const framesEvents = Math.max(1000, Math.round(events / 5));
  const fs = buildFramesStream(framesEvents);
  const framesWrong = checkFramesWorkloads(fs);
  if (framesWrong !== null) return `records with frames: ${framesWrong}`;
  const wasm = measure(() => wasmDecode(stream), events, runs, 3);
  const ts = measure(() => tsDecode(stream), events, runs, 3);
  const agg = measurePair(
    () => wasmDecode(stream),
    () => wasmDecodeAggregate(stream),
    events,
    runs,
    3,
  );
  const frames: FramesTimings = {
    events: fs.events,
    frames: fs.frames,
    distinctStacks: fs.distinctStacks,
    aggregationKeys: fs.aggregationKeys,
    decode: measure(() => framesDecode(fs), fs.events, runs, 3),
    intern: measure(() => framesIntern(fs), fs.events, runs, 3),
    internAggregate: measure(
      () => framesInternAggregate(fs),
      fs.events,
      runs,
      3,
    ),
  };
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
  return {
    wasm,
    ts,
    reference,
    pairDecode: agg.a,
    aggregate: agg.b,
    aggregateOverhead: agg.diff,
    frames,
    single,
    batch,
    walkToRing: toRing,
  };
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
  row("decode, alternating with:", t.pairDecode);
  row("decode + aggregate (plain events)", t.aggregate);
  const over = t.aggregateOverhead.median;
  row(
    "  aggregate: + ns per event",
    t.aggregateOverhead,
    `  <= +${TARGETS.aggregateOverheadNs} ns  ${
      status(over <= TARGETS.aggregateOverheadNs)
    } (${((t.aggregate.median / t.pairDecode.median - 1) * 100).toFixed(0)}%)`,
  );
  const f = t.frames;
  const perFrame = f.frames / f.events;
  console.log(
    `records with frames: ${f.events} events, ${
      perFrame.toFixed(1)
    } frames per event, ${f.distinctStacks} distinct stacks, ${f.aggregationKeys} aggregation keys`,
  );
  console.log(
    `${"measure".padEnd(34)}${"ns/event".padStart(8)}${
      "min-max".padStart(15)
    }  ns/frame`,
  );
  const frameRow = (label: string, m: Timing, note = "") =>
    row(label, m, `  ${(m.median / perFrame).toFixed(3)}${note}`);
  frameRow("frames: decode, no tables", f.decode, "  (validate, classify)");
  frameRow("frames: decode + intern", f.intern);
  frameRow(
    "frames: decode + intern + aggregate",
    f.internAggregate,
    `  (${(f.internAggregate.median / f.decode.median).toFixed(2)}x decode)`,
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
    pairDecodeNs: t.pairDecode.median,
    aggregateDecodeNs: t.aggregate.median,
    aggregateOverheadNs: t.aggregateOverhead.median,
    frames: {
      events: t.frames.events,
      frames: t.frames.frames,
      framesPerEvent: t.frames.frames / t.frames.events,
      distinctStacks: t.frames.distinctStacks,
      aggregationKeys: t.frames.aggregationKeys,
      decodeNs: t.frames.decode.median,
      internNs: t.frames.intern.median,
      internAggregateNs: t.frames.internAggregate.median,
      decodeNsPerFrame: t.frames.decode.median * t.frames.events /
        t.frames.frames,
      internNsPerFrame: t.frames.intern.median * t.frames.events /
        t.frames.frames,
      internAggregateNsPerFrame: t.frames.internAggregate.median *
        t.frames.events / t.frames.frames,
    },
    singlePushNs: t.single.median,
    batchPushNs: t.batch.median,
    batchEvents: PUSH_BATCH_EVENTS,
    walkToRingNs: t.walkToRing.median,
    targets: TARGETS,
    met: {
      decodeRatio: ratio >= TARGETS.decodeRatio,
      aggregateOverheadNs: t.aggregateOverhead.median <=
        TARGETS.aggregateOverheadNs,
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
