/**
 * Parser benchmarks with their own timing loops (`deno task bench`):
 * per-event nanoseconds of
 * - decoding 1M ring buffer records in WASM (walk into the batch area),
 * - decoding the same records with a tight TypeScript DataView loop that does
 *   the same work (every field read, per-CPU counts and order, batch written):
 *   the baseline the 2x target is judged against,
 * - decoding them with the plain TS reference decoder of lib/parser (an
 *   object per event), for scale,
 * - a single push into the overwrite ring called from TS (pushRaw),
 * - a batch push inside WASM: a decoded 8,192-event batch (the session's
 *   batch size) pushed into the ring with pushBatch, again and again,
 * - decoding and pushing in one walk (walk toRing), for reference,
 * against the targets (WASM >= 2x faster than TS; single push <= 3 ns; batch
 * push <= 1 ns/event). Each figure is the median of several timed runs after
 * warm-up. Missed targets print MISSED but do not fail: the exit status is
 * non-zero only if something crashes. Other processes on the machine skew
 * the numbers, so the load average is printed with them.
 *
 *   deno run -A bench/run.ts [--json FILE] [--runs N] [--events N]
 *
 * Also exports the benchmark stream and the TS decoder for
 * bench/parser_bench.ts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { EVENT_SIZE, RECORD_SIZE } from "../lib/parser/layout.ts";
import { referenceWalk } from "../lib/parser/reference_decoder.ts";
import { ProfileParser } from "../lib/parser/wasm_parser.ts";

/** Events in the benchmark stream: 1M, so ms per run = ns per event. */
export const BENCH_EVENTS = 1_000_000;
const CPUS = 8;
const MAX_CPUS = 1024;

/** Stop reasons, numbered as the WASM module numbers them. */
const STOP_END = 0, STOP_BUSY = 1, STOP_PAST_END = 2, STOP_BATCH_FULL = 3;

/**
 * A tight TypeScript decoder of BPF ring buffer records: the same work as
 * the WASM walker (header checks, every field read, per-CPU counts and
 * out-of-order detection, decoded events written to a preallocated batch),
 * with DataView reads and no allocation per call. The fair baseline.
 */
export class TsDecoder {
  readonly cpuCount = new Uint32Array(MAX_CPUS);
  readonly cpuOoo = new Uint32Array(MAX_CPUS);
  readonly lastLo = new Uint32Array(MAX_CPUS);
  readonly lastHi = new Uint32Array(MAX_CPUS);
  readonly touched = new Uint32Array(MAX_CPUS);
  /** Decoded events, 8 words each: tsLo, tsHi, pid, tid, u, k, cpu, flags. */
  readonly out: Int32Array;
  touchedCount = 0;
  events = 0;
  discarded = 0;
  malformed = 0;
  outOfOrder = 0;
  badCpu = 0;
  stop = STOP_END;

  constructor(readonly batchCapacity: number) {
    this.out = new Int32Array(batchCapacity * 8);
  }

  /** Forgets the per-CPU last timestamps. */
  resetStream(): void {
    this.lastLo.fill(0);
    this.lastHi.fill(0);
  }

