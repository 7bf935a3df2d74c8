/**
 * Section 3 of `bench:e2e`, decode cost per event of the same recorded ring
 * bytes, five ways: the WASM parser in Deno (V8), the hand-written C walker
 * (harness-c/native_walker.c, -O2) called through Deno FFI in the same
 * process, the WASM module compiled by wasm2c in C and the hand-written C
 * walker in their own process (streamprof-decode-bench), and the TypeScript
 * DataView walker of bench/ts_decoder.ts. All do the same work (walk
 * headers, per-CPU counts and order, copy each event into a batch of 8192,
 * walk after walk), and the C tool checks its two against each other; here
 * the WASM, TS and FFI C results are checked to agree too. Rounds alternate
 * the Deno decoders with the C tool, since on a shared machine the speed of
 * the whole machine drifts between one process and the next.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root, BPF and the built harness to record ring data.
 * import { decodeCosts, recordRing } from "./decode.ts";
 * const file = await recordRing(250000, 1, 8 << 20);
 * console.log(await decodeCosts(file, 20));
 * ```
 * @module
 */
import { formatCount, formatMB } from "../../lib/common/format.ts";
import { median } from "../../lib/common/stats.ts";
import { EVENT_SIZE, MODULE_ABI as M } from "../../lib/parser/layout.ts";
import { ProfileParser } from "../../lib/parser/wasm_parser.ts";
import { formatTable } from "../../lib/report/table.ts";
import { TsDecoder } from "../ts_decoder.ts";
import {
  CONSUMERS,
  PROGRAMS,
  runStressPair,
  StepFailedError,
  WatchedProcess,
} from "./consumers.ts";
import type { Options } from "./options.ts";
// Events per walk: the live consumers' batch.
import { SESSION_BATCH_EVENTS } from "../../lib/profiler/session.ts";

/** Rounds of Deno passes and C tool runs, alternating. */
const DECODE_ROUNDS = 5;

/** Per-event decode cost of one decoder, ns. */
export interface DecodeCost {
  decoder: string;
  /** Median over the rounds of the per-round median pass. */
  medianNs: number;
  /** Fastest single pass. */
  bestNs: number;
  /** Each round's median pass. */
  roundsNs: number[];
}

/** The decode section's result. */
export interface DecodeResult {
  file: string;
  bytes: number;
  events: number;
  /** Timed passes per decoder per round. */
  iterations: number;
  rounds: number;
  costs: DecodeCost[];
}

/**
 * Records real ring data: the wasm2c consumer with --record on the stress
 * source at `rate` events/s for `seconds`. Returns the file (caller removes).
 */
export async function recordRing(
  rate: number,
  seconds: number,
  ringBytes: number,
): Promise<string> {
  const file = await Deno.makeTempFile({
    prefix: "streamprof-e2e-",
    suffix: ".ring",
  });
  try {
    const { consumer } = await runStressPair(
      CONSUMERS["c-wasm2c"],
      rate,
      seconds,
      ringBytes,
      { record: file },
    );
    if (consumer.code !== 0) {
      throw new StepFailedError(
        `recording ring data failed (exit ${consumer.code}): ${consumer.stderr}`,
      );
    }
    return file;
  } catch (err) {
    await Deno.remove(file).catch(() => {});
    throw err;
  }
}

/** Per-pass ns of the decoders run inside Deno, from `timedPasses`. */
interface DenoPasses {
  wasm: number[];
  ts: number[];
  /** The hand-written C walker called through FFI, same bytes, same process. */
  cFfi: number[];
}

/**
 * One decoder as a whole pass needs it: `walk` decodes from byte `off` of
 * the recorded stream (at most `left` bytes, one batch) and returns the
 * bytes it consumed; `events` and `outOfOrder` report that last walk.
 */
interface Walker {
  reset(): void;
  walk(off: number, left: number): number;
  events(): number;
  outOfOrder(): number;
}

/** Result of one pass over the whole stream, for the agreement check. */
interface PassResult {
  off: number;
  events: number;
  outOfOrder: number;
}

/** Decodes the whole `len`-byte stream with `w`, batch after batch. */
function wholePass(w: Walker, len: number): PassResult {
  w.reset();
  let off = 0, events = 0, outOfOrder = 0;
  while (off < len) {
    const n = w.walk(off, len - off);
    events += w.events();
    outOfOrder += w.outOfOrder();
    if (n === 0) break;
    off += n;
  }
  return { off, events, outOfOrder };
}

/**
 * The hand-written C walker (harness-c/native_walker.c, built -O2 as a
 * shared library) driven through Deno FFI over the same bytes, in the WASM
 * parser's own memory, so that the WASM/C comparison is an interleaved A/B
 * in one process. One FFI call per batch of 8192 events: its ~100 ns is
 * ~0.01 ns per event.
 */
