// The benchmarks still run and their decoders still agree: a small run of
// `deno task bench` and of the decode section of `bench:e2e` (which records
// real ring data from the stress BPF program, so it needs BPF). Each bench
// checks that its decoders decode the same stream before timing anything and
// exits non-zero if they do not; here only that and the shape of the JSON
// are asserted, never a time.
import assert from "node:assert/strict";
import { assertBpf, bpfIgnore } from "./kernel/require_bpf.ts";
import { runDeno } from "./run_command.ts";

const ROOT = new URL("../", import.meta.url).pathname;

const E2E = "bench/e2e/main.ts";

/** How a benchmark run ended: exit code, stdout + stderr. */
interface BenchRun {
  code: number;
  out: string;
}

async function run(
  args: string[],
  env?: Record<string, string>,
): Promise<BenchRun> {
  const p = await runDeno(args, { cwd: ROOT, env });
  return { code: p.code, out: p.stdout + p.stderr };
}

/**
 * Runs a benchmark with `--json FILE` appended; returns how it ended and
 * the JSON it wrote (undefined if none). The file is removed afterwards.
 */
async function runWithJson(
  args: string[],
  env?: Record<string, string>,
  // deno-lint-ignore no-explicit-any
): Promise<BenchRun & { json: any }> {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const r = await run([...args, "--json", file], env);
    const text = await Deno.readTextFile(file);
    return { ...r, json: text ? JSON.parse(text) : undefined };
  } finally {
    await Deno.remove(file);
  }
}

/** {@link runWithJson} of a run that must pass (exit 0); returns its JSON. */
// deno-lint-ignore no-explicit-any
async function passingJson(args: string[]): Promise<any> {
  const r = await runWithJson(args);
  assert.equal(r.code, 0, r.out);
  return r.json;
}

Deno.test("bench: the parser benchmark runs, its decoders agree (plain events and records with frames)", async () => {
  const j = await passingJson([
    "bench/run.ts",
    "--events",
    "20000",
    "--runs",
    "1",
  ]);
  assert.equal(j.events, 20000);
  for (
    const k of [
      "wasmDecodeNs",
      "tsDecodeNs",
      "referenceDecodeNs",
      "pairDecodeNs",
      "aggregateDecodeNs",
      "singlePushNs",
      "batchPushNs",
      "walkToRingNs",
    ]
  ) {
    assert.ok(j[k] > 0, `${k} = ${j[k]}`);
  }
  // A difference of two timings: a number, whatever its sign.
  assert.equal(typeof j.aggregateOverheadNs, "number");
  // Records with frames of a realistic depth: a fifth as many events.
  const f = j.frames;
  assert.equal(f.events, 4000);
  assert.ok(f.framesPerEvent >= 20 && f.framesPerEvent <= 30, f.framesPerEvent);
  assert.ok(f.distinctStacks >= 100, `${f.distinctStacks} distinct stacks`);
  for (
    const k of [
      "decodeNs",
      "internNs",
      "internAggregateNs",
      "decodeNsPerFrame",
      "internNsPerFrame",
      "internAggregateNsPerFrame",
    ]
  ) {
    assert.ok(f[k] > 0, `frames.${k} = ${f[k]}`);
  }
  assert.deepEqual(Object.keys(j.met).sort(), [
    "aggregateOverheadNs",
    "batchPushNs",
    "decodeRatio",
    "singlePushNs",
  ]);
});

