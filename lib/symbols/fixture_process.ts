/**
 * Test support: builds the C fixture programs of tests/fixtures (make) and
 * runs them as real processes, waiting until their workload runs.
 *
 * In CI (CI=true) a missing prerequisite must fail the test, not skip it:
 * `requireTool` throws there and returns false elsewhere, with the reason
 * printed.
 *
 * @module
 */

/** tests/fixtures/, absolute. */
export const FIXTURES_DIR = new URL("../../tests/fixtures/", import.meta.url)
  .pathname;
/** tests/fixtures/build/, absolute. */
export const FIXTURES_BUILD = `${FIXTURES_DIR}build`;

/** True in CI, where nothing may be skipped. */
export const inCI = Deno.env.get("CI") === "true";

let built: Promise<void> | undefined;

/**
 * Runs `make -C tests/fixtures` once per test process (under flock, so
 * parallel test workers do not build over each other); throws with make's
 * output if it fails.
 *
 * @example
 * ```ts ignore
 * // ignore: runs make (seconds, needs gcc); the tests call it.
 * await buildFixtures();
 * ```
 */
export function buildFixtures(): Promise<void> {
  return built ??= (async () => {
    // Test files may run in parallel workers (deno test --parallel), each
    // calling this: one make at a time, under a lock in the build folder.
    Deno.mkdirSync(FIXTURES_BUILD, { recursive: true });
    const r = await new Deno.Command("flock", {
      args: [`${FIXTURES_BUILD}/.make.lock`, "make", "-s", "-C", FIXTURES_DIR],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      const dec = new TextDecoder();
      throw new Error(
        `make -C tests/fixtures failed (exit ${r.code}):\n${
          dec.decode(r.stdout)
        }${dec.decode(r.stderr)}`,
      );
    }
  })();
}

/** A running fixture process. */
export interface FixtureProcess {
  pid: number;
  /**
   * The run-time addresses the fixture printed in its marker (main,
   * run_workload, hot_alpha, ...): ground truth independent of any unwinder.
   */
  addresses: Map<string, bigint>;
  child: Deno.ChildProcess;
  /** Kills it (SIGKILL) and waits for it; safe to call twice. */
  stop(): Promise<void>;
  /** Waits for it to exit by itself. */
  exited: Promise<Deno.CommandStatus>;
}

/**
 * Starts `argv[0]` with `argv.slice(1)` plus `--marker FILE` and resolves
 * once FILE holds the pid (the workload is running). `wrap` prefixes the
 * command (e.g. `["unshare", "--mount", ...]`); the pid is then read from the
 * marker, not taken from the wrapper.
 *
 * @example
 * ```ts ignore
 * // ignore: starts a real process; see symbolizer_test.ts.
 * const p = await startFixture([`${FIXTURES_BUILD}/hotspots`, "--seconds", "5"]);
 * await p.stop();
 * ```
 */
export async function startFixture(
  argv: string[],
  options: { wrap?: string[]; timeoutMs?: number; cwd?: string } = {},
): Promise<FixtureProcess> {
  const marker = Deno.makeTempFileSync({ prefix: "hotspots-marker-" });
  Deno.removeSync(marker);
  const cmd = [...(options.wrap ?? []), ...argv, "--marker", marker];
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    cwd: options.cwd,
  }).spawn();
  let done = false;
  const exited = child.status.then((s) => {
    done = true;
    return s;
  });
  const stderr = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let errText = "";
  (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) break;
      errText += value;
    }
  })();
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let pid = 0;
  const addresses = new Map<string, bigint>();
  while (Date.now() < deadline) {
    try {
      const lines = Deno.readTextFileSync(marker).trim().split("\n");
      pid = Number(lines[0]);
      for (const l of lines.slice(1)) {
        const [name, hex] = l.split(" ");
        if (hex?.startsWith("0x")) addresses.set(name, BigInt(hex));
      }
      if (pid > 0) break;
    } catch { /* not yet */ }
    if (done) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  try {
    Deno.removeSync(marker);
  } catch { /* never written */ }
  const stop = async () => {
    if (!done) {
      try {
        // The wrapper (unshare) forwards nothing: kill the fixture itself.
        if (pid > 0) Deno.kill(pid, "SIGKILL");
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await exited;
  };
  if (!(pid > 0)) {
    await stop();
    throw new Error(
      `${cmd.join(" ")} did not start within ${
        options.timeoutMs ?? 10_000
      } ms: ${errText}`,
    );
  }
  return { pid, addresses, child, stop, exited };
}

/**
 * Whether `tool` runs here (`tool --version` or the given args succeed).
 * When it does not: in CI throws (the test fails), elsewhere prints why and
 * returns false (the test is then skipped by its caller).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { requireTool } from "./fixture_process.ts";
 * assert.strictEqual(await requireTool("sh", ["-c", "true"]), true);
 * ```
 */
export async function requireTool(
  tool: string,
  args = ["--version"],
): Promise<boolean> {
  let reason = "";
  try {
    const r = await new Deno.Command(tool, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    if (r.success) return true;
    reason = `${tool} ${args.join(" ")} exited ${r.code}`;
  } catch (err) {
    reason = `${tool}: ${(err as Error).message}`;
  }
  if (inCI) throw new Error(`CI=true and a prerequisite is missing: ${reason}`);
  console.error(`SKIPPING (not in CI): ${reason}`);
  return false;
}
