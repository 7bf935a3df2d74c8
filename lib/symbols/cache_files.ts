/**
 * Files of the symbol caches (kallsyms_cache.ts, symbol_cache.ts): mapped
 * when read, written whole to a temporary file and renamed into place.
 *
 * They are mapped, not copied (a saved kallsyms core is 5 MB), which is safe
 * only because no file here is ever rewritten in place: a file cut shorter
 * under a mapping makes a touch past its new end fatal (SIGBUS). Writers
 * rename a complete file over the old one, and a mapping keeps the old file's
 * pages; readers map each file once per process (by inode, size and time).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { mapCacheFile, writeCacheFile } from "./cache_files.ts";
 * const dir = `${Deno.makeTempDirSync()}/cache`;
 * assert.ok(writeCacheFile(dir, "a", new TextEncoder().encode("saved")));
 * assert.equal(new TextDecoder().decode(mapCacheFile(`${dir}/a`)), "saved");
 * assert.equal(mapCacheFile(`${dir}/none`), undefined);
 * ```
 * @module
 */
import { mapFileReadOnly } from "./raw_fd.ts";

/** Mappings made, by file identity: one per file for the process's life. */
const mapped = new Map<string, Uint8Array>();

/** The file mapped read-only, or undefined if it cannot be. */
export function mapCacheFile(path: string): Uint8Array | undefined {
  try {
    const st = Deno.statSync(path);
    const key = `${path}\0${st.ino}\0${st.size}\0${st.mtime?.getTime()}`;
    let bytes = mapped.get(key);
    if (!bytes) mapped.set(key, bytes = mapFileReadOnly(path));
    return bytes;
  } catch {
    return undefined;
  }
}

/**
 * Writes `data` as the file `name` in `dir` (made 0700; the file 0600: the
 * caches hold kernel addresses), atomically, after removing the files that
 * `prune` names among those there. A cache that cannot be written is no
 * error: returns false, and the next run does the work again.
 */
export function writeCacheFile(
  dir: string,
  name: string,
  data: Uint8Array,
  prune: (names: string[]) => string[] = () => [],
): boolean {
  const tmp = `${dir}/.${name}.tmp-${Deno.pid}`;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const names: string[] = [];
    for (const e of Deno.readDirSync(dir)) {
      if (e.isFile && !e.name.startsWith(".")) names.push(e.name);
    }
    for (const old of prune(names)) Deno.removeSync(`${dir}/${old}`);
    Deno.writeFileSync(tmp, data, { mode: 0o600 });
    Deno.renameSync(tmp, `${dir}/${name}`);
    return true;
  } catch {
    try {
      Deno.removeSync(tmp);
    } catch {
      // Never created.
    }
    return false;
  }
}
