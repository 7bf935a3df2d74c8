/**
 * Running a program to its end from a test and reading what it printed:
 * the one place the tests of the CLI, the VM runner and the benchmarks
 * (tests/, tests/kernel/, lib/vm/*_test.ts) start a child this way, so
 * they all decode its output alike. (A command with bytes on its stdin:
 * lib/vm/exec.ts.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCommand } from "./run_command.ts";
 * const r = await runCommand(["sh", "-c", "echo out; echo err >&2; exit 3"]);
 * assert.deepEqual(r, { code: 3, stdout: "out\n", stderr: "err\n" });
 * ```
 *
 * @module
 */

/** How a finished command ended: its exit code and decoded output. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where a command runs and what it gets; stdin is inherited if unset. */
export interface RunOptions {
  /** Added to the environment (or all of it, with `clearEnv`). */
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
  stdin?: "null" | "inherit";
}

/**
 * Runs `argv` (program first) to its end with stdout and stderr piped;
 * returns its exit code and both outputs as text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCommand } from "./run_command.ts";
 * const r = await runCommand(["sh", "-c", 'printf "$X"'], { env: { X: "1" } });
 * assert.equal(r.stdout, "1");
 * ```
 */
export async function runCommand(
  argv: string[],
  o: RunOptions = {},
): Promise<CommandResult> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: o.env,
    clearEnv: o.clearEnv,
    cwd: o.cwd,
    stdin: o.stdin,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/**
 * Runs `deno run -A <script> ...args` with the Deno running the tests: how
 * the tests start the project's entry points (cli.ts, lib/vm/main.ts, the
 * benchmarks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runDeno } from "./run_command.ts";
 * const r = await runDeno(["data:text/javascript,console.log(Deno.args[0])", "x"]);
 * assert.deepEqual(r, { code: 0, stdout: "x\n", stderr: "" });
 * ```
 */
export function runDeno(
  args: string[],
  o: RunOptions = {},
): Promise<CommandResult> {
  return runCommand([Deno.execPath(), "run", "-A", ...args], o);
}
