/**
 * The one command dispatcher: `cli.ts` and `lib/vm/main.ts` (and the bench
 * entry points through {@link runMain}) use it, so every tool prints help
 * the same way and turns errors into exit codes by their type (see
 * errors.ts): 2 for a usage mistake, 3 for the environment, 70 with a stack
 * trace for anything unexpected (a bug).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { runProgram } from "./command.ts";
 * const program = {
 *   name: "demo",
 *   summary: "A demo.",
 *   commands: { hello: { summary: "say hello", run: () => Promise.resolve(0) } },
 * };
 * assert.equal(await runProgram(program, ["hello"]), 0);
 * assert.equal(await runProgram(program, ["nope"]), 2);
 * ```
 * @module
 */
import { ExitCode, exitCodeFor, isUsageError, UsageError } from "./errors.ts";

/** One subcommand. */
export interface Command {
  /** One line for the program's help. */
  summary: string;
  /** Runs it with the arguments after its name; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** A program made of subcommands. */
export interface Program {
  /** Name used in messages ("streamprof"). */
  name: string;
  /** A sentence or two under the usage line. */
  summary: string;
  /** The subcommands, in the order help lists them. */
  commands: Record<string, Command>;
  /** Extra help text (exit codes, environment variables). */
  footer?: string;
}

/** The exit-code paragraph every help text ends with. */
export const EXIT_CODES_HELP =
  `Exit codes: 0 ok, 1 checks failed (or the run was interrupted), 2 usage
error, 3 the environment cannot run it, 70 an internal error (a bug).`;

/**
 * The program's help text.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { programHelp } from "./command.ts";
 * const text = programHelp({ name: "x", summary: "S.", commands: {
 *   run: { summary: "run it", run: () => Promise.resolve(0) } } });
 * assert.match(text, /^Usage: x <command> \[options\]/);
 * assert.match(text, /  run +run it/);
 * ```
 */
export function programHelp(p: Program): string {
  const names = Object.keys(p.commands);
  const width = Math.max(...names.map((n) => n.length), 8) + 2;
  const lines = names.map((n) =>
    `  ${n.padEnd(width)}${p.commands[n].summary}`
  );
  return [
    `Usage: ${p.name} <command> [options]`,
    "",
    p.summary,
    "",
    "Commands:",
    ...lines,
    "",
    `Run '${p.name} <command> --help' for a command's options.`,
    p.footer ?? EXIT_CODES_HELP,
  ].join("\n");
}

/**
 * Runs the subcommand named by `args[0]`; returns the exit code (never
 * throws). No command prints the help and returns 2; `help`/`--help` 0.
 */
export async function runProgram(p: Program, args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (
    name === undefined || name === "help" || name === "-h" || name === "--help"
  ) {
    console.log(programHelp(p));
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  const cmd = Object.hasOwn(p.commands, name) ? p.commands[name] : undefined;
  return await runMain(`${p.name} ${name}`, () => {
    if (cmd === undefined) {
      throw new UsageError(
        `unknown command "${name}" (commands: ${
          Object.keys(p.commands).join(", ")
        })`,
      );
    }
    return cmd.run(rest);
  }, `${p.name} ${cmd ? name : ""}`.trimEnd());
}

/**
 * Runs one tool's main function and turns what it throws into an exit code
 * and a message: a usage error with a pointer to `--help`, an environment
 * error as one line, anything else as a bug with its stack trace.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { runMain } from "./command.ts";
 * import { EnvironmentError } from "./errors.ts";
 * const code = await runMain("demo", () => {
 *   throw new EnvironmentError("no ring buffer here");
 * }, "demo", () => {});
 * assert.equal(code, 3);
 * ```
 */
export async function runMain(
  label: string,
  main: () => Promise<number> | number,
  helpCommand = label,
  printError: (line: string) => void = console.error,
): Promise<number> {
  try {
    return await main();
  } catch (err) {
    const code = exitCodeFor(err);
    const msg = err instanceof Error ? err.message : String(err);
    if (isUsageError(err)) {
      printError(
        `${label}: ${msg}\nRun '${helpCommand} --help' for usage.`,
      );
    } else if (code === ExitCode.ENVIRONMENT) {
      printError(`${label}: error: ${msg}`);
    } else {
      const stack = err instanceof Error ? err.stack ?? msg : msg;
      printError(
        `${label}: internal error (a bug in streamprof; please report it with this trace):\n${stack}`,
      );
    }
    return code;
  }
}
