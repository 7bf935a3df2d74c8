/**
 * Number and byte formatting for every report, so that "15.7 MB" means the
 * same thing (10^6 bytes) wherever it is printed, and binary sizes say MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatMB, formatMiB } from "./format.ts";
 * assert.equal(formatMB(15_700_000), "15.7 MB");
 * assert.equal(formatMiB(8 << 20), "8.0 MiB");
 * ```
 * @module
 */

/**
 * Bytes in MB (10^6) with `digits` decimals (default 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatMB } from "./format.ts";
 * assert.equal(formatMB(1_250_000, 2), "1.25 MB");
 * ```
 */
export function formatMB(bytes: number, digits = 1): string {
  return `${(bytes / 1e6).toFixed(digits)} MB`;
}

/**
 * Bytes in MiB (2^20) with `digits` decimals (default 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatMiB } from "./format.ts";
 * assert.equal(formatMiB(1 << 19), "0.5 MiB");
 * ```
 */
export function formatMiB(bytes: number, digits = 1): string {
  return `${(bytes / 2 ** 20).toFixed(digits)} MiB`;
}

/**
 * A byte count in the largest binary unit that keeps it >= 1 (B, KiB, MiB,
 * GiB), one decimal: for sizes of files and caches of any magnitude.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatBytes } from "./format.ts";
 * assert.equal(formatBytes(512), "512 B");
 * assert.equal(formatBytes(70_582_272), "67.3 MiB");
 * ```
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * A count with thousands separators ("199,869"), as the README tables show.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatCount } from "./format.ts";
 * assert.equal(formatCount(199869), "199,869");
 * ```
 */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A share as a percentage with `digits` decimals; 0 when the whole is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { formatPercent } from "./format.ts";
 * assert.equal(formatPercent(1, 3), "33.3%");
 * assert.equal(formatPercent(1, 0), "0.0%");
 * ```
 */
export function formatPercent(part: number, whole: number, digits = 1): string {
  return `${(whole ? (100 * part) / whole : 0).toFixed(digits)}%`;
}
