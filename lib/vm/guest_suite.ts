/**
 * The suite `test:vm` runs in each guest, and on the host for its column:
 *
 * ```sh
 * deno run -A lib/vm/guest_suite.ts [--checks kernel-tests,validate,stability,profile] [--duration 5s]
 * ```
 *
 * from the project root, with `$RESULTS` a writable folder and `$FIXTURES`
 * the test programs built for this arch (fixtures.ts). Each check runs as
 * its own process with a time limit, its output streamed with a `[check]`
 * prefix; the verdicts (guest_checks.ts) go to `$RESULTS/suite.json`. Exit
 * status 0 when every required check passed, else 1.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseDuration } from "../common/args.ts";
import { UsageError } from "../common/errors.ts";
import { runMain } from "../common/command.ts";
import { pumpLines } from "./lines.ts";
import {
  CHECK_IDS,
  type CheckId,
  type CheckResult,
  type CheckStatus,
  type GuestSkippedTest,
  HOT_FUNCTION,
  includeFilter,
  judgeProfile,
  scanTestNames,
  skippedFiles,
  skippedTests,
  type SuiteReport,
  summarizeKernelTests,
  summarizeStability,
  summarizeValidate,
  SYMBOLIZED_PROFILE_REQUIRED,
} from "./guest_checks.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** The shortest stability run, seconds. */
const STABILITY_MIN_S = 10;

const DENO = Deno.execPath();

/** How one child process ended. */
interface ChildRun {
  code: number;
  timedOut: boolean;
  tail: string[];
}

/**
 * Runs `argv` from the project root, streaming its output line by line
 * with `[id] ` in front, killing it after `limitS` seconds.
 */
async function runChild(
  id: string,
  argv: string[],
  limitS: number,
  env: Record<string, string> = {},
): Promise<ChildRun> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, limitS * 1000);
  const tail: string[] = [];
  const encoder = new TextEncoder();
  const emit = (line: string) => {
    tail.push(line);
    if (tail.length > 60) tail.shift();
    Deno.stdout.writeSync(encoder.encode(`[${id}] ${line}\n`));
  };
  const [status] = await Promise.all([
    child.status,
    pumpLines(child.stdout, emit),
    pumpLines(child.stderr, emit),
  ]);
  clearTimeout(timer);
  return { code: status.code, timedOut, tail };
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Everything a check needs to know about this run. */
interface SuiteContext {
  results: string;
  fixtures: string;
  /** Where the suite runs: the host, or a guest under KVM or TCG. */
  accel: "host" | "kvm" | "tcg";
  /** TEST_DURATION as given, and in seconds. */
  duration: string;
  durationS: number;
}

/**
 * Which tests of tests/kernel to run here: the files but
 * {@link skippedFiles}, and in them all tests but {@link skippedTests}, as
 * a `--filter` of the names read from those files; when a name cannot be
 * read, all of their tests (and a note saying so).
 */
async function kernelTestPlan(accel: SuiteContext["accel"]): Promise<{
  files: string[];
  filter?: string;
  leftOut: GuestSkippedTest[];
  note?: string;
}> {
  const skip = skippedTests(accel);
  const skipFiles = skippedFiles(accel);
  const files: string[] = [];
  const sources: string[] = [];
  const leftOut: GuestSkippedTest[] = [];
  const entries: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}tests/kernel`)) {
    if (e.isFile && e.name.endsWith("_test.ts")) entries.push(e.name);
  }
  for (const name of entries.sort()) {
    const text = await Deno.readTextFile(`${ROOT}tests/kernel/${name}`);
    const skipped = skipFiles.find((f) => f.file === name);
    if (skipped) {
      // Every test of the file is left out, named where it can be read.
      const { names, calls } = scanTestNames([text]);
      for (let i = 0; i < calls; i++) {
        leftOut.push({
          name: names[i] ?? `${name} #${i + 1}`,
          why: skipped.why,
          when: skipped.when,
        });
      }
      continue;
    }
    files.push(`tests/kernel/${name}`);
    sources.push(text);
  }
  if (skip.length === 0) return { files, leftOut };
  const { names, calls } = scanTestNames(sources);
  if (names.length !== calls) {
    return {
      files,
      leftOut,
      note: `${
        calls - names.length
      } of ${calls} test names could not be read: running all of them`,
    };
  }
  const byName = skip.filter((t) => names.includes(t.name));
  if (byName.length === 0) return { files, leftOut };
  return {
    files,
    filter: includeFilter(
      names.filter((n) => !byName.some((t) => t.name === n)),
    ),
    leftOut: [...leftOut, ...byName],
  };
}