  /** Walks [base, base + len) of `view`; returns bytes consumed. */
  walk(view: DataView, base: number, len: number): number {
    const { cpuCount, cpuOoo, lastLo, lastHi, touched, out } = this;
    for (let i = 0; i < this.touchedCount; i++) {
      cpuCount[touched[i]] = 0;
      cpuOoo[touched[i]] = 0;
    }
    const cap = this.batchCapacity;
    let touchedCount = 0, events = 0, discarded = 0, short = 0, long = 0;
    let pastEnd = 0, ooo = 0, badCpu = 0, written = 0, stop = STOP_END;
    let off = 0;
    while (len - off >= 8) {
      const at = base + off;
      const hdr = view.getUint32(at, true);
      if (hdr & 0x80000000) {
        stop = STOP_BUSY;
        break;
      }
      const recLen = hdr & 0x3fffffff;
      const total = (recLen + 15) & ~7;
      if (total > len - off) {
        pastEnd++;
        stop = STOP_PAST_END;
        break;
      }
      if (hdr & 0x40000000) {
        discarded++;
        off += total;
        continue;
      }
      if (recLen !== EVENT_SIZE) {
        if (recLen < EVENT_SIZE) short++;
        else long++;
        off += total;
        continue;
      }
      if (written === cap) {
        stop = STOP_BATCH_FULL;
        break;
      }
      const e = at + 8;
      const tsLo = view.getUint32(e, true);
      const tsHi = view.getUint32(e + 4, true);
      const pid = view.getInt32(e + 8, true);
      const tid = view.getInt32(e + 12, true);
      const ustack = view.getInt32(e + 16, true);
      const kstack = view.getInt32(e + 20, true);
      const cpu = view.getUint32(e + 24, true);
      const flags = view.getUint32(e + 28, true);
      if (cpu < MAX_CPUS) {
        const n = cpuCount[cpu];
        if (n === 0) touched[touchedCount++] = cpu;
        cpuCount[cpu] = n + 1;
        const hi = lastHi[cpu];
        if (tsHi < hi || (tsHi === hi && tsLo < lastLo[cpu])) {
          ooo++;
          cpuOoo[cpu]++;
        }
        lastLo[cpu] = tsLo;
        lastHi[cpu] = tsHi;
      } else {
        badCpu++;
      }
      const o = written << 3;
      out[o] = tsLo;
      out[o + 1] = tsHi;
      out[o + 2] = pid;
      out[o + 3] = tid;
      out[o + 4] = ustack;
      out[o + 5] = kstack;
      out[o + 6] = cpu;
      out[o + 7] = flags;
      written++;
      events++;
      off += total;
    }
    if (stop === STOP_END && off !== len) {
      pastEnd++;
      stop = STOP_PAST_END;
    }
    this.touchedCount = touchedCount;
    this.events = events;
    this.discarded = discarded;
    this.malformed = short + long + pastEnd;
    this.outOfOrder = ooo;
    this.badCpu = badCpu;
    this.stop = stop;
    return off;
  }
}

/** A parser holding `events` committed records in its input area. */
export interface BenchSetup {
  parser: ProfileParser;
  /** Byte offset of the records in the parser's memory. */
  at: number;
  /** Bytes of records. */
  len: number;
  events: number;
  view: DataView;
  ts: TsDecoder;
}

/**
 * Builds the benchmark stream: `events` records over 8 CPUs with increasing
 * timestamps above 2^32 (both halves matter), in the parser's input area.
 */
export function setup(events = BENCH_EVENTS): BenchSetup {
  const parser = ProfileParser.fromModule(
    new WebAssembly.Module(
      Deno.readFileSync(
        new URL("../parser-wasm/build/parser.wasm", import.meta.url),
      ),
    ),
    {
      ringCapacity: 65536,
      batchCapacity: events,
      inputBytes: events * RECORD_SIZE,
    },
  );
  const len = events * RECORD_SIZE;
  const at = parser.heapTop - parser.inputBytes;
  const view = new DataView(parser.memory.buffer);
  for (let i = 0; i < events; i++) {
    const r = at + i * RECORD_SIZE;
    view.setUint32(r, EVENT_SIZE, true);
    view.setUint32(r + 4, 0, true);
    const e = r + 8;
    view.setUint32(e, (i * 997) >>> 0, true); // ts low
    view.setUint32(e + 4, 1 + (i >>> 22), true); // ts high
    view.setInt32(e + 8, 1000 + (i & 255), true);
    view.setInt32(e + 12, 2000 + (i & 1023), true);
    view.setInt32(e + 16, i % 50 === 0 ? -14 : i & 4095, true);
    view.setInt32(e + 20, i & 2047, true);
    view.setUint32(e + 24, i % CPUS, true);
    view.setUint32(e + 28, i & 3, true);
  }
  return { parser, at, len, events, view, ts: new TsDecoder(events) };
}

/** One WASM decode pass: walk into the batch area. */
export function wasmDecode(s: BenchSetup): number {
  s.parser.resetStream();
  return s.parser.walkAt(s.at, s.len, false, true);
}

/** One TS decode pass over the same bytes. */
export function tsDecode(s: BenchSetup): number {
  s.ts.resetStream();
  return s.ts.walk(s.view, s.at, s.len);
}

/**
 * One pass of the plain TypeScript reference decoder (the one the tests
 * check the WASM parser against): written for obviousness, it makes an
 * object with a BigInt timestamp per event. Returns the events decoded.
 */
