/**
 * Small helpers shared by the commands: durations, rates, exit codes and
 * usage errors.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./args.ts";
 * console.log(parseDuration("1.5s"), parseDuration("5m"), parseDuration("250ms")); // 1500 300000 250
 * ```
 * @module
 */

/** Exit codes with a meaning. */
export const ExitCode = {
  /** Everything passed. */
  OK: 0,
  /** The run completed but failed its checks: drops, a mismatch, a bound. */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** The environment cannot run it: privileges, kernel, missing object. */
  ENVIRONMENT: 3,
} as const;

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parses "10s", "500ms", "5m", "1h" or a plain number of seconds into ms.
 * Throws a UsageError for anything else.
 */
export function parseDuration(text: string, what = "duration"): number {
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

/** Parses a positive integer option. */
export function parsePositiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`${what} must be a positive integer, got "${text}"`);
  }
  return n;
}

/** Parses a comma-separated list of positive integers ("100,1000,10000"). */
export function parseRates(text: string): number[] {
  return text.split(",").map((r) =>
    parsePositiveInt(r.trim(), "each rate in --rates")
  );
}

/** Parses a byte size: "8M", "64K", "1048576". */
export function parseBytes(text: string, what: string): number {
  const m = /^\s*(\d+)\s*([KMG])?i?B?\s*$/i.exec(text);
  if (!m) {
    throw new UsageError(
      `invalid ${what} "${text}": use e.g. 8M, 256K or bytes`,
    );
  }
  const mult = { K: 1 << 10, M: 1 << 20, G: 1 << 30 }[
    (m[2] ?? "").toUpperCase() as "K" | "M" | "G"
  ] ?? 1;
  return Number(m[1]) * mult;
}

/** Formats a byte count in MB (10^6) with one decimal. */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * An AbortSignal that fires on Ctrl-C (SIGINT) or SIGTERM, so long runs end
 * early with complete results. Call `dispose()` when done.
 */
export function interruptSignal(): {
  signal: AbortSignal;
  dispose(): void;
  interrupted(): boolean;
} {
  const ac = new AbortController();
  let hit = false;
  const on = () => {
    hit = true;
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", on);
  Deno.addSignalListener("SIGTERM", on);
  return {
    signal: ac.signal,
    interrupted: () => hit,
    dispose() {
      Deno.removeSignalListener("SIGINT", on);
      Deno.removeSignalListener("SIGTERM", on);
    },
  };
}
