import assert from "node:assert/strict";
import { parseOptions } from "./options.ts";

const parse = (...args: string[]) => parseOptions(args)!;

Deno.test("--warmup: 1 s by default, a third of the shortest run when that is shorter", () => {
  assert.equal(parse().warmupS, 1);
  assert.equal(
    parse("--step-duration", "1.5", "--sections", "rates").warmupS,
    0.5,
  );
  // The overhead runs count too, when that section runs.
  assert.equal(
    parse("--overhead-duration", "2", "--sections", "overhead").warmupS,
    0.667,
  );
  assert.equal(
    parse("--overhead-duration", "2", "--sections", "rates").warmupS,
    1,
  );
  // Sections without a steady window do not bound it.
  assert.equal(
    parse("--step-duration", "1", "--sections", "decode").warmupS,
    1,
  );
});

Deno.test("--warmup: given, it must be shorter than each run it applies to", () => {
  assert.equal(parse("--warmup", "500ms").warmupS, 0.5);
  assert.equal(parse("--warmup", "2", "--step-duration", "3").warmupS, 2);
  assert.throws(
    () => parse("--warmup", "3", "--step-duration", "3"),
    /--warmup 3 s must be shorter than --step-duration \(3 s\)/,
  );
  assert.throws(
    () =>
      parse(
        "--warmup",
        "5",
        "--overhead-duration",
        "4",
        "--sections",
        "overhead",
      ),
    /shorter than --overhead-duration/,
  );
  assert.throws(() => parse("--warmup", "0"), /must be positive/);
});

Deno.test("--consumers: the Deno consumer without its profile work is there to ask for", () => {
  const o = parse("--consumers", "deno-wasm,deno-wasm-bare,c-wasm2c");
  assert.deepEqual(o.consumers.map((c) => [c.id, c.family]), [
    ["deno-wasm", "deno"],
    ["deno-wasm-bare", "deno"],
    ["c-wasm2c", "c"],
  ]);
  const argv = o.consumers[1].argv({
    source: "stress",
    durationS: 3.5,
    ringBytes: 8 << 20,
    steadyFromS: 1,
    steadyToS: 3,
  });
  assert.ok(argv.includes("--no-aggregate"));
  assert.deepEqual(argv.slice(argv.indexOf("--steady-from"), -1), [
    "--steady-from",
    "1",
    "--steady-to",
    "3",
  ]);
});
