/**
 * Parsers for the values every command takes: durations, sizes, positive
 * numbers, rate lists. Each throws a {@link UsageError} that names the
 * option, says what was wrong and what is allowed, so a command never starts
 * work with a value it will later choke on (an empty `--pid ''` is a mistake,
 * not "every process").
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseBytes, parseDuration } from "./args.ts";
 * assert.equal(parseDuration("1.5s"), 1500);
 * assert.equal(parseDuration("5m"), 300_000);
 * assert.equal(parseBytes("8M", "--ring-bytes"), 8 << 20);
 * ```
 * @module
 */
import { UsageError } from "./errors.ts";

/** Throws if a given option value is empty (`--pid ''`). */
function nonEmpty(text: string, what: string): string {
  if (text.trim() === "") {
    throw new UsageError(`${what} needs a value, got an empty string`);
  }
  return text;
}

/**
 * Parses "10s", "500ms", "5m", "1h" or a plain number of seconds into ms.
 * Zero, negatives and anything else are a UsageError.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseDuration } from "./args.ts";
 * assert.equal(parseDuration("250ms", "--duration"), 250);
 * assert.throws(() => parseDuration("0s", "--duration"), /must be positive/);
 * ```
 */
export function parseDuration(text: string, what = "duration"): number {
  nonEmpty(text, what);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) {
    throw new UsageError(
      `invalid ${what} "${text}": use e.g. 10s, 500ms, 5m or a number of seconds`,
    );
  }
  const v = Number(m[1]);
  const unit = m[2] ?? "s";
  const ms = unit === "ms"
    ? v
    : unit === "s"
    ? v * 1e3
    : unit === "m"
    ? v * 6e4
    : v * 3.6e6;
  if (ms <= 0) throw new UsageError(`${what} must be positive, got "${text}"`);
  return ms;
}

/**
 * The duration of a test run in ms: `--duration` when given, else the
 * `TEST_DURATION` environment variable (the methodology's name for it),
 * else `fallback`; each parsed as {@link parseDuration} does, and named in
 * the error by where it came from.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { testDuration } from "./args.ts";
 * assert.equal(testDuration("2s", "10s"), 2000);
 * assert.equal(testDuration(undefined, "10s", new Map([["TEST_DURATION", "3s"]])), 3000);
 * assert.equal(testDuration(undefined, "10s", new Map()), 10000);
 * assert.throws(() => testDuration(undefined, "10s", new Map([["TEST_DURATION", "x"]])), /TEST_DURATION/);
 * ```
 */
export function testDuration(
  option: string | undefined,
  fallback: string,
  env: { get(name: string): string | undefined } = Deno.env,
): number {
  if (option !== undefined) return parseDuration(option, "--duration");
  return parseDuration(
    env.get("TEST_DURATION") ?? fallback,
    "TEST_DURATION (environment)",
  );
}

/**
 * Parses a positive integer option, at most `max` (default 2^31 - 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parsePositiveInt } from "./args.ts";
 * assert.equal(parsePositiveInt("99", "--freq"), 99);
 * assert.throws(() => parsePositiveInt("", "--freq"), /needs a value/);
 * ```
 */
export function parsePositiveInt(
  text: string,
  what: string,
  max = 0x7fffffff,
): number {
  nonEmpty(text, what);
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`${what} must be a positive integer, got "${text}"`);
  }
  if (n > max) {
    throw new UsageError(`${what} must be at most ${max}, got "${text}"`);
  }
  return n;
}

/**
 * Parses a positive (finite, non-zero) number, integer or not.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parsePositiveNumber } from "./args.ts";
 * assert.equal(parsePositiveNumber("2.5", "--timeout"), 2.5);
 * assert.throws(() => parsePositiveNumber("-1", "--timeout"), /positive number/);
 * ```
 */
export function parsePositiveNumber(text: string, what: string): number {
  nonEmpty(text, what);
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${what} must be a positive number, got "${text}"`);
  }
  return n;
}

/**
 * Parses a comma-separated list of positive integers ("100,1000,10000").
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseRates } from "./args.ts";
 * assert.deepEqual(parseRates("100, 1000"), [100, 1000]);
 * ```
 */
export function parseRates(text: string, what = "--rates"): number[] {
  nonEmpty(text, what);
  return text.split(",").map((r) =>
    parsePositiveInt(r.trim(), `each rate in ${what}`)
  );
}

const SIZE_UNITS = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Bounds a size option may be given, checked by {@link parseBytes}. */
export interface SizeRule {
  /** Smallest allowed value in bytes. */
  min?: number;
  /** Largest allowed value in bytes. */
  max?: number;
  /** Must be a power of two. */
  powerOfTwo?: boolean;
}

/**
 * Parses a byte size: "8M", "64K", "1GiB", "1048576". With a rule, values
 * outside it are a UsageError that states the allowed range.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseBytes } from "./args.ts";
 * assert.equal(parseBytes("64K", "--ring-bytes"), 65536);
 * assert.throws(
 *   () => parseBytes("3M", "--ring-bytes", { powerOfTwo: true, min: 4096, max: 1 << 30 }),
 *   /a power of two from 4 KiB to 1 GiB/,
 * );
 * ```
 */
export function parseBytes(
  text: string,
  what: string,
  rule: SizeRule = {},
): number {
  nonEmpty(text, what);
  const m = /^\s*(\d+)\s*([KMGT])?(i?B)?\s*$/i.exec(text);
  if (!m) {
    throw new UsageError(
      `invalid ${what} "${text}": use e.g. 8M, 256K or a number of bytes`,
    );
  }
  const unit = (m[2] ?? "").toUpperCase() as keyof typeof SIZE_UNITS;
  const v = Number(m[1]) * SIZE_UNITS[unit];
  const min = rule.min ?? 0;
  const max = rule.max ?? Number.MAX_SAFE_INTEGER;
  // Math, not bit operations: sizes of 2 GiB and more do not fit an int32.
  const pow2 = v > 0 && Number.isInteger(Math.log2(v));
  if (v < min || v > max || (rule.powerOfTwo && !pow2)) {
    const kind = rule.powerOfTwo ? "a power of two" : "a size";
    throw new UsageError(
      `${what} must be ${kind} from ${formatSize(min)} to ${
        formatSize(max)
      }, got "${text}"`,
    );
  }
  return v;
}

/** "4 KiB", "1 GiB": exact binary units for messages about limits. */
function formatSize(n: number): string {
  for (
    const [u, f] of [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20], [
      "KiB",
      2 ** 10,
    ]] as const
  ) {
    if (n >= f && n % f === 0) return `${n / f} ${u}`;
  }
  return `${n} bytes`;
}
