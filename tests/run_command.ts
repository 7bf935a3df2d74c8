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

/** A started command whose stderr the test reads as it comes. */
export interface WatchedCommand {
  child: Deno.ChildProcess;
  /** What it printed on stderr so far. */
  readonly stderr: string;
  /** Reads stderr until `seen(text so far)` holds, or stderr ends. */
  readUntil(seen: (stderr: string) => boolean): Promise<void>;
  /** Reads stderr to its end; resolves to all of it. */
  readAll(): Promise<string>;
}

/**
 * Starts `argv` with stderr piped, for a test that waits for a line
 * before it acts (a signal, a check of what the command started) and then
 * reads the rest. stdout is discarded unless asked for ("piped": read it
 * from `child.stdout`); stdin is inherited if unset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { watchStderr } from "./run_command.ts";
 * const w = watchStderr(["sh", "-c", "echo ready >&2; read x; echo $x >&2"], {
 *   stdin: "piped",
 * });
 * await w.readUntil((err) => err.includes("ready"));
 * const input = w.child.stdin.getWriter();
 * await input.write(new TextEncoder().encode("bye\n"));
 * await input.close();
 * assert.equal(await w.readAll(), "ready\nbye\n");
 * assert.equal((await w.child.status).code, 0);
 * ```
 */
export function watchStderr(
  argv: string[],
  o: {
    cwd?: string;
    env?: Record<string, string>;
    stdin?: "null" | "inherit" | "piped";
    stdout?: "null" | "piped";
  } = {},
): WatchedCommand {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: o.cwd,
    env: o.env,
    stdin: o.stdin,
    stdout: o.stdout ?? "null",
    stderr: "piped",
  }).spawn();
  const dec = new TextDecoder();
  const reader = child.stderr.getReader();
  let err = "";
  let ended = false;
  const readUntil = async (seen: (stderr: string) => boolean) => {
    while (!ended && !seen(err)) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        reader.releaseLock();
      } else err += dec.decode(value);
    }
  };
  return {
    child,
    get stderr() {
      return err;
    },
    readUntil,
    async readAll() {
      await readUntil(() => false);
      return err;
    },
  };
}

/**
 * `--json DIR/NAME.json --junit DIR/NAME.xml`: the options that write both
 * reports of a run (streamprof validate, test:vm) into one folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportFiles } from "./run_command.ts";
 * assert.deepEqual(reportFiles("/tmp/x", "v"), [
 *   "--json",
 *   "/tmp/x/v.json",
 *   "--junit",
 *   "/tmp/x/v.xml",
 * ]);
 * ```
 */
export function reportFiles(dir: string, name: string): string[] {
  return ["--json", `${dir}/${name}.json`, "--junit", `${dir}/${name}.xml`];
}
