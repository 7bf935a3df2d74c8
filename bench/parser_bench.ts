// Deno.bench benchmarks of the parser (`deno bench -A bench/parser_bench.ts`).
//
// Every iteration handles exactly 1,000,000 events, so Deno's "time/iter"
// in milliseconds reads directly as nanoseconds per event (1 ms/iter =
// 1 ns/event). Groups make Deno print comparisons against each baseline:
// - decode: WASM walk vs a tight TS DataView loop doing the same work
//   (bench/run.ts TsDecoder; baseline);
// - push: single pushRaw calls from TS (baseline) vs pushing inside WASM
//   while walking (walk toRing), and the copy of a decoded batch into the
//   ring alone (pushBatch; the decode before it is not timed).
// bench/run.ts times the same functions with its own loops and targets.
import {
  batchPush,
  BENCH_EVENTS,
  pushBatchOnly,
  setup,
  singlePushes,
  tsDecode,
  verify,
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
  name: "push: single pushRaw from TS",
  group: "push",
  baseline: true,
  fn() {
    singlePushes(s, BENCH_EVENTS);
  },
});

Deno.bench({
  name: "push: batch inside wasm (walk toRing)",
  group: "push",
  fn() {
    if (batchPush(s) !== s.len) throw new Error("walk toRing stopped early");
  },
});

Deno.bench({
  name: "push: pushBatch from the batch area (copy only)",
  group: "push",
  fn(b) {
    if (s.parser.batchLength !== s.events) wasmDecode(s);
    b.start();
    pushBatchOnly(s);
    b.end();
  },
});
