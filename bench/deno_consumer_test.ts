import assert from "node:assert/strict";
import { parseConsumerOptions } from "./deno_consumer.ts";

const parse = (...args: string[]) =>
  parseConsumerOptions(["--source", "stress", "--target-pid", "42", ...args])!;

Deno.test("deno_consumer: the profile's work by default; --no-resolve and --no-aggregate leave it out", () => {
  assert.deepEqual(
    [parse().aggregate, parse().resolve],
    [true, true],
  );
  const r = parse("--no-resolve");
  assert.deepEqual([r.aggregate, r.resolve], [true, false]);
  // Nothing aggregated, nothing to resolve.
  const a = parse("--no-aggregate");
  assert.deepEqual([a.aggregate, a.resolve], [false, false]);
});

Deno.test("deno_consumer: the steady window's options", () => {
  const o = parse(
    "--duration",
    "3.5",
    "--steady-from",
    "1",
    "--steady-to",
    "3",
  );
  assert.deepEqual([o.steadyFromS, o.steadyToS], [1, 3]);
  const open = parse("--duration", "3", "--steady-from", "500ms");
  assert.deepEqual([open.steadyFromS, open.steadyToS], [0.5, null]);
  const bad: [string[], RegExp][] = [
    [["--steady-to", "2"], /--steady-to needs --steady-from/],
    [
      ["--duration", "3", "--steady-from", "3"],
      /must come before the end of the window \(3 s\)/,
    ],
    [
      ["--steady-from", "2", "--steady-to", "1"],
      /must come before the end of the window \(1 s\)/,
    ],
    [
      ["--duration", "3", "--steady-from", "1", "--steady-to", "4"],
      /after the end of --duration 3/,
    ],
    [["--steady-from", "0"], /must be positive/],
  ];
  for (const [args, want] of bad) assert.throws(() => parse(...args), want);
});
