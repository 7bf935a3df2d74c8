/**
 * The checks `test:vm` runs in every guest (and on the host, for the host
 * column), and how each one's outcome is read: pure functions over what the
 * check wrote, so the verdicts are tested without a VM. The runner that
 * executes them is guest_suite.ts.
 *
 * @module
 */
import { formatCount, formatPercent } from "../common/format.ts";

/** The names of the checks, in the order they run and are shown. */
export const CHECK_IDS = [
  "kernel-tests",
  "validate",
  "stability",
  "profile",
] as const;

/** One of {@link CHECK_IDS}. */
export type CheckId = typeof CHECK_IDS[number];

/**
 * Whether the symbolized-profile check counts towards pass/fail (it does:
 * `profile --json` carries `functions`). Set to `false` only to run the
 * matrix with a profiler that cannot name functions: a failure is then
 * reported as PENDING (JUnit: skipped) instead of failing the column.
 */
export const SYMBOLIZED_PROFILE_REQUIRED = true;

/** What each check is, for tables and help. */
export const CHECK_TITLES: Record<CheckId, string> = {
  "kernel-tests": "real-kernel tests (tests/kernel)",
  "validate": "validate (1 kHz, 10 kHz)",
  "stability": "stability (short)",
  "profile": "symbolized profile: hot_alpha on top",
};

/** How a check ended. */
export type CheckStatus = "pass" | "fail" | "pending";

/** One check's result, as `suite.json` holds it. */
export interface CheckResult {
  id: CheckId;
  status: CheckStatus;
  /** One line for the results table. */
  summary: string;
  seconds: number;
  exitCode?: number;
  /** The last lines of its output (on failure). */
  outputTail?: string[];
}

/** What the guest suite writes to `$RESULTS/suite.json`. */
export interface SuiteReport {
  tool: "streamprof guest suite";
  kernel: string;
  arch: string;
  duration: string;
  checks: CheckResult[];
  /** Every required check passed. */
  pass: boolean;
}

/**
 * Whether a parsed JSON value is a {@link SuiteReport}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSuiteReport } from "./guest_checks.ts";
 * assert.equal(isSuiteReport({ tool: "streamprof guest suite", checks: [] }), true);
 * assert.equal(isSuiteReport({ tool: "streamprof validate" }), false);
 * ```
 */
export function isSuiteReport(j: unknown): j is SuiteReport {
  return typeof j === "object" && j !== null &&
    (j as { tool?: unknown }).tool === "streamprof guest suite" &&
    Array.isArray((j as { checks?: unknown }).checks);
}

/**
 * Where the matrix leaves a test or a file out: in every column, the
 * host's included (`deno task test` runs it on the host before the
 * matrix), in every guest, or only in emulated (TCG) guests.
 */
export type LeftOutWhen = "everywhere" | "guest" | "tcg";

/** A test of tests/kernel that guests leave out, and why. */
export interface GuestSkippedTest {
  name: string;
  why: string;
  when: LeftOutWhen;
}

/**
 * Tests of tests/kernel the guests leave out. Two kinds: tests that need
 * no BPF and no particular kernel (help and usage texts, a missing object
 * path: the host runs them; in a TCG guest they cost half a minute of Deno
 * start-ups), and, under TCG only, tests that assert the sampling rate of
 * real hardware (a TCG guest reaches 1 kHz, not 10 kHz, and a busy loop's
 * samples trail its CPU time: FIELD-NOTES). Zero loss and exact
 * reconciliation are still checked in every guest by validate and the
 * other tests. A renamed test simply runs again.
 */
export const GUEST_SKIPPED_TESTS: GuestSkippedTest[] = [
  {
    name: "cli: every command has --help and exits 0",
    why: "no BPF, runs on the host",
    when: "guest",
  },
  {
    name: "cli: usage errors exit 2 with a message",
    why: "no BPF, runs on the host",
    when: "guest",
  },
  {
    name: "cli: ANTIMETAL_BPF_PATH pointing nowhere is a clear error (exit 3)",
    why: "no BPF, runs on the host",
    when: "guest",
  },
  {
    name: "cli: validate at 1 and 10 kHz passes and writes JSON and JUnit XML",
    why: "asserts hardware sampling rates",
    when: "tcg",
  },
  {
    name:
      "kernel: 1 kHz samples of a busy process match its CPU time within 10%",
    why: "asserts hardware sampling rates",
    when: "tcg",
  },
  {
    name:
      "kernel: 10 kHz on every CPU streams with zero drops and exact reconciliation",
    why: "asserts hardware sampling rates",
    when: "tcg",
  },
  {
    name:
      "kernel: consumeFor polls at 10 kHz with the thread asleep, turns the event loop, ends on abort, then the timer polls again",
    why: "asserts hardware sampling rates",
    when: "tcg",
  },
];

