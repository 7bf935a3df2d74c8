/**
 * Decode cost per event of the same recorded ring bytes, four ways: the
 * WASM parser in Deno (V8), the same module compiled by wasm2c in C, a
 * hand-written C walker at -O2, and the TypeScript DataView walker of
 * bench/run.ts. All four do the same work (walk headers, per-CPU counts and
 * order, copy each event into a batch of 8192, walk after walk), and the C
 * tool checks its two against each other; here the WASM and TS results are
 * checked to agree too. Rounds alternate the Deno decoders with the C tool,
 * since on a shared machine the speed of the whole machine drifts between
 * one process and the next.
 *
 * @example
 * ```ts ignore
 * import { decodeCosts, recordRing } from "./e2e_decode.ts";
 * const file = await recordRing(250000, 1, 8 << 20);
 * console.log(await decodeCosts(file, 20));
 * ```
 * @module
 */
import { ProfileParser } from "../lib/parser/wasm_parser.ts";
import { Proc, PROGRAMS } from "./e2e_consumers.ts";
import { TsDecoder } from "./run.ts";

/** Events per walk, as the live consumers' batch. */
const BATCH = 8192;

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
    const gen = new Proc([
      PROGRAMS.stressgen,
      "--rate",
      String(rate),
      "--duration",
      String(seconds),
      "--wait-signal",
      "30",
    ], (seconds + 40) * 1000);
    const cons = new Proc([
      PROGRAMS.consumerC,
      "--decoder",
      "wasm2c",
      "--source",
      "stress",
      "--target-pid",
      String(gen.pid),
      "--notify-pid",
      String(gen.pid),
      "--duration",
      String(seconds + 0.5),
      "--ring-size",
      String(ringBytes),
      "--record",
      file,
    ], (seconds + 40) * 1000);
    const r = await cons.result();
    if (r.code !== 0) gen.stop();
    await gen.result();
    if (r.code !== 0) {
      throw new Error(
        `recording ring data failed (exit ${r.code}): ${r.stderr}`,
      );
    }
    return file;
  } catch (err) {
    await Deno.remove(file).catch(() => {});
    throw err;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
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
  ooo: number;
}

/** Decodes the whole `len`-byte stream with `w`, batch after batch. */
function wholePass(w: Walker, len: number): PassResult {
  w.reset();
  let off = 0, events = 0, ooo = 0;
  while (off < len) {
    const n = w.walk(off, len - off);
    events += w.events();
    ooo += w.outOfOrder();
    if (n === 0) break;
    off += n;
  }
  return { off, events, ooo };
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
  const batch = new Uint8Array(BATCH * 32);
  s.native_walker_init(walker, batch, BATCH);
  // struct wasm_walk_stats comes first: u32 events at 0, out_of_order at 20.
  const stats = new Uint32Array(walker.buffer, 0, 6);
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
    events: () => stats[0],
    outOfOrder: () => stats[5],
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
        new URL("../parser-wasm/build/parser.wasm", import.meta.url),
      ),
    ),
    { ringCapacity: 1, batchCapacity: BATCH, inputBytes: bytes.byteLength },
  );
  // The input area is the last region when no mapping area is reserved.
  const at = parser.heapTop - parser.inputBytes;
  new Uint8Array(parser.memory.buffer).set(bytes, at);
  const view = new DataView(parser.memory.buffer);
  const ts = new TsDecoder(BATCH);
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
    a.off === b.off && a.events === b.events && a.ooo === b.ooo;
  if (!same(w, t) || !same(w, c)) {
    native.close();
    throw new Error(
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
  rounds = 5,
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
      const c = await new Proc([
        PROGRAMS.decodeBench,
        file,
        "--iterations",
        String(iterations),
        "--batch",
        String(BATCH),
      ], 300_000).result();
      if (c.code !== 0 || !c.json) {
        throw new Error(
          `streamprof-decode-bench failed (exit ${c.code}): ${c.stderr}`,
        );
      }
      if (Number(c.json.events) !== deno.events) {
        throw new Error(
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