Deno.test("bench: the parser benchmark has --help and refuses bad input (exit 2)", async () => {
  const help = await run(["bench/run.ts", "--help"]);
  assert.equal(help.code, 0, help.out);
  assert.match(help.out, /^Usage: deno task bench/m);
  const bad: [string[], RegExp][] = [
    [["--events", "abc"], /--events must be a positive integer, got "abc"/],
    [["--runs", "0"], /--runs must be a positive integer, got "0"/],
    [["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, want] of bad) {
    const r = await run(["bench/run.ts", ...args]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, want);
  }
});

Deno.test({
  name:
    "bench: bench:e2e decode section records real ring data; all five decoders agree",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const j = await passingJson([
      E2E,
      "--sections",
      "decode",
      "--decode-events",
      "20000",
      "--decode-iterations",
      "2",
    ]);
    // About one second of the stress source at 20k/s.
    assert.ok(j.decode.events > 5000, `events ${j.decode.events}`);
    assert.deepEqual(
      j.decode.costs.map((c: { decoder: string }) => c.decoder),
      [
        "wasm-deno",
        "hand-written-c-ffi",
        "wasm2c-c",
        "hand-written-c",
        "ts-dataview",
      ],
    );
    for (const c of j.decode.costs) {
      assert.equal(c.roundsNs.length, j.decode.rounds);
      assert.ok(c.medianNs > 0 && c.bestNs > 0, JSON.stringify(c));
    }
    assert.ok("WASM decode within 1.3x of hand-written C" in j.goals);
  },
});

Deno.test({
  name:
    "bench: bench:e2e rate ladder reports steady CPU per event, start-up and resolution apart, and judges the steady goal",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const r = await runWithJson([
      E2E,
      "--sections",
      "rates",
      "--rates",
      "20000",
      "--step-duration",
      "1.5",
      "--consumers",
      "deno-wasm,c-wasm2c",
    ]);
    assert.equal(r.code, 0, r.out);
    const { rates, goals, options } = r.json;
    assert.equal(options.warmup_s, 0.5);
    for (const s of rates.steps) {
      const c = s.costs;
      assert.ok(c.startupCpuNs > 0, `${s.consumer} start-up ${c.startupCpuNs}`);
      assert.ok(c.steady?.events > 0, `${s.consumer}: ${JSON.stringify(c)}`);
      // The window starts after the warm-up and ends with the generator.
      assert.ok(
        c.steady.fromS >= 0.5 && c.steady.toS <= 1.6,
        JSON.stringify(c),
      );
      assert.ok(c.steady.events < s.consumed);
      assert.ok(c.totalCpuNs > c.steady.cpuNs + c.startupCpuNs);
    }
    const [deno, wasm2c] = rates.steps;
    // The Deno consumer did its profile's work, and resolved every event.
    assert.ok(deno.costs.resolveCpuNs > 0, JSON.stringify(deno.costs));
    assert.equal(wasm2c.costs.resolveCpuNs, null);
    const [row] = rates.steady;
    assert.equal(row.rate, 20000);
    assert.equal(row.bestC?.consumer, "c-wasm2c");
    assert.equal(
      row.denoOverBestC,
      row.nsPerEvent["deno-wasm"] / row.nsPerEvent["c-wasm2c"],
    );
    assert.deepEqual(
      rates.costs.map((c: { consumer: string }) => c.consumer),
      ["deno-wasm", "c-wasm2c"],
    );
    const goal = goals[
      "Deno+WASM steady CPU/event within 1.5x of the best C consumer at every rate"
    ];
    assert.equal(goal?.met, row.denoOverBestC <= 1.5, JSON.stringify(goal));
    assert.match(r.out, /## 1b\. Steady-state CPU ns per event/);
    assert.match(r.out, /## 1c\. Outside the window/);
  },
});

Deno.test("bench: bench:e2e refuses an unwritable --json before it starts (exit 2, no trace)", async () => {
  // A short real run if the path were only checked at the end.
  const r = await run([
    E2E,
    "--sections",
    "rates",
    "--rates",
    "1000",
    "--step-duration",
    "0.2",
    "--consumers",
    "c-wasm2c",
    "--json",
    "/proc/x.json",
  ]);
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /--json \/proc\/x\.json: cannot write there/);
  assert.doesNotMatch(r.out, /internal error|^\s+at /m);
  assert.doesNotMatch(r.out, /# bench:e2e on/, "nothing may run first");
});

Deno.test({
  name:
    "bench: bench:e2e fails (exit 1) when every consumer and the decode recording fail, and says so in its JSON",
  // Needs root (the preflight) and the built harness, not a working BPF:
  // with the BPF objects looked for in a missing folder, nothing loads.
  ignore: Deno.uid() !== 0,
  async fn() {
    const r = await runWithJson([
      E2E,
      "--sections",
      "rates,decode",
      "--rates",
      "1000",
      "--step-duration",
      "0.2",
      "--consumers",
      "deno-wasm,c-libbpf,c-wasm2c",
      "--decode-events",
      "1000",
      "--decode-iterations",
      "1",
      // No baseline: the failures alone must fail the run, not regressions.
      "--baseline",
      "/nonexistent-streamprof-bpf/baseline.json",
    ], { ANTIMETAL_BPF_PATH: "/nonexistent-streamprof-bpf" });
    assert.equal(r.code, 1, r.out);
    assert.deepEqual(r.json?.regressions, [], r.out);
    assert.doesNotMatch(r.out, /internal error/);
    assert.ok(r.json, `no JSON written: ${r.out}`);
    assert.deepEqual(
      r.json.rates.steps.map((s: { status: string }) => s.status),
      ["failed", "failed", "failed"],
    );
    const failures: string[] = r.json.failures;
    for (const id of ["deno-wasm", "c-libbpf", "c-wasm2c"]) {
      assert.ok(
        failures.some((f) => f.startsWith(`rates: ${id} `)),
        `${id} not among the failures: ${failures.join("; ")}`,
      );
    }
    assert.ok(
      failures.some((f) => /^decode: recording ring data failed/.test(f)),
      failures.join("; "),
    );
    assert.equal(r.json.decode, null);
    assert.match(r.out, /^FAILED: rates: c-libbpf /m);
  },
});

Deno.test({
  name:
    "bench: bench:perf runs both tools --rounds times and compares the medians",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const j = await passingJson([
      "bench/profile_vs_perf.ts",
      "--duration",
      "1s",
      "--freq",
      "99",
      "--rounds",
      "2",
    ]);
    assert.equal(j.rounds, 2);
    assert.equal(j.perf.runsCpuS.length, 2);
    assert.equal(j.streamprof.runsCpuS.length, 2);
    const mid = (xs: number[]) => (xs[0] + xs[1]) / 2;
    assert.equal(j.perf.totalCpuS, mid(j.perf.runsCpuS));
    assert.equal(j.streamprof.cpuS, mid(j.streamprof.runsCpuS));
    assert.equal(j.ratio, j.streamprof.cpuS / j.perf.totalCpuS);
    assert.equal(j.met, j.ratio <= 0.5);
    assert.ok(
      j.perf.samples > 0 && j.streamprof.samples > 0,
      JSON.stringify(j),
    );
    assert.match(j.streamprof.reconciliation, /\(exact, nothing lost\)$/);
  },
});
