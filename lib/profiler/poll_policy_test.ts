import assert from "node:assert/strict";
import { maxPollInterval, nextPollDelay } from "./poll_policy.ts";

const MiB = 1 << 20;
const base = {
  ringBytes: 8 * MiB,
  pending: 0,
  lastDelayMs: 4,
  maxMs: 100,
  elapsedMs: 10,
};

Deno.test("nextPollDelay: the policy as a table", () => {
  const cases: [string, Partial<typeof base> & { consumed: number }, number][] =
    [
      ["an eighth or more consumed: poll again at once", { consumed: MiB }, 0],
      ["more than an eighth", { consumed: 3 * MiB }, 0],
      // 64 KiB in 10 ms: 1 MiB (an eighth) takes 160 ms, capped at 100.
      ["slow data: wait until an eighth fills, capped", {
        consumed: 64 << 10,
      }, 100],
      // 512 KiB in 10 ms: an eighth fills in 20 ms.
      ["faster data: wait until an eighth fills", {
        consumed: 512 << 10,
      }, 20],
      // A burst near the eighth: never less than 1 ms while not full.
      ["data just under an eighth: at least 1 ms", {
        consumed: MiB - 8,
        elapsedMs: 0.001,
      }, 1],
      ["empty and a record still being written: 1 ms", {
        consumed: 0,
        pending: 40,
      }, 1],
      ["empty: back off, doubling", { consumed: 0 }, 8],
      ["empty after a 0 ms wait: 1 ms", { consumed: 0, lastDelayMs: 0 }, 1],
      ["empty: never beyond the cap", { consumed: 0, lastDelayMs: 80 }, 100],
    ];
  for (const [what, c, want] of cases) {
    assert.equal(nextPollDelay({ ...base, ...c }), want, what);
  }
});

Deno.test("maxPollInterval: a quarter ring at the worst-case rate, 1..100 ms; 10 ms for stress", () => {
  assert.equal(maxPollInterval({ source: "stress" }, 2, 8 * MiB), 10);
  // 99 Hz x 2 CPUs x 2072-byte records: a quarter of 8 MiB takes ~5 s.
  assert.equal(maxPollInterval({ frequency: 99 }, 2, 8 * MiB, 100_000), 100);
  // 10 kHz x 2 CPUs x 2072 B = 41.4 MB/s: 2 MiB in ~50.6 ms.
  const ms = maxPollInterval({ frequency: 10_000 }, 2, 8 * MiB, 100_000);
  assert.ok(Math.abs(ms - (2 * MiB) / (10_000 * 2 * 2072 / 1000)) < 1e-9);
  // Without stacks a record is 40 bytes: the same rate allows 100 ms.
  assert.equal(
    maxPollInterval({ frequency: 10_000, collectStacks: false }, 2, 8 * MiB),
    100,
  );
  // The kernel's limit bounds the rate asked for.
  assert.equal(
    maxPollInterval({ frequency: 1e6 }, 2, 8 * MiB, 1000),
    maxPollInterval({ frequency: 1000 }, 2, 8 * MiB, 1000),
  );
  // A tiny ring at a high rate: never below 1 ms.
  assert.equal(maxPollInterval({ frequency: 100_000 }, 64, 4096, 100_000), 1);
});
