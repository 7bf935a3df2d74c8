/**
 * Rendering validation reports in the shape of the original methodology's
 * summary: one row per metric, one column per environment (host, VMs), and
 * JUnit XML beside it.
 *
 * @example
 * ```ts ignore
 * console.log(validationTable([{ label: "host", report }]));
 * ```
 * @module
 */
import { formatMB } from "../common/format.ts";
import { type JUnitCase, junitXml } from "../report/junit.ts";
import { formatTable } from "../report/table.ts";
import type { ValidationReport, ValidationRow } from "./run_validation.ts";

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
      return `${r.pass ? "PASS" : "FAIL"} (${int(r.dropped)} dropped of ${
        int(r.produced)
      })`;
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
  metrics.push(["memory: heap+WASM+ring < 20 MB", (rows) => {
    if (rows.length === 0) return "-";
    const worst = rows.reduce((a, b) =>
      a.consumerMemoryBytes >= b.consumerMemoryBytes ? a : b
    );
    const rss = Math.max(...rows.map((r) => r.rssBytes));
    return `${worst.consumerMemoryBytes < 20e6 ? "PASS" : "FAIL"} ${
      formatMB(worst.consumerMemoryBytes)
    } (RSS ${formatMB(rss)})`;
  }]);
  metrics.push([
    "reconciliation: exact",
    (rows) =>
      rows.length && rows.every((r) => r.reconciliation.balanced)
        ? "PASS (every row)"
        : rows.length
        ? "FAIL"
        : "-",
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
      name: `${c.label}: memory heap+WASM+ring under 20 MB`,
      failure: worst < c.report.memoryBoundBytes ? undefined : `${worst} bytes`,
    });
    if (c.report.interrupted) {
      cases.push({
        name: `${c.label}: complete`,
        failure: "interrupted before every rate ran",
      });
    }
  }
  return junitXml(suite, cases);
}