/** Runs one check; returns its status, summary and the child's ending. */
async function runCheck(
  id: CheckId,
  c: SuiteContext,
): Promise<{ status: CheckStatus; summary: string; run?: ChildRun }> {
  const R = c.results;
  const cli = [DENO, "run", "-A", `${ROOT}cli.ts`];
  switch (id) {
    case "kernel-tests": {
      const plan = await kernelTestPlan(c.accel);
      if (plan.note) console.log(`[suite] kernel-tests: ${plan.note}`);
      const run = await runChild(
        id,
        [
          DENO,
          "test",
          "-A",
          "--no-check",
          `--junit-path=${R}/kernel-tests.xml`,
          ...(plan.filter ? ["--filter", plan.filter] : []),
          ...plan.files,
        ],
        900,
      );
      return {
        ...summarizeKernelTests(
          await readText(`${R}/kernel-tests.xml`),
          run.code,
          plan.leftOut,
        ),
        run,
      };
    }
    case "validate": {
      const run = await runChild(id, [
        ...cli,
        "validate",
        "--rates",
        "1000,10000",
        "--duration",
        c.duration,
        "--json",
        `${R}/validate.json`,
        "--junit",
        `${R}/validate.xml`,
      ], 120 + 4 * c.durationS);
      return {
        ...summarizeValidate(await readJson(`${R}/validate.json`), run.code),
        run,
      };
    }
    case "stability": {
      // At least 10 s, a sample every fifth of it: a loaded host may starve
      // a guest's timers for seconds. The first 10 s are warm-up, and the
      // run goes on past them until two samples follow (enoughSamples).
      const seconds = Math.max(STABILITY_MIN_S, c.durationS);
      const interval = Math.max(1, Math.floor(seconds / 5));
      const run = await runChild(id, [
        ...cli,
        "stability",
        "--duration",
        `${seconds}s`,
        "--interval",
        `${interval}s`,
        "--json",
        `${R}/stability.json`,
      ], 120 + 2 * seconds);
      return {
        ...summarizeStability(await readJson(`${R}/stability.json`), run.code),
        run,
      };
    }
    case "profile":
      return await runProfileCheck(c);
  }
}

/**
 * The symbolized-profile check: start the fixture (its known hottest
 * function is `hot_alpha`), profile only its pid for 3 s at 999 Hz, and
 * read the top function from the JSON.
 */
