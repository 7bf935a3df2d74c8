// Deno.bench benchmarks of the parser (`deno bench -A bench/parser_bench.ts`).
//
// Every iteration handles exactly 1,000,000 events, so Deno's "time/iter"
// in milliseconds reads directly as nanoseconds per event (1 ms/iter =
// 1 ns/event). Groups make Deno print comparisons against each baseline:
// - decode: WASM walk vs a tight TS DataView loop doing the same work
//   (bench/run.ts TsDecoder; baseline), and the plain reference decoder of
//   lib/parser (an object per event);
// - push: single pushRaw calls from TS (baseline) vs a batch push inside
//   WASM (pushBatch of a decoded 8,192-event batch, repeated to ~1M events;
//   the decode before it is not timed), and decoding and pushing in one
//   walk (walk toRing).
// bench/run.ts times the same functions with its own loops and targets.
import {
  BENCH_EVENTS,
  decodePushBatch,
  PUSH_BATCH_EVENTS,
  pushBatches,
  referenceDecode,
  setup,
  singlePushes,
  tsDecode,
  verify,
  walkToRing,
  wasmDecode,
} from "./run.ts";

const s = setup(BENCH_EVENTS);
// Both decoders must decode the stream identically before anything is timed.
verify(s);

Deno.bench({
  name: "decode 1M records: ts reference",
  group: "decode",
  baseline: true,
  fn() {
    if (tsDecode(s) !== s.len) throw new Error("ts decode stopped early");
  },
});

Deno.bench({
  name: "decode 1M records: wasm",
  group: "decode",
  fn() {
    if (wasmDecode(s) !== s.len) throw new Error("wasm decode stopped early");
  },
});

Deno.bench({
  name: "decode 1M records: ts reference decoder (objects)",
  group: "decode",
  fn() {
    if (referenceDecode(s) !== s.events) {
      throw new Error("reference decode stopped early");
    }
  },
});

Deno.bench({
  name: "push: single pushRaw from TS",
  group: "push",
  baseline: true,
  fn() {
    singlePushes(s, BENCH_EVENTS);
  },
});

Deno.bench({
  name: "push: batch inside wasm (pushBatch of 8192-event batches)",
  group: "push",
  fn(b) {
    if (s.parser.batchLength !== PUSH_BATCH_EVENTS) decodePushBatch(s);
    b.start();
    pushBatches(s, BENCH_EVENTS);
    b.end();
  },
});

Deno.bench({
  name: "push: decode and push in one walk (walk toRing)",
  group: "push",
  fn() {
    if (walkToRing(s) !== s.len) throw new Error("walk toRing stopped early");
  },
});
