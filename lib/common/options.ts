/**
 * One table of a command's options, with their defaults and help, as
 * libbpf-tools keeps them: the same table makes the `node:util` parseArgs
 * configuration and the options part of `--help`, so the two never drift.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { optionsHelp, parseOptions } from "./options.ts";
 * const table = {
 *   freq: { type: "string", value: "HZ", help: "samples per second", default: "99" },
 *   json: { type: "string", value: "FILE", help: "write JSON" },
 *   quiet: { type: "boolean", help: "less output" },
 * } as const;
 * const v = parseOptions(table, ["--json", "out.json"]);
 * assert.equal(v.freq, "99");
 * assert.equal(v.json, "out.json");
 * assert.equal(v.quiet, false);
 * assert.match(optionsHelp(table), /--freq HZ +samples per second \(default 99\)/);
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { ExitCode, isUsageError, UsageError } from "./errors.ts";

/** One option. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** Name of the value in help ("HZ", "FILE"). */
  value?: string;
  /** One line of help. */
  help: string;
  /** Default shown in help and returned when the option is absent. */
  default?: string;
  /** A one-letter alias. */
  short?: string;
}

/** A command's options, by long name. */
export type OptionTable = Record<string, OptionSpec>;

/** The parsed values: strings (or undefined), booleans (false when absent). */
export type OptionValues<T extends OptionTable> = {
  [K in keyof T]: T[K]["type"] extends "boolean" ? boolean
    : T[K]["default"] extends string ? string
    : string | undefined;
};

/**
 * Parses `args` against the table (strict: unknown options and stray
 * positionals are usage errors). `--help`/`-h` is always accepted and
 * reported as `help: true`.
 */
export function parseOptions<T extends OptionTable>(
  table: T,
  args: string[],
  o: { positionals?: boolean } = {},
): OptionValues<T> & { help: boolean; positionals: string[] } {
  const config: Record<string, { type: "string" | "boolean"; short?: string }> =
    { help: { type: "boolean", short: "h" } };
  for (const [name, spec] of Object.entries(table)) {
    config[name] = spec.short
      ? { type: spec.type, short: spec.short }
      : { type: spec.type };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: config,
      strict: true,
      allowPositionals: o.positionals ?? false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const out: Record<string, unknown> = {
    help: parsed.values.help === true,
    positionals: parsed.positionals,
  };
  for (const [name, spec] of Object.entries(table)) {
    const v = (parsed.values as Record<string, unknown>)[name];
    out[name] = spec.type === "boolean" ? v === true : v ?? spec.default;
  }
  return out as OptionValues<T> & { help: boolean; positionals: string[] };
}

/** The "Options:" lines of `--help` for the table. */
export function optionsHelp(table: OptionTable): string {
  const rows = Object.entries(table).map(([name, s]) => [
    `${s.short ? `-${s.short}, ` : ""}--${name}${s.value ? ` ${s.value}` : ""}`,
    `${s.help}${s.default !== undefined ? ` (default ${s.default})` : ""}`,
  ]);
  rows.push(["-h, --help", "this text"]);
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join("\n");
}

/**
 * The options of a script that runs at its top level (a benchmark started
 * with `deno run`, not a command with a main function for
 * {@link ./command.ts}'s `runMain`): {@link parseOptions}, then `check`,
 * which turns the strings into what the script uses and throws a
 * UsageError for a bad value. `--help` prints `help` and exits 0; a mistake
 * prints what was wrong and exits 2, before the script starts any work.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseRates } from "./args.ts";
 * import { scriptOptions } from "./options.ts";
 * const table = { rates: { type: "string", value: "LIST", help: "Hz", default: "99" } } as const;
 * const rates = scriptOptions(table, "Usage: demo", (v) => parseRates(v.rates), ["--rates", "1000,2000"]);
 * assert.deepEqual(rates, [1000, 2000]);
 * ```
 */
export function scriptOptions<T extends OptionTable, R>(
  table: T,
  help: string,
  check: (values: OptionValues<T> & { positionals: string[] }) => R,
  args: string[] = Deno.args,
): R {
  try {
    const v = parseOptions(table, args);
    if (!v.help) return check(v);
  } catch (err) {
    if (!isUsageError(err)) throw err;
    console.error(`${(err as Error).message}\nRun with --help for usage.`);
    Deno.exit(ExitCode.USAGE);
  }
  console.log(help);
  Deno.exit(ExitCode.OK);
}
