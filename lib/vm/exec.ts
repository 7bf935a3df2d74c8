/**
 * Runs a host command and returns its output, or throws with its stderr.
 *
 * @module
 */

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
 * Runs `cmd args...` and collects its output. Throws (with the command line
 * and the tail of stderr) when it cannot start or exits non-zero, unless
 * `allowFail` is set.
 *
 * @example
 * ```ts
 * (await exec("uname", ["-m"])).stdout.trim(); // "x86_64"
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
  } catch (e) {
    throw new Error(`cannot run ${cmd}: ${(e as Error).message}`);
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
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${res.code}${tail ? `:\n${tail}` : ""}`,
    );
  }
  return res;
}

/**
 * True when `cmd` can be found on PATH (or is an existing path).
 *
 * @example
 * ```ts
 * await haveCommand("qemu-system-aarch64"); // true where QEMU is installed
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
