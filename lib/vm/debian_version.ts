/**
 * Debian version ordering, as dpkg defines it (deb-version(7)):
 * `[epoch:]upstream[-revision]`; epochs compare as numbers; the other two
 * parts alternate runs of non-digits (compared character by character,
 * letters before other characters, `~` before everything, even the end)
 * and runs of digits (compared as numbers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareDebianVersions } from "./debian_version.ts";
 * assert.ok(compareDebianVersions("6.1.192-3", "6.1.192-2") > 0);
 * assert.ok(compareDebianVersions("6.12.117-1~deb12u1", "6.12.117-1") < 0);
 * assert.ok(compareDebianVersions("1:1.2", "9.9") > 0);
 * ```
 * @module
 */

/** The three parts of a Debian version. */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/**
 * Splits a version into epoch, upstream version and Debian revision.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDebianVersion } from "./debian_version.ts";
 * assert.deepEqual(parseDebianVersion("1:1.35.0-4+deb12u1"), { epoch: 1, upstream: "1.35.0", revision: "4+deb12u1" });
 * assert.deepEqual(parseDebianVersion("2.36"), { epoch: 0, upstream: "2.36", revision: "" });
 * ```
 */
export function parseDebianVersion(version: string): DebianVersion {
  const v = version.trim();
  const colon = v.indexOf(":");
  const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
  if (!Number.isInteger(epoch) || epoch < 0) {
    throw new Error(`bad epoch in Debian version "${version}"`);
  }
  const rest = colon >= 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf("-");
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: "" };
}

/** dpkg's weight of one character in a non-digit run. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === "~") return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** Compares one part (upstream or revision) the dpkg way. */
function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit run.
    while (
      (i < a.length && !/\d/.test(a[i])) || (j < b.length && !/\d/.test(b[j]))
    ) {
      const ca = i < a.length && !/\d/.test(a[i]) ? a[i] : undefined;
      const cb = j < b.length && !/\d/.test(b[j]) ? b[j] : undefined;
      const d = order(ca) - order(cb);
      if (d !== 0) return d;
      if (ca !== undefined) i++;
      if (cb !== undefined) j++;
    }
    // Digit run, compared as a number (leading zeros ignored).
    let da = "";
    let db = "";
    while (i < a.length && /\d/.test(a[i])) da += a[i++];
    while (j < b.length && /\d/.test(b[j])) db += b[j++];
    da = da.replace(/^0+/, "");
    db = db.replace(/^0+/, "");
    if (da.length !== db.length) return da.length - db.length;
    if (da !== db) return da < db ? -1 : 1;
  }
  return 0;
}

/**
 * Negative, zero or positive as `a` sorts before, equal to or after `b`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareDebianVersions } from "./debian_version.ts";
 * const sorted = ["5.10.223-1", "5.10.259-1", "5.10.218-1"].sort(compareDebianVersions);
 * assert.deepEqual(sorted, ["5.10.218-1", "5.10.223-1", "5.10.259-1"]);
 * assert.equal(compareDebianVersions("1.0", "1.0-0"), 0);
 * ```
 */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return comparePart(x.upstream, y.upstream) ||
    comparePart(x.revision, y.revision);
}
