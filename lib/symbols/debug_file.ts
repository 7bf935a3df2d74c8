/**
 * Finding the separate debug file of a stripped binary, the way gdb and
 * elfutils do: by build id under `<debugdir>/.build-id/xx/yyyy.debug`, then
 * by `.gnu_debuglink` next to the binary, in its `.debug/` folder, and under
 * `<debugdir>/<binary's folder>/`. A debuglink candidate is used only if its
 * CRC32 matches (and its build id, when both files have one), so a stale or
 * foreign debug file never names functions.
 *
 * Paths are tried under each of `roots`: the process's own root (for a
 * process in another mount namespace) and the host's.
 *
 * @module
 */
import { crc32 } from "./crc32.ts";
import { ElfFile } from "./elf_file.ts";
import { closeFd, fdSource, pread, tryOpenFd } from "./raw_fd.ts";

/** A debug file that was found, open on `fd` (the caller closes it). */
export interface FoundDebugFile {
  /** The path it was opened at (under a root prefix, as tried). */
  path: string;
  fd: number;
  elf: ElfFile;
  /** How it was found. */
  via: "build-id" | "debuglink";
}

/** Where to look and what was rejected on the way (for stats and tests). */
export interface DebugSearch {
  /** Debug directories, e.g. ["/usr/lib/debug"]. */
  debugDirs: string[];
  /** Path prefixes to try each candidate under: "" is the host's root. */
  roots: string[];
  /** Incremented for each candidate that existed but did not match. */
  rejected?: { crc: number; buildId: number };
}

/**
 * CRC32 of a whole file, read in 1 MiB pieces (what .gnu_debuglink holds).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { fileCrc32 } from "./debug_file.ts";
 * import { closeFd, openFd } from "./raw_fd.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "hello");
 * const fd = openFd(path);
 * assert.strictEqual(fileCrc32(fd), 0x3610a686);
 * closeFd(fd);
 * Deno.removeSync(path);
 * ```
 */
export function fileCrc32(fd: number): number {
  const buf = new Uint8Array(1 << 20);
  let crc = 0, at = 0;
  for (;;) {
    const n = pread(fd, buf, at);
    if (n <= 0) break;
    crc = crc32(buf.subarray(0, n), crc);
    at += n;
  }
  return crc >>> 0;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function tryOpen(path: string): { fd: number; elf: ElfFile } | undefined {
  const fd = tryOpenFd(path);
  if (fd < 0) return undefined;
  try {
    return { fd, elf: ElfFile.parse(fdSource(fd, path)) };
  } catch {
    closeFd(fd);
    return undefined;
  }
}

/**
 * Finds the debug file for `elf`, which the process maps from `path` (as it
 * sees it). Returns undefined when none matches.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { findDebugFile } from "./debug_file.ts";
 * import { ElfFile } from "./elf_file.ts";
 * import { closeFd, fdSource, openFd } from "./raw_fd.ts";
 * // A binary without a debug file anywhere: nothing is found, nothing thrown.
 * const fd = openFd("/bin/true");
 * const elf = ElfFile.parse(fdSource(fd, "/bin/true"));
 * const found = findDebugFile(elf, "/bin/true", { debugDirs: ["/nonexistent"], roots: [""] });
 * assert.strictEqual(found, undefined);
 * closeFd(fd);
 * ```
 */
export function findDebugFile(
  elf: ElfFile,
  path: string,
  search: DebugSearch,
): FoundDebugFile | undefined {
  const buildId = elf.buildId();
  if (buildId && buildId.length > 2) {
    for (const root of search.roots) {
      for (const dir of search.debugDirs) {
        const p = `${root}${dir}/.build-id/${buildId.slice(0, 2)}/${
          buildId.slice(2)
        }.debug`;
        const got = tryOpen(p);
        if (!got) continue;
        if (got.elf.buildId() === buildId) {
          return { path: p, ...got, via: "build-id" };
        }
        if (search.rejected) search.rejected.buildId++;
        closeFd(got.fd);
      }
    }
  }
  const link = elf.debugLink();
  if (link && !link.file.includes("/")) {
    const dir = dirname(path);
    const rel = [
      `${dir}/${link.file}`,
      `${dir}/.debug/${link.file}`,
      ...search.debugDirs.map((d) => `${d}${dir}/${link.file}`),
    ];
    for (const root of search.roots) {
      for (const r of rel) {
        const p = `${root}${r.replace(/\/+/g, "/")}`;
        const got = tryOpen(p);
        if (!got) continue;
        const theirs = got.elf.buildId();
        if (buildId && theirs && buildId !== theirs) {
          if (search.rejected) search.rejected.buildId++;
          closeFd(got.fd);
          continue;
        }
        if (fileCrc32(got.fd) !== link.crc) {
          if (search.rejected) search.rejected.crc++;
          closeFd(got.fd);
          continue;
        }
        return { path: p, ...got, via: "debuglink" };
      }
    }
  }
  return undefined;
}
