/**
 * Built symbol tables of ELF files, saved by build id (as perf keeps its
 * ~/.debug cache by build id).
 *
 * Building libc's table from its debug file (7,030 functions: find and read
 * the debug file, sort, reduce aliases) was the largest piece of a short
 * `profile` after kallsyms: ~15 ms of cold JavaScript, every run. A build
 * id names the file's contents, so the table built for it is the same every
 * time: it is saved once (SymbolTable.toBytes) and mapped on later runs.
 *
 * Only tables worth it are saved: from a `.symtab` (the file's own or a debug
 * file's) with at least {@link MIN_SAVED} symbols. A `.dynsym`-only table is
 * never saved, so that a debug file installed later is found. A table made
 * from a debug file records that file's path, size and time, and is used only
 * while that file is unchanged; otherwise the search runs as before.
 *
 * @module
 */
import { mapCacheFile, writeCacheFile } from "./cache_files.ts";
import { SymbolTable } from "./symbol_table.ts";

/** Symbols a table needs to be worth saving. */
export const MIN_SAVED = 1000;
/** Tables kept; past this the oldest are removed. */
export const MAX_SAVED = 256;

/** The sources of tables worth saving: a `.symtab`, own or a debug file's. */
const SAVED_SOURCES = ["symtab", "debug-build-id", "debug-debuglink"] as const;

/** What a saved table says about where it came from. */
export interface SavedTableInfo {
  source: typeof SAVED_SOURCES[number];
  /** The debug file the table was built from, if any. */
  debugPath?: string;
  debugSize?: number;
  debugMtimeMs?: number;
}

/** A file name of its build id alone: hex, as the ELF note gives it. */
function fileOf(buildId: string): string | undefined {
  return /^[0-9a-f]{8,128}$/.test(buildId) ? `${buildId}.symtab` : undefined;
}

function statOf(path: string): { size: number; mtimeMs: number } | undefined {
  try {
    const st = Deno.statSync(path);
    return { size: st.size, mtimeMs: st.mtime?.getTime() ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * The table saved for `buildId`, if there is one and the debug file it was
 * built from (if any) is unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { loadTable, saveTable } from "./symbol_cache.ts";
 * import { SymbolTable } from "./symbol_table.ts";
 * const dir = `${Deno.makeTempDirSync()}/symbols`;
 * const table = SymbolTable.fromSymbols(
 *   Array.from({ length: 1000 }, (_, i) => ({ start: 16 * i, size: 16, name: `f${i}` })),
 * );
 * assert.ok(saveTable(dir, "0123abcd", table, { source: "symtab" }));
 * const back = loadTable(dir, "0123abcd")!;
 * assert.strictEqual(back.info.source, "symtab");
 * assert.strictEqual(back.table.lookup(16 * 7 + 3)?.name, "f7");
 * assert.strictEqual(loadTable(dir, "4567ef01"), undefined);
 * ```
 */
export function loadTable(
  dir: string,
  buildId: string,
): { table: SymbolTable; info: SavedTableInfo } | undefined {
  const name = fileOf(buildId);
  if (!name) return undefined;
  const b = mapCacheFile(`${dir}/${name}`);
  if (!b || b.length < 8) return undefined;
  // [u32 length][JSON info][padding to 8][the table's bytes]
  const infoLength = new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  const tableAt = Math.ceil((4 + infoLength) / 8) * 8;
  if (tableAt > b.length) return undefined;
  let info: SavedTableInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(b.subarray(4, 4 + infoLength)));
  } catch {
    return undefined;
  }
  if (!(SAVED_SOURCES as readonly string[]).includes(info.source)) {
    return undefined;
  }
  if (info.debugPath !== undefined) {
    const st = statOf(info.debugPath);
    if (
      !st || st.size !== info.debugSize || st.mtimeMs !== info.debugMtimeMs
    ) return undefined;
  }
  const table = SymbolTable.fromBytes(b.subarray(tableAt));
  return table ? { table, info } : undefined;
}

/**
 * Saves `table` for `buildId` if it is worth it (see the module doc);
 * returns whether it was saved. The oldest tables past {@link MAX_SAVED}
 * are removed.
 */
export function saveTable(
  dir: string,
  buildId: string,
  table: SymbolTable,
  info: { source: string; debugPath?: string },
): boolean {
  const name = fileOf(buildId);
  if (!name || table.length < MIN_SAVED) return false;
  if (!(SAVED_SOURCES as readonly string[]).includes(info.source)) {
    return false;
  }
  const saved: SavedTableInfo = {
    source: info.source as SavedTableInfo["source"],
  };
  if (info.debugPath !== undefined) {
    const st = statOf(info.debugPath);
    if (!st) return false;
    saved.debugPath = info.debugPath;
    saved.debugSize = st.size;
    saved.debugMtimeMs = st.mtimeMs;
  }
  const json = new TextEncoder().encode(JSON.stringify(saved));
  const tableAt = Math.ceil((4 + json.length) / 8) * 8;
  const bytes = table.toBytes();
  const out = new Uint8Array(tableAt + bytes.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(bytes, tableAt);
  return writeCacheFile(dir, name, out, (names) => {
    if (names.length < MAX_SAVED) return [];
    const byAge = names.map((n) => ({
      n,
      t: Deno.statSync(`${dir}/${n}`).mtime?.getTime() ?? 0,
    })).sort((a, b) => a.t - b.t);
    return byAge.slice(0, names.length - MAX_SAVED + 1).map((e) => e.n);
  });
}
