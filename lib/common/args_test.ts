import assert from "node:assert/strict";
import {
  parseBytes,
  parseDuration,
  parsePositiveInt,
  parseRates,
} from "./args.ts";
import { UsageError } from "./errors.ts";

Deno.test("parseDuration: units and plain seconds", () => {
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1.5"), 1500);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
});

Deno.test("parseDuration: rejects junk, zero and negatives with a UsageError", () => {
  for (const bad of ["", "soon", "10x", "-1s", "0s", "1e3"]) {
    assert.throws(() => parseDuration(bad, "--duration"), UsageError, bad);
  }
});

Deno.test("parseRates and parsePositiveInt", () => {
  assert.deepEqual(parseRates("100, 1000,10000"), [100, 1000, 10000]);
  assert.throws(
    () => parseRates("100,abc"),
    /each rate in --rates must be a positive integer/,
  );
  assert.throws(() => parsePositiveInt("1.5", "--freq"), UsageError);
  assert.throws(
    () => parsePositiveInt("0", "--freq"),
    /--freq must be a positive integer, got "0"/,
  );
  assert.equal(parsePositiveInt("99", "--freq"), 99);
});

Deno.test("parseBytes: suffixes", () => {
  assert.equal(parseBytes("8M", "x"), 8 << 20);
  assert.equal(parseBytes("64K", "x"), 65536);
  assert.equal(parseBytes("4096", "x"), 4096);
  assert.equal(parseBytes("1GiB", "x"), 1 << 30);
  assert.throws(
    () => parseBytes("lots", "--ring-bytes"),
    /invalid --ring-bytes "lots"/,
  );
});

Deno.test("sizes: ranges and powers of two are checked up front (2 GiB and 4 GiB do not wrap)", () => {
  const rule = { powerOfTwo: true, min: 4096, max: 1 << 30 };
  for (const bad of ["4G", "2G", "3M", "0", "1"]) {
    assert.throws(
      () => parseBytes(bad, "--ring-bytes", rule),
      /--ring-bytes must be a power of two from 4 KiB to 1 GiB/,
      bad,
    );
  }
  assert.equal(parseBytes("1G", "--ring-bytes", rule), 1 << 30);
});

Deno.test("empty option values are usage errors, not defaults", () => {
  assert.throws(() => parsePositiveInt("", "--pid"), /--pid needs a value/);
  assert.throws(() => parseRates(""), /--rates needs a value/);
  assert.throws(() => parseBytes(" ", "--ring-bytes"), /needs a value/);
  assert.throws(() => parseDuration("", "--duration"), /needs a value/);
});