function nativeWalker(
  memory: WebAssembly.Memory,
  at: number,
  len: number,
): Walker & { close(): void; batch: Uint8Array } {
  const lib = Deno.dlopen(PROGRAMS.nativeWalkerLib, {
    native_walker_size: { parameters: [], result: "usize" },
    native_walker_init: {
      parameters: ["buffer", "buffer", "u32"],
      result: "void",
    },
    native_walker_reset_stream: { parameters: ["buffer"], result: "void" },
    native_walker_walk: {
      parameters: ["buffer", "pointer", "u32"],
      result: "u32",
    },
  });
  const s = lib.symbols;
  const walker = new Uint8Array(Number(s.native_walker_size()));
  // The walker keeps a pointer to `batch`: the object below holds it until
  // the library closes, so the collector cannot free the memory C writes to.
  const batch = new Uint8Array(SESSION_BATCH_EVENTS * EVENT_SIZE);
  s.native_walker_init(walker, batch, SESSION_BATCH_EVENTS);
  // struct wasm_walk_stats comes first, laid out by the module's ST_* words
  // (harness-c/wasm_parser.h checks that with static assertions).
  const stats = new Uint32Array(walker.buffer, 0, M.STATS_WORDS);
  // The memory never grows after the parser's init, so this stays valid.
  const base = Deno.UnsafePointer.value(
    Deno.UnsafePointer.of(new Uint8Array(memory.buffer, at, len)),
  );
  return {
    batch,
    reset: () => s.native_walker_reset_stream(walker),
    walk: (off, left) =>
      s.native_walker_walk(
        walker,
        Deno.UnsafePointer.create(base + BigInt(off)),
        left,
      ),
    events: () => stats[M.ST_EVENTS],
    outOfOrder: () => stats[M.ST_OUT_OF_ORDER],
    close: () => lib.close(),
  };
}

/**
 * Sets up the WASM parser, the TS walker and the C walker in Deno on
 * `bytes`, warms them up, checks they see the same stream, and returns the
 * event count and a function that times `iterations` alternating passes of
 * each.
 */
function denoDecoders(bytes: Uint8Array): {
  events: number;
  timedPasses: (iterations: number) => DenoPasses;
  close: () => void;
} {
  const parser = ProfileParser.fromModule(
    new WebAssembly.Module(
      Deno.readFileSync(
        new URL("../../parser-wasm/build/parser.wasm", import.meta.url),
      ),
    ),
    {
      ringCapacity: 1,
      batchCapacity: SESSION_BATCH_EVENTS,
      inputBytes: bytes.byteLength,
    },
  );
  // The input area is the last region when no mapping area is reserved.
  const at = parser.heapTop - parser.inputBytes;
  new Uint8Array(parser.memory.buffer).set(bytes, at);
  const view = new DataView(parser.memory.buffer);
  const ts = new TsDecoder(SESSION_BATCH_EVENTS);
  const len = bytes.byteLength;

  const wasm: Walker = {
    reset: () => parser.resetStream(),
    walk: (off, left) => parser.walkAt(at + off, left, false, true),
    events: () => parser.lastEvents,
    outOfOrder: () => parser.lastOutOfOrder,
  };
  const tsWalker: Walker = {
    reset: () => ts.resetStream(),
    walk: (off, left) => ts.walk(view, at + off, left),
    events: () => ts.events,
    outOfOrder: () => ts.outOfOrder,
  };
  const wasmPass = () => wholePass(wasm, len);
  const tsPass = () => wholePass(tsWalker, len);
  const native = nativeWalker(parser.memory, at, len);
  const nativePass = () => wholePass(native, len);
  // Warm up (JIT tiers, caches) and check all three see the same stream.
  let w = wasmPass(), t = tsPass(), c = nativePass();
  for (let i = 0; i < 5; i++) {
    w = wasmPass();
    t = tsPass();
    c = nativePass();
  }
  const same = (a: PassResult, b: PassResult) =>
    a.off === b.off && a.events === b.events &&
    a.outOfOrder === b.outOfOrder;
  if (!same(w, t) || !same(w, c)) {
    native.close();
    throw new StepFailedError(
      `decoders disagree: WASM ${JSON.stringify(w)}, TS ${
        JSON.stringify(t)
      }, C ${JSON.stringify(c)}`,
    );
  }
  return {
    events: w.events,
    timedPasses(iterations) {
      const out: DenoPasses = { wasm: [], ts: [], cFfi: [] };
      for (let i = 0; i < iterations; i++) {
        let t0 = performance.now();
        wasmPass();
        out.wasm.push((performance.now() - t0) * 1e6);
        t0 = performance.now();
        nativePass();
        out.cFfi.push((performance.now() - t0) * 1e6);
        t0 = performance.now();
        tsPass();
        out.ts.push((performance.now() - t0) * 1e6);
      }
      return out;
    },
    close: native.close,
  };
}