/** A file of tests/kernel the matrix leaves out whole, and why. */
export interface GuestSkippedFile {
  file: string;
  why: string;
  when: LeftOutWhen;
}

/**
 * Files of tests/kernel the guests leave out whole: three need tools and
 * builds only the host has (perf, bpftool, clang, pgrep, node, the
 * Pyroscope server, host-arch fixtures), not a particular kernel, and one
 * is the suite's own stability check again. `deno task test` runs them on
 * the host; in every guest the symbolized-profile check profiles the
 * guest-arch fixture, and validate and stability check the kernel side of
 * what they test.
 */
export const GUEST_SKIPPED_FILES: GuestSkippedFile[] = [
  {
    file: "faults_test.ts",
    why:
      "fault tests need bpftool, clang, pgrep and a host-arch build: deno task test runs them on the host",
    when: "everywhere",
  },
  {
    file: "profile_test.ts",
    why:
      "perf comparisons need perf, node and host-arch fixtures: deno task test runs them on the host",
    when: "everywhere",
  },
  {
    file: "agent_test.ts",
    why:
      "agent tests need the Pyroscope server and netns: deno task test runs them on the host",
    when: "everywhere",
  },
  {
    // The same command as the suite's own stability check, which every
    // column runs: twice would cost a TCG guest ~30 s for nothing new.
    file: "stability_test.ts",
    why: "the suite's stability check runs the same command",
    when: "everywhere",
  },
];

/**
 * The entries of `list` that apply where the suite runs with `accel`: the
 * `everywhere` ones in every column, the `guest` ones in every guest, the
 * `tcg` ones under TCG.
 */
function leftOutWith<T extends { when: LeftOutWhen }>(
  list: readonly T[],
  accel: "host" | "kvm" | "tcg",
): T[] {
  return list.filter((x) =>
    x.when === "everywhere" ||
    (accel !== "host" && (x.when === "guest" || accel === "tcg"))
  );
}

/**
 * The files left out where the suite runs with `accel`. The host column
 * leaves out the same files as the guests, so the columns compare like for
 * like and the matrix stays within its time (with them, the host's kernel
 * tests took 260 s of a 807 s `test:vm all`): they run on this machine in
 * `deno task test`, which runs tests/kernel whole before the matrix.
 */
export function skippedFiles(
  accel: "host" | "kvm" | "tcg",
): GuestSkippedFile[] {
  return leftOutWith(GUEST_SKIPPED_FILES, accel);
}

/** The tests left out where the suite runs with `accel`. */
export function skippedTests(
  accel: "host" | "kvm" | "tcg",
): GuestSkippedTest[] {
  return leftOutWith(GUEST_SKIPPED_TESTS, accel);
}

/**
 * The names of the tests that `Deno.test` calls in `sources` declare with
 * a plain string name, and how many calls there are: when the two counts
 * differ, some name could not be read (a template with `${}`) and no test
 * can be left out safely.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanTestNames } from "./guest_checks.ts";
 * const text = 'Deno.test("a b", () => {});\nDeno.test({\n  name:\n    "c \\"d\\"",\n  fn() {},\n});\nDeno.test(`x${1}`, () => {});';
 * assert.deepEqual(scanTestNames([text]), { names: ["a b", 'c "d"'], calls: 3 });
 * ```
 */
