/**
 * Plain-text tables for terminal reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatTable } from "./table.ts";
 * assert.equal(
 *   formatTable(["metric", "host"], [["drops", "0"]]),
 *   "metric | host\n-------|-----\ndrops  | 0",
 * );
 * ```
 * @module
 */

/** Formats rows under a header, columns padded, separated by " | ". */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ").trimEnd();
  return [
    line(header),
    widths.map((w) => "-".repeat(w)).join("-|-"),
    ...rows.map(line),
  ].join("\n");
}
