/**
 * The results table of `test:vm`: one row per metric, one column per VM
 * (and the host). Rows come from the runner (verdict, kernel, times) and
 * from whatever JSON the guest wrote (`validate.json`), flattened to
 * `path = value` leaves, so the table shows what is present without knowing
 * the report's shape.
 *
 * @module
 */
import { formatTable } from "../report/table.ts";

/** One column's input. */
export interface ResultColumn {
  /** VM name, or `host`. */
  vm: string;
  arch: string;
  kernel: string;
  /** Parsed JSON the guest wrote, if any. */
  json?: unknown;
  /** Runner facts shown above the JSON metrics (label → value). */
  facts?: Record<string, string | number | boolean | undefined>;
}

/** Keys that name an element of a list of objects (first found wins). */
const ID_KEYS = ["name", "label", "id", "requestedHz", "rate", "hz", "vm"];

/** One JSON leaf as a cell: numbers to 3 decimals, the rest as text. */
function formatLeaf(v: unknown): string {
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return String(Math.round(v * 1000) / 1000);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === null) return "null";
  return String(v);
}

/**
 * Flattens JSON into ordered `path → value` leaves. Objects use dotted keys;
 * lists of objects use `[id]` from the first of `name`, `label`, `id`,
 * `requestedHz`, `rate`, `hz`, `vm` present, else the index; lists of
 * scalars are joined with ", ".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flattenJson } from "./results_table.ts";
 * assert.deepEqual(
 *   [...flattenJson({ pass: true, rows: [{ requestedHz: 1000, dropped: 0 }] })],
 *   [["pass", "true"], ["rows[1000].requestedHz", "1000"], ["rows[1000].dropped", "0"]],
 * );
 * ```
 */
export function flattenJson(json: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) {
      if (v.every((x) => typeof x !== "object" || x === null)) {
        out.set(path, v.map(formatLeaf).join(", "));
        return;
      }
      v.forEach((x, i) => {
        let id = String(i);
        if (x && typeof x === "object" && !Array.isArray(x)) {
          const k = ID_KEYS.find((k) =>
            k in x &&
            ["string", "number"].includes(
              typeof (x as Record<string, unknown>)[k],
            )
          );
          if (k) id = String((x as Record<string, unknown>)[k]);
        }
        walk(x, `${path}[${id}]`);
      });
      return;
    }
    if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        walk(x, path ? `${path}.${k}` : k);
      }
      return;
    }
    out.set(path || "value", formatLeaf(v));
  };
  walk(json, "");
  return out;
}

/**
 * Column heading: `name (arch / kernel)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { columnLabel } from "./results_table.ts";
 * assert.equal(
 *   columnLabel({ vm: "default", arch: "arm64", kernel: "6.12.117+deb13-arm64" }),
 *   "default (arm64 / 6.12.117+deb13-arm64)",
 * );
 * ```
 */
export function columnLabel(c: ResultColumn): string {
  return `${c.vm} (${c.arch} / ${c.kernel})`;
}

/** A table as data: heading row and metric rows. */
export interface ResultsTable {
  header: string[];
  rows: string[][];
}

/**
 * Builds the table: runner facts first (in the order of the first column
 * that has them), then every JSON leaf present in any column; `-` where a
 * column lacks a metric.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resultsTable } from "./results_table.ts";
 * const t = resultsTable([
 *   { vm: "default", arch: "arm64", kernel: "6.12", facts: { result: "PASS" }, json: { ringbuf: 1 } },
 *   { vm: "host", arch: "x86_64", kernel: "6.18", facts: { result: "PASS" } },
 * ]);
 * assert.deepEqual(t.rows, [["result", "PASS", "PASS"], ["ringbuf", "1", "-"]]);
 * ```
 */
export function resultsTable(columns: ResultColumn[]): ResultsTable {
  const flat = columns.map((c) =>
    c.json === undefined ? new Map() : flattenJson(c.json)
  );
  const factKeys: string[] = [];
  for (const c of columns) {
    for (const k of Object.keys(c.facts ?? {})) {
      if (!factKeys.includes(k)) factKeys.push(k);
    }
  }
  const metricKeys: string[] = [];
  const seen = new Set<string>();
  for (const f of flat) {
    for (const k of f.keys()) {
      if (!seen.has(k)) {
        seen.add(k);
        metricKeys.push(k);
      }
    }
  }
  const rows: string[][] = [];
  for (const k of factKeys) {
    rows.push([
      k,
      ...columns.map((c) => {
        const v = c.facts?.[k];
        return v === undefined ? "-" : formatLeaf(v);
      }),
    ]);
  }
  for (const k of metricKeys) {
    rows.push([k, ...flat.map((f) => f.get(k) ?? "-")]);
  }
  return { header: ["metric", ...columns.map(columnLabel)], rows };
}

/**
 * Renders the results table as text with {@link formatTable} (the one plain
 * table formatter), each cell cut to `maxCell` characters with an ellipsis
 * so that long reasons do not make a column as wide as the terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderResultsTable } from "./results_table.ts";
 * assert.equal(
 *   renderResultsTable({ header: ["metric", "a"], rows: [["x", "1234567"]] }, 6),
 *   "metric | a\n-------|-------\nx      | 12345…",
 * );
 * ```
 */
export function renderResultsTable(t: ResultsTable, maxCell = 48): string {
  const cut = (s: string) =>
    s.length > maxCell ? s.slice(0, maxCell - 1) + "…" : s;
  return formatTable(t.header.map(cut), t.rows.map((r) => r.map(cut)));
}
