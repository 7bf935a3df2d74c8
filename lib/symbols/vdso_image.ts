/**
 * The vDSO's ELF image, read from memory.
 *
 * The vDSO is not a file: the kernel maps the same image into every process
 * of one ABI, so the image of a process's `[vdso]` mapping is read through
 * /proc/PID/mem (or, for any 64-bit process on this kernel, our own, which is
 * what the symbolizer uses: it needs no access to the target and works after
 * the target exits). It is an ELF shared object with a .dynsym.
 *
 * @module
 */
import { FileReadError } from "./errors.ts";
import { parseProcMaps } from "./proc_maps.ts";
import { closeFd, openFd, pread } from "./raw_fd.ts";

/**
 * The bytes of `pid`'s (default: this process's) [vdso] mapping, or
 * undefined when it has none. Throws FileReadError if /proc cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { readVdsoImage } from "./vdso_image.ts";
 * const image = readVdsoImage();
 * assert.ok(image && image.length >= 4096);
 * assert.deepStrictEqual([...image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
 * ```
 */
export function readVdsoImage(
  pid: number | "self" = "self",
  procRoot = "/proc",
): Uint8Array | undefined {
  const mapsPath = `${procRoot}/${pid}/maps`;
  let text: string;
  try {
    text = Deno.readTextFileSync(mapsPath);
  } catch (err) {
    throw new FileReadError(mapsPath, "read", err);
  }
  const vdso = parseProcMaps(text).entries.find((e) => e.path === "[vdso]");
  if (!vdso) return undefined;
  const memPath = `${procRoot}/${pid}/mem`;
  const fd = openFd(memPath);
  try {
    const out = new Uint8Array(vdso.end - vdso.start);
    let got = 0;
    while (got < out.length) {
      const n = pread(fd, out.subarray(got), vdso.start + got);
      if (n <= 0) {
        throw new FileReadError(memPath, "read", new Error("short read"));
      }
      got += n;
    }
    return out;
  } finally {
    closeFd(fd);
  }
}
