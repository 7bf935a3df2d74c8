/**
 * /proc/PID/maps lines, parsed.
 *
 * Addresses are kept both as bigint (for the API and map_files names) and as
 * numbers: user-space addresses are below 2^47, so the numbers are exact and
 * lookups use them.
 *
 * @module
 */

/** One line of /proc/PID/maps. */
export interface MapEntry {
  /** First address, as a number (exact: user space is below 2^47). */
  start: number;
  /** One past the last address. */
  end: number;
  /** The same two as bigint. */
  startBig: bigint;
  endBig: bigint;
  /** "r-xp" etc. */
  perms: string;
  /** File offset of `start`. */
  offset: number;
  /** Device "fe:01" and inode of the file (0 for anonymous mappings). */
  dev: string;
  inode: number;
  /** The path as the process sees it, without " (deleted)"; "" if none. */
  path: string;
  /** The kernel marked the file deleted. */
  deleted: boolean;
  /** The hex "start-end" that names this mapping under map_files/. */
  range: string;
}

/**
 * Parses the text of /proc/PID/maps; malformed lines are skipped and
 * counted.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseProcMaps } from "./proc_maps.ts";
 * const { entries, malformed } = parseProcMaps(
 *   "55d0c0a00000-55d0c0a01000 r-xp 00001000 fe:01 1234   /opt/my app (deleted)\n" +
 *     "7ffd1e9f0000-7ffd1e9f2000 r-xp 00000000 00:00 0                          [vdso]\n" +
 *     "garbage\n",
 * );
 * assert.strictEqual(malformed, 1);
 * assert.strictEqual(entries[0].path, "/opt/my app");
 * assert.strictEqual(entries[0].deleted, true);
 * assert.strictEqual(entries[0].offset, 0x1000);
 * assert.strictEqual(entries[1].path, "[vdso]");
 * assert.strictEqual(entries[1].startBig, 0x7ffd1e9f0000n);
 * ```
 */
export function parseProcMaps(
  text: string,
): { entries: MapEntry[]; malformed: number } {
  const entries: MapEntry[] = [];
  let malformed = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const e = parseLine(line);
    if (e) entries.push(e);
    else malformed++;
  }
  return { entries, malformed };
}

const LINE =
  /^([0-9a-f]+)-([0-9a-f]+) ([-rwxsp]{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/;

function parseLine(line: string): MapEntry | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  let path = m[7];
  let deleted = false;
  if (path.endsWith(" (deleted)")) {
    deleted = true;
    path = path.slice(0, -" (deleted)".length);
  }
  const startBig = BigInt("0x" + m[1]);
  const endBig = BigInt("0x" + m[2]);
  return {
    start: Number(startBig),
    end: Number(endBig),
    startBig,
    endBig,
    perms: m[3],
    offset: parseInt(m[4], 16),
    dev: m[5],
    inode: Number(m[6]),
    path,
    deleted,
    range: `${m[1]}-${m[2]}`,
  };
}

/**
 * Index of the entry containing `addr` in entries sorted by start (as the
 * kernel lists them), or -1.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { findMapping, parseProcMaps } from "./proc_maps.ts";
 * const { entries } = parseProcMaps(
 *   "1000-2000 r-xp 00000000 00:00 0 \n3000-4000 r-xp 00000000 00:00 0 \n",
 * );
 * assert.strictEqual(findMapping(entries, 0x3fff), 1);
 * assert.strictEqual(findMapping(entries, 0x2000), -1);
 * ```
 */
export function findMapping(entries: MapEntry[], addr: number): number {
  let lo = 0, hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid];
    if (addr < e.start) hi = mid - 1;
    else if (addr >= e.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}