async function runProfileCheck(
  c: SuiteContext,
): Promise<{ status: CheckStatus; summary: string; run?: ChildRun }> {
  const notReady = (summary: string) => {
    const required = SYMBOLIZED_PROFILE_REQUIRED;
    return {
      status: required ? "fail" as const : "pending" as const,
      summary: required ? summary : `${summary} (not required yet)`,
    };
  };
  const program = `${c.fixtures}/hotspots`;
  try {
    await Deno.stat(program);
  } catch {
    const built = await readJson(`${c.fixtures}/fixtures.json`) as
      | { problems?: string[] }
      | undefined;
    return notReady(
      `no fixture ${program}${
        built?.problems?.length ? `: ${built.problems.join("; ")}` : ""
      }`,
    );
  }
  const marker = await Deno.makeTempFile({ prefix: "hotspots-pid-" });
  await Deno.remove(marker);
  const fixture = new Deno.Command(program, {
    args: ["--seconds", "60", "--marker", marker],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    let pid: number | undefined;
    for (let i = 0; i < 300 && pid === undefined; i++) {
      // The marker's first line is the pid (then function addresses).
      const first = (await readText(marker))?.split("\n")[0].trim();
      if (first && /^\d+$/.test(first)) pid = Number(first);
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (pid === undefined) return notReady(`${program} never started`);
    const run = await runChild("profile", [
      DENO,
      "run",
      "-A",
      `${ROOT}cli.ts`,
      "profile",
      "--duration",
      "3s",
      "--freq",
      "999",
      "--pid",
      String(pid),
      "--json",
      `${c.results}/profile.json`,
      "--no-status",
    ], 120);
    return {
      ...judgeProfile(await readJson(`${c.results}/profile.json`), run.code),
      run,
    };
  } finally {
    try {
      fixture.kill("SIGKILL");
    } catch { /* exited */ }
    await fixture.status;
    await Deno.remove(marker).catch(() => {});
  }
}

/** Runs the suite; returns its report (also written to `$RESULTS`). */
export async function runSuite(
  checks: readonly CheckId[],
  c: SuiteContext,
): Promise<SuiteReport> {
  const results: CheckResult[] = [];
  for (const id of checks) {
    const t0 = performance.now();
    console.log(`[suite] ${id}: start`);
    let outcome: Awaited<ReturnType<typeof runCheck>>;
    try {
      outcome = await runCheck(id, c);
    } catch (err) {
      outcome = { status: "fail", summary: `could not run: ${err}` };
    }
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    if (outcome.run?.timedOut) {
      outcome = {
        ...outcome,
        status: "fail",
        summary: `timed out: ${outcome.summary}`,
      };
    }
    results.push({
      id,
      status: outcome.status,
      summary: outcome.summary,
      seconds,
      exitCode: outcome.run?.code,
      outputTail: outcome.status === "pass" ? undefined : outcome.run?.tail,
    });
    console.log(
      `[suite] ${id}: ${outcome.status.toUpperCase()} in ${seconds} s: ${outcome.summary}`,
    );
  }
  const report: SuiteReport = {
    tool: "streamprof guest suite",
    kernel: Deno.osRelease(),
    arch: Deno.build.arch,
    duration: c.duration,
    checks: results,
    pass: results.every((r) => r.status !== "fail"),
  };
  await Deno.writeTextFile(
    `${c.results}/suite.json`,
    JSON.stringify(report, null, 2) + "\n",
  );
  return report;
}

/** `$ACCEL`: set by the runner (guest.env, or host). */
function parseAccel(value: string | undefined): "host" | "kvm" | "tcg" {
  if (value === undefined || value === "host") return "host";
  if (value === "kvm" || value === "tcg") return value;
  throw new UsageError(`ACCEL must be host, kvm or tcg, got "${value}"`);
}

/** Parses the suite's arguments and environment. */
export function parseSuiteArgs(
  args: string[],
  env: { get(name: string): string | undefined } = Deno.env,
): { checks: CheckId[]; context: SuiteContext } {
  const { values } = parseArgs({
    args,
    options: {
      checks: { type: "string" },
      duration: { type: "string" },
    },
  });
  const checks = (values.checks ?? CHECK_IDS.join(",")).split(",").map((s) =>
    s.trim()
  );
  for (const id of checks) {
    if (!(CHECK_IDS as readonly string[]).includes(id)) {
      throw new UsageError(
        `unknown check "${id}" (checks: ${CHECK_IDS.join(", ")})`,
      );
    }
  }
  const duration = values.duration ?? env.get("TEST_DURATION") ?? "5s";
  const results = env.get("RESULTS");
  if (!results) throw new UsageError("RESULTS must name a writable folder");
  return {
    checks: checks as CheckId[],
    context: {
      results,
      fixtures: env.get("FIXTURES") ?? "/fixtures",
      accel: parseAccel(env.get("ACCEL")),
      duration,
      durationS: parseDuration(duration, "--duration") / 1000,
    },
  };
}

if (import.meta.main) {
  const code = await runMain("guest suite", async () => {
    const { checks, context } = parseSuiteArgs(Deno.args);
    console.log(
      `[suite] ${
        checks.join(", ")
      } on ${Deno.build.arch} / ${Deno.osRelease()} (${context.accel}), duration ${context.duration}, fixture hot function ${HOT_FUNCTION}`,
    );
    const report = await runSuite(checks, context);
    return report.pass ? 0 : 1;
  });
  Deno.exit(code);
}