export function referenceDecode(s: BenchSetup): number {
  const bytes = new Uint8Array(s.parser.memory.buffer, s.at, s.len);
  return referenceWalk(bytes).events.length;
}

/** `count` single pushes from TS. */
export function singlePushes(s: BenchSetup, count: number): void {
  const ring = s.parser.ring;
  for (let i = 0; i < count; i++) {
    ring.pushRaw(i, 1, 1000 + (i & 255), 2000, i & 4095, -14, i & 7, 0);
  }
}

/** One pass of pushes inside WASM: walk the records into the ring. */
export function walkToRing(s: BenchSetup): number {
  s.parser.resetStream();
  return s.parser.walkAt(s.at, s.len, true, false);
}

/** Events per decoded batch in the batch-push benchmark: the batch capacity
 * the profiler session uses. */
export const PUSH_BATCH_EVENTS = 8192;

/**
 * Decodes the first PUSH_BATCH_EVENTS records into the batch area, for
 * `pushBatches`.
 */
export function decodePushBatch(s: BenchSetup): void {
  s.parser.resetStream();
  const n = Math.min(PUSH_BATCH_EVENTS, s.events);
  s.parser.walkAt(s.at, n * RECORD_SIZE, false, true);
  if (s.parser.batchLength !== n) {
    throw new Error(`decoded ${s.parser.batchLength} of ${n} events`);
  }
}

/**
 * The batch push alone, inside WASM: the decoded batch (see
 * `decodePushBatch`) pushed into the ring until `count` events went in,
 * one `pushBatch()` per batch, as a consumer does after each decode. The
 * ring (65,536 events) is far smaller than the total, so every batch
 * overwrites older events and every event is really copied.
 */
export function pushBatches(s: BenchSetup, count: number): number {
  const batch = s.parser.batchLength;
  if (batch !== Math.min(PUSH_BATCH_EVENTS, s.events)) {
    throw new Error("pushBatches: decodePushBatch first");
  }
  const ring = s.parser.ring;
  let pushed = 0;
  while (pushed < count) {
    ring.pushBatch();
    pushed += batch;
  }
  return pushed;
}

/**
 * Checks that both decoders decode the stream the same way, so the timings
 * compare equal work (and a broken decoder cannot look fast).
 */
export function verify(s: BenchSetup): void {
  const n = wasmDecode(s);
  const m = tsDecode(s);
  const p = s.parser;
  const ts = s.ts;
  const fail = (what: string) => {
    throw new Error(`benchmark decoders disagree: ${what}`);
  };
  if (n !== s.len || m !== s.len) fail(`consumed ${n} / ${m} of ${s.len}`);
  if (p.lastEvents !== s.events || ts.events !== s.events) fail("events");
  if (p.lastOutOfOrder !== ts.outOfOrder) fail("out of order");
  if (p.lastMalformed !== ts.malformed) fail("malformed");
  const ref = referenceWalk(new Uint8Array(p.memory.buffer, s.at, s.len));
  if (ref.events.length !== s.events) fail("reference decoder events");
  if (ref.stats.outOfOrder !== p.lastOutOfOrder) fail("reference out of order");
  const last = ref.events[s.events - 1];
  if (last.pid !== p.batchPid(s.events - 1)) fail("reference decoder pid");
  const batch = new Int32Array(p.memory.buffer, p.batchOffset, s.events * 8);
  for (let i = 0; i < batch.length; i++) {
    if (batch[i] !== ts.out[i]) fail(`word ${i} of the batch`);
  }
}

/** Median per-event ns of `fn` (which handles `events` per call). */
function measure(
  fn: () => unknown,
  events: number,
  runs: number,
  warmup: number,
): { median: number; min: number; max: number } {
  for (let i = 0; i < warmup; i++) fn();
  const ns: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ns.push(((performance.now() - t0) * 1e6) / events);
  }
  ns.sort((a, b) => a - b);
  return { median: ns[Math.floor(ns.length / 2)], min: ns[0], max: ns.at(-1)! };
}

const USAGE = `Usage: deno task bench [--events N] [--runs N] [--json FILE]

Parser benchmarks: ns per event of WASM and TypeScript decoding, a single
push from TypeScript and a batch push inside WASM, against their targets.
Missed targets print MISSED; the exit status is 0 unless something fails.

  --events N   records in the benchmark stream (default ${BENCH_EVENTS})
  --runs N     timed runs per measure; the median is reported (default 9)
  --json FILE  also write the results as one JSON object
  -h, --help   this text

Exit: 0 done, 1 a benchmark failed (decoders disagree, crash), 2 usage error.`;

