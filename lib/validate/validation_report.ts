/**
 * Rendering validation reports in the shape of the original methodology's
 * summary: one row per metric, one column per environment (host, VMs), and
 * JUnit XML beside it.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { validationTable } from "./validation_report.ts";
 * // A column whose environment could not run says why in every row.
 * const t = validationTable([{ label: "vm", error: "boot timed out" }]);
 * assert.match(t, /memory: heap\+WASM\+ring < 20 MB +\| not run: boot timed out/);
 * ```
 * @module
 */
import { formatMB } from "../common/format.ts";
import { type JUnitCase, junitXml } from "../report/junit.ts";
import { formatTable } from "../report/table.ts";
import {
  MEMORY_BOUND_BYTES,
  type ValidationReport,
  type ValidationRow,
} from "./run_validation.ts";

/** One column of the summary. */
export interface ValidationColumn {
  /** Column heading, e.g. "host x86_64 / 6.18.44". */
  label: string;
  /** The report, or undefined if the environment could not run. */
  report?: ValidationReport;
  /** Why there is no report. */
  error?: string;
}

/** "1 kHz", "100 Hz", "10 kHz". */
export function formatHz(hz: number): string {
  return hz >= 1000 && hz % 1000 === 0 ? `${hz / 1000} kHz` : `${hz} Hz`;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");

/** Metric rows x environment columns as text. */
export function validationTable(columns: ValidationColumn[]): string {
  const rates = [
    ...new Set(
      columns.flatMap((c) => c.report?.rows.map((r) => r.requestedHz) ?? []),
    ),
  ].sort((a, b) => a - b);
  const cell = (
    c: ValidationColumn,
    f: (rows: ValidationRow[]) => string,
  ) => c.report ? f(c.report.rows) : `not run${c.error ? `: ${c.error}` : ""}`;
  const byRate = (rows: ValidationRow[], hz: number) =>
    rows.find((r) => r.requestedHz === hz);
  const metrics: [string, (rows: ValidationRow[]) => string][] = [];
  for (const hz of rates) {
    metrics.push([`${formatHz(hz)} sampling: no drops`, (rows) => {
      const r = byRate(rows, hz);
      if (!r) return "-";
      if (r.refused) return `FAIL (refused: ${r.refused})`;
      return `${r.pass ? "PASS" : "FAIL"} (${int(r.dropped)} dropped of ${
        int(r.produced)
      }${r.interrupted ? "; interrupted" : ""})`;
    }]);
    metrics.push([`${formatHz(hz)}: stacks lost`, (rows) => {
      const r = byRate(rows, hz);
      const st = r?.reconciliation.stacks;
      if (!r || r.refused) return "-";
      if (!st) return "not collected";
      return `${int(st.user.lost + st.kernel.lost)} of ${
        int(2 * st.user.samples)
      } (${int(st.user.truncated + st.kernel.truncated)} truncated, kept)`;
    }]);
    metrics.push([`${formatHz(hz)}: achieved rate`, (rows) => {
      const r = byRate(rows, hz);
      return r ? `${int(r.achievedPerCpuSecond)}/CPU-s` : "-";
    }]);
    metrics.push([`${formatHz(hz)}: events per 10 s`, (rows) => {
      const r = byRate(rows, hz);
      return r ? int(r.eventsPer10s) : "-";
    }]);
    metrics.push([`${formatHz(hz)}: consumer CPU`, (rows) => {
      const r = byRate(rows, hz);
      return r
        ? `${r.consumerCpuPercent.toFixed(2)}% (${
          int(r.consumerCpuNsPerEvent)
        } ns/event)`
        : "-";
    }]);
  }
  metrics.push([
    `memory: heap+WASM+ring < ${MEMORY_BOUND_BYTES / 1e6} MB`,
    (rows) => {
      const ran = rows.filter((r) => !r.refused);
      if (ran.length === 0) return "-";
      const worst = ran.reduce((a, b) =>
        a.consumerMemoryBytes >= b.consumerMemoryBytes ? a : b
      );
      const rss = Math.max(...ran.map((r) => r.rssBytes));
      return `${
        worst.consumerMemoryBytes < MEMORY_BOUND_BYTES ? "PASS" : "FAIL"
      } ${formatMB(worst.consumerMemoryBytes)} (RSS ${formatMB(rss)})`;
    },
  ]);
  metrics.push([
    "reconciliation: exact (events and stacks)",
    (rows) => {
      const ran = rows.filter((r) => !r.refused);
      return ran.length && ran.every((r) => r.reconciliation.balanced)
        ? `PASS (every row${ran.length < rows.length ? " that ran" : ""})`
        : ran.length
        ? "FAIL"
        : "-";
    },
  ]);
  return formatTable(
    ["metric", ...columns.map((c) => c.label)],
    metrics.map(([name, f]) => [name, ...columns.map((c) => cell(c, f))]),
  );
}

/** JUnit XML with a test case per environment and rate, plus memory. */
export function validationJUnit(
  suite: string,
  columns: ValidationColumn[],
): string {
  const cases: JUnitCase[] = [];
  for (const c of columns) {
    if (!c.report) {
      cases.push({ name: `${c.label}: run`, failure: c.error ?? "not run" });
      continue;
    }
    for (const r of c.report.rows) {
      cases.push({
        name: `${c.label}: ${
          formatHz(r.requestedHz)
        } sampling, no drops, exact reconciliation`,
        timeSeconds: r.durationS,
        failure: r.pass ? undefined : r.problems.join("; "),
        systemOut: r.reconciliation.line,
      });
    }
    const worst = Math.max(
      0,
      ...c.report.rows.map((r) => r.consumerMemoryBytes),
    );
    cases.push({
      name: `${c.label}: memory heap+WASM+ring under ${
        c.report.memoryBoundBytes / 1e6
      } MB`,
      failure: worst < c.report.memoryBoundBytes ? undefined : `${worst} bytes`,
    });
    if (c.report.interrupted || c.report.aborted) {
      cases.push({
        name: `${c.label}: complete`,
        failure: c.report.aborted
          ? `ended by an environment error: ${c.report.aborted}`
          : "interrupted by a stop signal: an interrupted run never passes",
      });
    }
  }
  return junitXml(suite, cases);
}
