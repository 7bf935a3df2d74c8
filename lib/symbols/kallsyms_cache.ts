/**
 * The core-kernel section of /proc/kallsyms, saved once per boot.
 *
 * Reading /proc/kallsyms costs ~30 ms of CPU here however it is read (the
 * kernel formats 122k lines for every reader: kallsyms_expand_symbol and
 * vsnprintf), the largest piece of a short `profile` after the index made the
 * parse cheap. The core kernel's symbols cannot change while the system runs:
 * they are built into the image, and KASLR places it once at boot. So the
 * core section is saved under the boot's id (/proc/sys/kernel/random/boot_id)
 * and read back from that file, mapped into memory (cache_files.ts).
 *
 * It is only used after a check against the live file: the first lines of
 * /proc/kallsyms (one read, which makes the kernel format one page, ~100
 * lines) must equal the saved text's. That catches a text saved under other
 * rules (kptr_restrict now hides addresses: the live lines are zeros) and
 * any file that is not what this module wrote. Module, BPF and other
 * symbols, which do change, are never cached: a lookup outside the core's
 * range reads the live file (kernel_symbols.ts).
 *
 * The file holds kernel addresses, as perf's ~/.debug copies of kallsyms
 * do, so it is written for its owner only (cache_files.ts). A file
 * cut short at a line passes the check but ends before its last symbols;
 * lookups at or past its last function go to the live file (where a saved
 * section's last function ends depends on what follows it), so a cut file
 * costs time, never a wrong name.
 *
 * @module
 */

import { mapCacheFile, writeCacheFile } from "./cache_files.ts";

/** Bytes of the live file compared with the saved text. */
const HEAD_BYTES = 4096;

/** Where to look, and the files that identify the boot and the live text. */
export interface KallsymsCachePaths {
  /** The folder of saved texts (one file per boot id). */
  dir: string;
  /** The live file (/proc/kallsyms). */
  kallsyms: string;
  /** The boot's id (/proc/sys/kernel/random/boot_id). */
  bootId: string;
}

function bootIdOf(path: string): string | undefined {
  try {
    const id = Deno.readTextFileSync(path).trim();
    return /^[0-9a-f-]{8,64}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The complete lines of the first page of the live file. */
function liveHead(path: string): Uint8Array | undefined {
  let f: Deno.FsFile | undefined;
  try {
    f = Deno.openSync(path);
    const buf = new Uint8Array(HEAD_BYTES);
    let n = 0;
    while (n < buf.length) {
      const r = f.readSync(buf.subarray(n));
      if (r === null || r === 0) break;
      n += r;
    }
    const end = buf.subarray(0, n).lastIndexOf(10) + 1;
    return end > 0 ? buf.subarray(0, end) : undefined;
  } catch {
    return undefined;
  } finally {
    f?.close();
  }
}

/**
 * The saved core section for this boot, if there is one and the live file
 * starts with the same lines; else undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { readCachedCore, saveCachedCore } from "./kallsyms_cache.ts";
 * const dir = Deno.makeTempDirSync();
 * const core = new TextEncoder().encode("ffffffff81000000 T _text\n");
 * Deno.writeFileSync(`${dir}/live`, core);
 * Deno.writeTextFileSync(`${dir}/boot_id`, "0123abcd-0000-4000-8000-000000000000\n");
 * const paths = { dir: `${dir}/cache`, kallsyms: `${dir}/live`, bootId: `${dir}/boot_id` };
 * assert.equal(readCachedCore(paths), undefined); // nothing saved yet
 * saveCachedCore(paths, core);
 * assert.deepEqual(readCachedCore(paths), core);
 * // The live text changed (say, kptr_restrict now hides addresses): unused.
 * Deno.writeTextFileSync(`${dir}/live`, "0000000000000000 T _text\n");
 * assert.equal(readCachedCore(paths), undefined);
 * ```
 */
export function readCachedCore(
  paths: KallsymsCachePaths,
): Uint8Array | undefined {
  const id = bootIdOf(paths.bootId);
  if (!id) return undefined;
  const saved = mapCacheFile(`${paths.dir}/${id}`);
  if (!saved) return undefined;
  const head = liveHead(paths.kallsyms);
  if (!head || saved.length < head.length) return undefined;
  for (let i = 0; i < head.length; i++) {
    if (saved[i] !== head[i]) return undefined;
  }
  return saved;
}

/**
 * Saves the core section for this boot (atomically: a temporary file
 * renamed into place), and removes the texts of other boots. A cache that
 * cannot be written is no error: the next run reads the live file again.
 * Returns whether it was saved.
 */
export function saveCachedCore(
  paths: KallsymsCachePaths,
  core: Uint8Array,
): boolean {
  const id = bootIdOf(paths.bootId);
  if (!id) return false;
  // One boot's text at a time: the others' are of no more use.
  return writeCacheFile(
    paths.dir,
    id,
    core,
    (names) => names.filter((n) => n !== id),
  );
}
