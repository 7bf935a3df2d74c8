/**
 * Whether the real-kernel tests can run here, decided once per file.
 *
 * Outside CI a machine without root or BPF skips them with a visible line;
 * in CI (CI=true) they must run, so `bpfIgnore` is false there and a missing
 * capability makes the tests fail with the reason instead of skipping.
 *
 * @module
 */
import { runDoctor } from "../../lib/cli/doctor.ts";
import { type CommandResult, reportFiles, runCommand } from "../run_command.ts";
import { withTempDir } from "../temp_dir.ts";

function reasonBpfUnavailable(): string | null {
  try {
    const failed = runDoctor().filter((c) => c.status === "fail");
    return failed.length
      ? failed.map((c) => `${c.name}: ${c.detail}`).join("; ")
      : null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Why BPF cannot run here, or null if it can. */
export const bpfUnavailable: string | null = reasonBpfUnavailable();

/** True in CI, where nothing that needs BPF may be skipped. */
export const inCI = Deno.env.get("CI") === "true";

/**
 * True in a guest the VM runner boots under TCG (it sets ACCEL=tcg), where
 * every instruction is emulated: a test that repeats a whole path hundreds
 * of times may repeat it fewer times there, and says so.
 */
export const emulated = Deno.env.get("ACCEL") === "tcg";

/** Pass as `ignore` to Deno.test: never true in CI. */
export const bpfIgnore: boolean = bpfUnavailable !== null && !inCI;

if (bpfUnavailable !== null) {
  console.error(
    inCI
      ? `CI=true and BPF is unavailable: the real-kernel tests will FAIL: ${bpfUnavailable}`
      : `SKIPPING real-kernel tests (not in CI): ${bpfUnavailable}`,
  );
}

/** Throws the reason when BPF is unavailable (in CI this fails the test). */
export function assertBpf(): void {
  if (bpfUnavailable !== null) {
    throw new Error(`BPF is unavailable here: ${bpfUnavailable}`);
  }
}

/** The project root. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** Path of the Deno binary running the tests. */
export const DENO = Deno.execPath();

/** How {@link runCli} runs the CLI. */
export interface CliOptions {
  env?: Record<string, string>;
  /** Only `env`, nothing inherited. */
  clearEnv?: boolean;
  /**
   * As root with an empty capability bounding set: no CAP_BPF, CAP_PERFMON
   * or CAP_SYS_ADMIN, which is what an unprivileged user has.
   */
  dropCaps?: boolean;
  /** A command that runs the CLI (e.g. a seccomp launcher). */
  wrapper?: string[];
}

/** Runs cli.ts with args; returns exit code and output. */
export function runCli(
  args: string[],
  o: CliOptions = {},
): Promise<CommandResult> {
  return runCommand([
    ...(o.dropCaps
      ? ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
      : []),
    ...(o.wrapper ?? []),
    DENO,
    "run",
    "-A",
    `${ROOT}cli.ts`,
    ...args,
  ], { env: o.env, clearEnv: o.clearEnv, cwd: ROOT, stdin: "null" });
}

/** What {@link runCliReports} returns: the run and the reports it wrote. */
export interface CliReports extends CommandResult {
  /** The --json report, parsed; undefined if none was written. */
  // deno-lint-ignore no-explicit-any
  json: any;
  /** The --junit file's text, when asked for; undefined if none. */
  junit?: string;
}

/**
 * {@link runCli} with `--json` (and, with `junit`, `--junit`) into a
 * temporary folder, removed afterwards; returns the run with what it
 * wrote there.
 */
export function runCliReports(
  args: string[],
  o: CliOptions & { junit?: boolean } = {},
): Promise<CliReports> {
  return withTempDir(async (dir) => {
    const r = await runCli([
      ...args,
      ...(o.junit ? reportFiles(dir, "r") : ["--json", `${dir}/r.json`]),
    ], o);
    const read = (f: string) =>
      Deno.readTextFile(`${dir}/${f}`).catch(() => undefined);
    const json = await read("r.json");
    return {
      ...r,
      json: json === undefined ? undefined : JSON.parse(json),
      junit: o.junit ? await read("r.xml") : undefined,
    };
  });
}