/** A bad command line: the message and exit status 2. */
class UsageError extends Error {}

function wholeNumber(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) {
    throw new UsageError(`invalid ${what} "${text}" (a whole number >= 1)`);
  }
  return v;
}

async function main(): Promise<void> {
  let values;
  try {
    values = parseArgs({
      args: Deno.args,
      options: {
        json: { type: "string" },
        runs: { type: "string", default: "9" },
        events: { type: "string", default: String(BENCH_EVENTS) },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const runs = wholeNumber(values.runs!, "--runs");
  const events = wholeNumber(values.events!, "--events");
  const s = setup(events);
  verify(s);

  const wasm = measure(() => wasmDecode(s), events, runs, 3);
  const ts = measure(() => tsDecode(s), events, runs, 3);
  // Allocates ~1M objects per pass: fewer runs.
  const ref = measure(() => referenceDecode(s), events, Math.min(runs, 3), 1);
  const single = measure(() => singlePushes(s, events), events, runs, 3);
  decodePushBatch(s);
  const pushedPerRun = pushBatches(s, events);
  const batch = measure(() => pushBatches(s, events), pushedPerRun, runs, 3);
  const walkRing = measure(() => walkToRing(s), events, runs, 3);
  const ratio = ts.median / wasm.median;

  const targets = {
    decodeRatio: 2,
    singlePushNs: 3,
    batchPushNs: 1,
  };
  const met = {
    decodeRatio: ratio >= targets.decodeRatio,
    singlePushNs: single.median <= targets.singlePushNs,
    batchPushNs: batch.median <= targets.batchPushNs,
  };
  const status = (ok: boolean) => ok ? "ok" : "MISSED";
  const f = (x: number) => x.toFixed(2).padStart(8);
  const range = (m: { min: number; max: number }) =>
    `${m.min.toFixed(2)}-${m.max.toFixed(2)}`.padStart(15);
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
  console.log(`${"decode: wasm".padEnd(34)}${f(wasm.median)}${range(wasm)}`);
  console.log(
    `${"decode: ts (DataView loop)".padEnd(34)}${f(ts.median)}${range(ts)}`,
  );
  console.log(
    `${"decode: ts reference decoder".padEnd(34)}${f(ref.median)}${
      range(ref)
    }  (objects, BigInt; ${(ref.median / wasm.median).toFixed(1)}x wasm)`,
  );
  console.log(
    `${"decode: ts / wasm".padEnd(34)}${ratio.toFixed(3).padStart(8)}x${
      "".padStart(14)
    }>= ${targets.decodeRatio}x  ${status(met.decodeRatio)}`,
  );
  console.log(
    `${"push: single pushRaw from TS".padEnd(34)}${f(single.median)}${
      range(single)
    }  <= ${targets.singlePushNs} ns  ${status(met.singlePushNs)}`,
  );
  console.log(
    `${"push: batch inside wasm (pushBatch)".padEnd(34)}${f(batch.median)}${
      range(batch)
    }  <= ${targets.batchPushNs} ns  ${status(met.batchPushNs)}`,
  );
  console.log(
    `${"  (decode + push: walk toRing)".padEnd(34)}${f(walkRing.median)}${
      range(walkRing)
    }`,
  );
  const result = {
    bench: "parser",
    events,
    runs,
    cpus: navigator.hardwareConcurrency,
    loadavg: Deno.loadavg(),
    wasmDecodeNs: wasm.median,
    tsDecodeNs: ts.median,
    referenceDecodeNs: ref.median,
    decodeRatio: ratio,
    singlePushNs: single.median,
    batchPushNs: batch.median,
    batchEvents: PUSH_BATCH_EVENTS,
    walkToRingNs: walkRing.median,
    targets,
    met,
  };
  const line = JSON.stringify(result);
  console.log(line);
  if (values.json) await Deno.writeTextFile(values.json, line + "\n");
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}\n\n${USAGE}`);
      Deno.exit(2);
    }
    console.error("bench/run.ts crashed:", err);
    Deno.exit(1);
  }
}
