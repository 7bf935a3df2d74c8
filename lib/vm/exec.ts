/**
 * Runs a host command and returns its output, or throws a
 * {@link CommandError} with the tail of its stderr.
 *
 * @module
 */
import { CommandError } from "./errors.ts";

/** Options of {@link exec}. */
export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Return instead of throwing when the command exits non-zero. */
  allowFail?: boolean;
  /** Bytes for standard input. */
  stdin?: Uint8Array;
}

/** What {@link exec} returns. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd args...` and collects its output. Throws a {@link CommandError}
 * (with the command line and the tail of stderr) when it cannot start or
 * exits non-zero, unless `allowFail` is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exec } from "./exec.ts";
 * import { CommandError } from "./errors.ts";
 * assert.equal((await exec("uname", ["-s"])).stdout.trim(), "Linux");
 * await assert.rejects(exec("sh", ["-c", "echo no >&2; exit 3"]), CommandError);
 * assert.equal((await exec("sh", ["-c", "exit 3"], { allowFail: true })).code, 3);
 * ```
 */
export async function exec(
  cmd: string,
  args: string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  let child;
  try {
    child = new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      stdin: opts.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    throw new CommandError(cmd, args, null, (err as Error).message, {
      cause: err,
    });
  }
  if (opts.stdin) {
    const w = child.stdin.getWriter();
    await w.write(opts.stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  const res = {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
  if (res.code !== 0 && !opts.allowFail) {
    const tail = (res.stderr || res.stdout).trim().split("\n").slice(-8)
      .join("\n");
    throw new CommandError(cmd, args, res.code, tail);
  }
  return res;
}

/**
 * True when `cmd` can be found on PATH (or is an existing path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haveCommand } from "./exec.ts";
 * assert.equal(await haveCommand("sh"), true);
 * assert.equal(await haveCommand("no-such-tool-streamprof"), false);
 * ```
 */
export async function haveCommand(cmd: string): Promise<boolean> {
  if (cmd.includes("/")) {
    try {
      await Deno.stat(cmd);
      return true;
    } catch {
      return false;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = await Deno.stat(`${dir}/${cmd}`);
      if (st.isFile) return true;
    } catch { /* next */ }
  }
  return false;
}