/**
 * All four decoders on the recorded `file`, in `rounds` rounds that
 * alternate the Deno decoders and the C tool, so that all of them see the
 * same spells of machine load. Each decoder's figure is the median over the
 * rounds of its per-round median pass; "best" is its fastest pass.
 */
export async function decodeCosts(
  file: string,
  iterations: number,
  rounds = DECODE_ROUNDS,
): Promise<DecodeResult> {
  const bytes = await Deno.readFile(file);
  const deno = denoDecoders(bytes);
  const perRound: Record<string, number[]> = {};
  const best: Record<string, number> = {};
  const add = (decoder: string, medianNs: number, bestNs: number) => {
    (perRound[decoder] ??= []).push(medianNs);
    best[decoder] = Math.min(best[decoder] ?? Infinity, bestNs);
  };
  try {
    for (let r = 0; r < rounds; r++) {
      const d = deno.timedPasses(iterations);
      add(
        "hand-written-c-ffi",
        median(d.cFfi) / deno.events,
        Math.min(...d.cFfi) / deno.events,
      );
      add(
        "wasm-deno",
        median(d.wasm) / deno.events,
        Math.min(...d.wasm) / deno.events,
      );
      add(
        "ts-dataview",
        median(d.ts) / deno.events,
        Math.min(...d.ts) / deno.events,
      );
      const c = await new WatchedProcess([
        PROGRAMS.decodeBench,
        file,
        "--iterations",
        String(iterations),
        "--batch",
        String(SESSION_BATCH_EVENTS),
      ], 300_000).result();
      if (c.code !== 0 || !c.json) {
        throw new StepFailedError(
          `streamprof-decode-bench failed (exit ${c.code}): ${c.stderr}`,
        );
      }
      if (Number(c.json.events) !== deno.events) {
        throw new StepFailedError(
          `C decoders saw ${c.json.events} events, Deno ${deno.events}`,
        );
      }
      for (
        const [key, label] of [["wasm2c", "wasm2c-c"], [
          "native_c",
          "hand-written-c",
        ]]
      ) {
        const v = c.json[key] as Record<string, number>;
        add(label, v.median_ns_per_event, v.best_ns_per_event);
      }
    }
  } finally {
    deno.close();
  }
  const cost = (decoder: string): DecodeCost => ({
    decoder,
    medianNs: median(perRound[decoder]),
    bestNs: best[decoder],
    roundsNs: perRound[decoder],
  });
  return {
    file,
    bytes: bytes.byteLength,
    events: deno.events,
    iterations,
    rounds,
    costs: [
      "wasm-deno",
      "hand-written-c-ffi",
      "wasm2c-c",
      "hand-written-c",
      "ts-dataview",
    ].map(cost),
  };
}

/** Records about one second of the stress source and times every decoder. */
export async function runDecode(o: Options): Promise<DecodeResult> {
  // By default ~200k events, 8 MB: one 8 MiB ring's worth (what a poll
  // after a stall would walk).
  const file = await recordRing(o.decodeEvents, 1, o.ringBytes);
  try {
    return await decodeCosts(file, o.decodeIterations);
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

/** Prints the section's table. */
export function printDecode(d: DecodeResult): void {
  console.log(
    `\n## 3. Decode cost per event: ${
      formatCount(d.events)
    } recorded ring events (${
      formatMB(d.bytes)
    }), batches of ${SESSION_BATCH_EVENTS}; ${d.rounds} rounds of ${d.iterations} passes, Deno and C alternating; median of the round medians\n`,
  );
  const ownProcess = costOf(d, "hand-written-c");
  const sameProcess = costOf(d, "hand-written-c-ffi");
  console.log(formatTable(
    [
      "decoder",
      "median ns/event",
      "best ns/event",
      "vs C, same process",
      "vs C, own process",
    ],
    d.costs.map((x) => [
      x.decoder,
      x.medianNs.toFixed(2),
      x.bestNs.toFixed(2),
      `${(x.medianNs / sameProcess).toFixed(2)}x`,
      `${(x.medianNs / ownProcess).toFixed(2)}x`,
    ]),
  ));
  console.log(
    "\nhand-written-c-ffi: harness-c/native_walker.c (-O2) called through Deno FFI on the same bytes,\n" +
      "interleaved with the WASM passes in this process; hand-written-c: the same code in\n" +
      "streamprof-decode-bench, its own process. The goal is judged against the faster of the two.",
  );
}

/** The median ns/event of `decoder` in `d`. */
export function costOf(d: DecodeResult, decoder: string): number {
  const cost = d.costs.find((x) => x.decoder === decoder);
  if (!cost) throw new Error(`no decode cost for ${decoder}`);
  return cost.medianNs;
}