export function scanTestNames(
  sources: string[],
): { names: string[]; calls: number } {
  const names: string[] = [];
  let calls = 0;
  for (const text of sources) {
    calls += (text.match(/\bDeno\.test\(/g) ?? []).length;
    const re =
      /\bDeno\.test\(\s*(?:\{\s*name:\s*)?("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')/g;
    for (const m of text.matchAll(re)) {
      const lit = m[1];
      names.push(
        lit.startsWith('"')
          ? JSON.parse(lit)
          : JSON.parse(`"${lit.slice(1, -1).replace(/"/g, '\\"')}"`),
      );
    }
  }
  return { names, calls };
}

/**
 * A `deno test --filter` that runs exactly `names` (a regular expression
 * of the names, escaped, anchored).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { includeFilter } from "./guest_checks.ts";
 * assert.equal(includeFilter(["a (b)", "c"]), "/^(?:a \\(b\\)|c)$/");
 * ```
 */
export function includeFilter(names: string[]): string {
  const escaped = names.map((n) =>
    n.replace(/[\\.+*?()|[\]{}^$#&\-~/]/g, "\\$&")
  );
  return `/^(?:${escaped.join("|")})$/`;
}

/**
 * The kernel tests' outcome from their JUnit file (`deno test
 * --junit-path`): tests run, and the names of the failed ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeKernelTests } from "./guest_checks.ts";
 * const xml = '<testsuites><testsuite name="a" tests="2" failures="1">' +
 *   '<testcase name="ok one"/><testcase name="bad one"><failure message="x"/></testcase></testsuite></testsuites>';
 * assert.deepEqual(summarizeKernelTests(xml, 1), { status: "fail", summary: "1 of 2 failed: bad one" });
 * assert.deepEqual(summarizeKernelTests('<testcase name="ok one"/><testcase name="x"><skipped/></testcase>', 0, [{ name: "x", why: "no BPF", when: "guest" }]), {
 *   status: "pass",
 *   summary: "1 passed; 1 left out here (no BPF)",
 * });
 * ```
 */
export function summarizeKernelTests(
  xml: string | undefined,
  exitCode: number,
  leftOut: GuestSkippedTest[] = [],
): { status: CheckStatus; summary: string } {
  const left = leftOut.length
    ? `; ${leftOut.length} left out here (${
      [...new Set(leftOut.map((t) => t.why))].join("; ")
    })`
    : "";
  if (xml === undefined) {
    return { status: "fail", summary: `no JUnit file (exit ${exitCode})` };
  }
  const unescape = (t: string) =>
    t.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const cases = [...xml.matchAll(
    /<testcase\b[^>]*\bname="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g,
  )].map((c) => ({ name: unescape(c[1]), body: c[3] ?? "" }));
  const failed = cases.filter((c) => /<(failure|error)\b/.test(c.body))
    .map((c) => c.name);
  // deno test lists filtered-out tests as skipped too.
  const skippedNames = cases.filter((c) => /<skipped\b/.test(c.body)).map((
    c,
  ) => c.name);
  const ran = cases.length - skippedNames.length;
  const skipped =
    skippedNames.filter((n) => !leftOut.some((t) => t.name === n)).length;
  if (failed.length) {
    return {
      status: "fail",
      summary: `${failed.length} of ${cases.length} failed: ${
        failed.join("; ")
      }${left}`,
    };
  }
  if (exitCode !== 0) {
    return {
      status: "fail",
      summary: `exit ${exitCode} (${ran} tests ran)${left}`,
    };
  }
  if (ran === 0) return { status: "fail", summary: "no test ran" };
  return {
    status: "pass",
    summary: `${ran} passed${skipped ? `, ${skipped} skipped` : ""}${left}`,
  };
}

/** The fields of `cli.ts validate --json` the summary reads. */
interface ValidateRow {
  requestedHz: number;
  achievedPerCpuSecond: number;
  produced: number;
  dropped: number;
  pass: boolean;
}

/**
 * One line for `validate`: per rate, drops of produced and the achieved
 * rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeValidate } from "./guest_checks.ts";
 * const j = { tool: "streamprof validate", pass: true, rows: [
 *   { requestedHz: 1000, achievedPerCpuSecond: 965.2, produced: 9705, dropped: 0, pass: true },
 *   { requestedHz: 10000, achievedPerCpuSecond: 3222, produced: 32380, dropped: 0, pass: true },
 * ] };
 * assert.deepEqual(summarizeValidate(j, 0), {
 *   status: "pass",
 *   summary: "1 kHz: 0 of 9,705 dropped, 965/CPU-s; 10 kHz: 0 of 32,380 dropped, 3,222/CPU-s",
 * });
 * ```
 */
export function summarizeValidate(
  json: unknown,
  exitCode: number,
): { status: CheckStatus; summary: string } {
  const j = json as { tool?: string; rows?: ValidateRow[]; pass?: boolean };
  if (j?.tool !== "streamprof validate" || !Array.isArray(j.rows)) {
    return { status: "fail", summary: `no validate JSON (exit ${exitCode})` };
  }
  const rate = (hz: number) => hz >= 1000 ? `${hz / 1000} kHz` : `${hz} Hz`;
  const summary = j.rows.map((r) =>
    `${rate(r.requestedHz)}: ${formatCount(r.dropped)} of ${
      formatCount(r.produced)
    } dropped, ${formatCount(r.achievedPerCpuSecond)}/CPU-s${
      r.pass ? "" : " FAIL"
    }`
  ).join("; ");
  return {
    status: j.pass === true && exitCode === 0 ? "pass" : "fail",
    summary,
  };
}

/**
 * One line for `stability`: samples, drops, and the heap and RSS growth
 * the verdict judged (after the warm-up).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeStability } from "./guest_checks.ts";
 * const sample = (events: number, rssAnon: number) =>
 *   ({ events, drops: 0, heapUsed: 4_700_000, rssAnon });
 * const j = {
 *   pass: true,
 *   problems: [],
 *   samples: [sample(1000, 13e6), sample(2000, 16e6), sample(3000, 16.2e6), sample(4000, 16.1e6)],
 *   growthAfterWarmUp: { liveHeapBytes: 0, anonRssBytes: 200_000 },
 * };
 * assert.deepEqual(summarizeStability(j, 0), {
 *   status: "pass",
 *   summary: "4 samples, 4,000 events, 0 drops, heap +0.0 MB, anon RSS +0.2 MB after the warm-up",
 * });
 * ```
 */
export function summarizeStability(
  json: unknown,
  exitCode: number,
): { status: CheckStatus; summary: string } {
  const j = json as {
    pass?: boolean;
    problems?: string[];
    growthAfterWarmUp?: { liveHeapBytes: number; anonRssBytes: number };
    samples?: { events: number; drops: number }[];
  };
  // The stability command writes both; without them there is no verdict
  // to show (the figures are what its bounds were held to).
  const g = j?.growthAfterWarmUp;
  if (!Array.isArray(j?.samples) || j.samples.length === 0 || !g) {
    return { status: "fail", summary: `no stability JSON (exit ${exitCode})` };
  }
  const s = j.samples;
  const last = s[s.length - 1];
  const mb = (b: number) => `${b >= 0 ? "+" : ""}${(b / 1e6).toFixed(1)} MB`;
  const drops = s.reduce((n, x) => Math.max(n, x.drops), 0);
  const memory = `heap ${mb(g.liveHeapBytes)}, anon RSS ${
    mb(g.anonRssBytes)
  } after the warm-up`;
  const summary = `${s.length} samples, ${formatCount(last.events)} events, ${
    formatCount(drops)
  } drops, ${memory}${j.problems?.length ? `: ${j.problems.join("; ")}` : ""}`;
  return {
    status: j.pass === true && exitCode === 0 ? "pass" : "fail",
    summary,
  };
}

/** The function the fixture spends most of its time in, by construction. */
export const HOT_FUNCTION = "hot_alpha";

/**
 * The top function by self samples in `cli.ts profile --json`: the first of
 * `result.functions` (the profile lists them by self samples, highest
 * first), or why there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { topFunction } from "./guest_checks.ts";
 * assert.deepEqual(topFunction({ functions: [{ name: "hot_alpha", self: 480 }, { name: "hot_beta", self: 290 }] }),
 *   { name: "hot_alpha", self: 480, total: 770 });
 * assert.match(topFunction({ processes: [] }).problem!, /no "functions"/);
 * ```
 */
export function topFunction(
  json: unknown,
): { name?: string; self?: number; total?: number; problem?: string } {
  const fns = (json as { functions?: unknown })?.functions;
  if (!Array.isArray(fns)) {
    return {
      problem:
        'profile --json has no "functions" list yet (stack symbolization, issue 11)',
    };
  }
  if (fns.length === 0) return { problem: "profile found no functions" };
  const first = fns[0] as { name?: unknown; self?: unknown };
  if (typeof first?.name !== "string") {
    return { problem: "the first function has no name" };
  }
  const selfOf = (f: unknown) => {
    const v = (f as { self?: unknown; selfSamples?: unknown })?.self ??
      (f as { selfSamples?: unknown })?.selfSamples;
    return typeof v === "number" ? v : undefined;
  };
  const self = selfOf(first);
  const total = fns.reduce((n: number, f) => n + (selfOf(f) ?? 0), 0);
  return { name: first.name, self, total: total || undefined };
}

/**
 * The symbolized-profile verdict: `hot_alpha` must top the profile.
 * While {@link SYMBOLIZED_PROFILE_REQUIRED} is false a failure is
 * `pending`, not `fail`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeProfile } from "./guest_checks.ts";
 * assert.deepEqual(
 *   judgeProfile({ functions: [{ name: "hot_alpha", self: 50 }, { name: "hot_beta", self: 30 }] }, 0, true),
 *   { status: "pass", summary: "top function hot_alpha (62.5% of self samples)" },
 * );
 * assert.equal(judgeProfile({ functions: [{ name: "main", self: 9 }] }, 0, true).status, "fail");
 * assert.equal(judgeProfile({}, 0, false).status, "pending");
 * ```
 */
export function judgeProfile(
  json: unknown,
  exitCode: number,
  required = SYMBOLIZED_PROFILE_REQUIRED,
): { status: CheckStatus; summary: string } {
  const failed = (summary: string) => ({
    status: required ? "fail" as const : "pending" as const,
    summary: required ? summary : `${summary} (not required yet)`,
  });
  if (json === undefined) {
    return failed(`profile wrote no JSON (exit ${exitCode})`);
  }
  const top = topFunction(json);
  if (top.problem) return failed(top.problem);
  const share = top.self !== undefined && top.total
    ? ` (${formatPercent(top.self, top.total)} of self samples)`
    : "";
  if (top.name !== HOT_FUNCTION) {
    return failed(`top function ${top.name}${share}, expected ${HOT_FUNCTION}`);
  }
  if (exitCode !== 0) return failed(`profile exited ${exitCode}`);
  return { status: "pass", summary: `top function ${top.name}${share}` };
}
