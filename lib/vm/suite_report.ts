/**
 * The report of a `test:vm` run over the matrix: one table with a row per
 * check and a column per VM (and the host), the counts for the last line,
 * and the JUnit document (a suite per VM, a case per check).
 *
 * @module
 */
import { type JUnitCase, junitDocument, junitSuite } from "../report/junit.ts";
import {
  CHECK_IDS,
  CHECK_TITLES,
  type CheckResult,
  type CheckStatus,
} from "./guest_checks.ts";
import { guestSuites } from "./junit.ts";
import {
  type ResultColumn,
  type ResultsTable,
  resultsTable,
} from "./results_table.ts";
import type { VmRunResult } from "./run_vm.ts";

/** A check's cell: status in capitals, then its summary. */
function checkCell(c: CheckResult): string {
  return `${c.status.toUpperCase()} ${c.summary}`;
}

/**
 * The kernel a column ran: the resolved package version and its ABI, or
 * the host's release.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelCell } from "./suite_report.ts";
 * assert.equal(
 *   kernelCell({ kernelPackage: "linux-image-6.1.0-57-amd64-unsigned", kernelVersion: "6.1.192-3", kernel: "6.1.0-57-amd64" }),
 *   "6.1.192-3 (6.1.0-57)",
 * );
 * assert.equal(kernelCell({ kernel: "6.18.44" }), "6.18.44");
 * ```
 */
export function kernelCell(
  r: Pick<VmRunResult, "kernelPackage" | "kernelVersion" | "kernel">,
): string {
  if (!r.kernelVersion) return r.kernel;
  const abi = /^linux-image-(.+?)-(?:[a-z0-9]+)-unsigned$/.exec(
    r.kernelPackage ?? "",
  )?.[1];
  return abi ? `${r.kernelVersion} (${abi})` : r.kernelVersion;
}

/** The rows of one column, in table order (label → cell). */
export function columnFacts(r: VmRunResult): ResultColumn["facts"] {
  const facts: NonNullable<ResultColumn["facts"]> = {
    "result": r.pass ? "PASS" : `FAIL: ${r.reason}`,
    "kernel package": kernelCell(r),
    "uname -r": r.unameR,
    "accel": r.accel,
  };
  if (r.suite) {
    for (const id of CHECK_IDS) {
      const c = r.suite.checks.find((x) => x.id === id);
      facts[CHECK_TITLES[id]] = c ? checkCell(c) : undefined;
    }
  } else {
    facts["exit code"] = r.exitCode;
  }
  facts["boot to init, guest clock (s)"] = r.times.guestBootToInit;
  facts["wall time (s)"] = r.times.total;
  return facts;
}

/**
 * The matrix table: runner facts and one row per check, a column per run;
 * with `full`, every leaf of each run's JSON below.
 */
export function matrixTable(
  results: VmRunResult[],
  full = false,
): ResultsTable {
  return resultsTable(results.map((r) => ({
    vm: r.vm,
    arch: r.arch,
    kernel: r.unameR ?? r.kernel,
    facts: columnFacts(r),
    json: full || !r.suite ? r.json : undefined,
  })));
}

/** Counts of a run over the matrix: each check of each column is one. */
export interface MatrixCounts {
  passed: number;
  failed: number;
  pending: number;
}

/**
 * Counts checks per column; a column whose run failed without a suite
 * report (it did not boot, it timed out, a plain command failed) counts as
 * one failure, a plain command that passed as one pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matrixCounts } from "./suite_report.ts";
 * const check = (status: "pass" | "fail" | "pending") => ({ id: "validate" as const, status, summary: "", seconds: 1 });
 * assert.deepEqual(matrixCounts([
 *   { pass: false, suite: { checks: [check("pass"), check("fail"), check("pending")] } },
 *   { pass: false },
 *   { pass: true },
 * ]), { passed: 2, failed: 2, pending: 1 });
 * ```
 */
export function matrixCounts(
  results: { pass: boolean; suite?: { checks: { status: CheckStatus }[] } }[],
): MatrixCounts {
  const n: MatrixCounts = { passed: 0, failed: 0, pending: 0 };
  for (const r of results) {
    const checks = r.suite?.checks ?? [];
    if (checks.length === 0) {
      if (r.pass) n.passed++;
      else n.failed++;
      continue;
    }
    for (const c of checks) {
      if (c.status === "pass") n.passed++;
      else if (c.status === "fail") n.failed++;
      else n.pending++;
    }
    // A suite that reported but whose VM run failed (e.g. the guest hung
    // while shutting down) must not read as all green.
    if (!r.pass && checks.every((c) => c.status !== "fail")) n.failed++;
  }
  return n;
}

/** What the JUnit document needs of one run. */
export interface JUnitRun extends
  Pick<
    VmRunResult,
    | "vm"
    | "arch"
    | "kernel"
    | "pass"
    | "reason"
    | "suite"
    | "lastLines"
    | "dmesg"
  > {
  timeSeconds: number;
  /** The guests' own JUnit files (validate.xml, kernel-tests.xml). */
  guestXml: string[];
}

/**
 * The JUnit document: per run a suite with a `run` case (boot to power
 * off) and a case per check (pending ones skipped), then the guests' own
 * suites with the VM's name in front.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matrixJUnit } from "./suite_report.ts";
 * const xml = matrixJUnit([{ vm: "default", arch: "arm64", kernel: "6.12", pass: true, reason: "ok",
 *   timeSeconds: 90, lastLines: [], dmesg: [], guestXml: [],
 *   suite: { tool: "streamprof guest suite", kernel: "6.12", arch: "aarch64", duration: "5s", pass: true,
 *     checks: [{ id: "validate", status: "pass", summary: "0 drops", seconds: 14 },
 *       { id: "profile", status: "pending", summary: "no functions yet", seconds: 5 }] } }]);
 * assert.match(xml, /<testsuite name="default \(arm64 \/ 6\.12\)" tests="3" failures="0" errors="0" skipped="1"/);
 * ```
 */
export function matrixJUnit(runs: JUnitRun[]): string {
  const suites: string[] = [];
  for (const r of runs) {
    const name = `${r.vm} (${r.arch} / ${r.kernel})`;
    const output = [...r.lastLines, ...r.dmesg].join("\n") || undefined;
    const cases: JUnitCase[] = [{
      name: "run",
      classname: `streamprof-vm.${r.vm}`,
      timeSeconds: r.timeSeconds,
      failure: r.pass ? undefined : r.reason,
      systemOut: r.pass ? undefined : output,
    }];
    for (const c of r.suite?.checks ?? []) {
      cases.push({
        name: CHECK_TITLES[c.id] ?? c.id,
        classname: `streamprof-vm.${r.vm}`,
        timeSeconds: c.seconds,
        failure: c.status === "fail" ? c.summary : undefined,
        skipped: c.status === "pending" ? c.summary : undefined,
        systemOut: c.status === "pass"
          ? undefined
          : [...(c.outputTail ?? []), ...(c.status === "fail" ? r.dmesg : [])]
            .join("\n") || undefined,
      });
    }
    suites.push(junitSuite(name, cases));
    for (const xml of r.guestXml) {
      suites.push(...guestSuites(xml, r.vm).map((s) => "  " + s));
    }
  }
  return junitDocument(suites);
}
