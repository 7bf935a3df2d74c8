/**
 * Random-access reads from an open file or from bytes in memory, so the ELF
 * reader takes only the headers and tables it needs (a few hundred KiB of a
 * 30 MB binary) instead of the whole file.
 *
 * @module
 */
import { FileReadError } from "./errors.ts";

/** Something the ELF reader can read byte ranges from. */
export interface ByteSource {
  /** A label for errors: the path, or "[vdso]" for an in-memory image. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes from `offset` (a fresh copy the caller may keep).
   * Throws FileReadError on a short read or I/O error.
   */
  read(offset: number, length: number): Uint8Array;
}

/**
 * Throws the FileReadError of a read that does not fit in a source of
 * `size` bytes (negative, or past its end), so every ByteSource refuses the
 * same reads with the same message before it reads anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { checkRead } from "./byte_source.ts";
 * checkRead("f", 10, 6, 4);
 * assert.throws(() => checkRead("f", 10, 8, 4), /f: cannot read: short read: 4 bytes at 8 of 10/);
 * ```
 */
export function checkRead(
  name: string,
  size: number,
  offset: number,
  length: number,
): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new FileReadError(
      name,
      "read",
      new Error(`short read: ${length} bytes at ${offset} of ${size}`),
    );
  }
}

/**
 * The FileReadError of a file that ended after `got` of the `length` bytes
 * asked for at `offset` (it shrank since its size was taken).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { shortRead } from "./byte_source.ts";
 * assert.equal(shortRead("f", 2, 4, 8).message, "f: cannot read: short read: 2 of 4 at 8");
 * ```
 */
export function shortRead(
  name: string,
  got: number,
  length: number,
  offset: number,
): FileReadError {
  return new FileReadError(
    name,
    "read",
    new Error(`short read: ${got} of ${length} at ${offset}`),
  );
}

/**
 * A ByteSource over bytes already in memory (the vDSO image, tests).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { bytesSource } from "./byte_source.ts";
 * const src = bytesSource(new Uint8Array([1, 2, 3, 4]), "mem");
 * assert.deepStrictEqual([...src.read(1, 2)], [2, 3]);
 * assert.throws(() => src.read(3, 2), /short read/);
 * ```
 */
export function bytesSource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    read(offset, length) {
      checkRead(name, bytes.length, offset, length);
      return bytes.slice(offset, offset + length);
    },
  };
}

/**
 * A ByteSource over an open file, reading with seek + read (the file handle
 * is the caller's: it is kept open, so a file deleted or replaced after it was
 * opened is still the one read).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { fileSource } from "./byte_source.ts";
 * const f = Deno.openSync("/proc/self/exe");
 * try {
 *   const src = fileSource(f, "/proc/self/exe");
 *   assert.deepStrictEqual([...src.read(0, 4)], [0x7f, 0x45, 0x4c, 0x46]); // "\x7fELF"
 * } finally {
 *   f.close();
 * }
 * ```
 */
export function fileSource(file: Deno.FsFile, name: string): ByteSource {
  const size = file.statSync().size;
  return {
    name,
    size,
    read(offset, length) {
      checkRead(name, size, offset, length);
      const out = new Uint8Array(length);
      try {
        file.seekSync(offset, Deno.SeekMode.Start);
        let got = 0;
        while (got < length) {
          const n = file.readSync(out.subarray(got));
          if (n === null || n === 0) throw shortRead(name, got, length, offset);
          got += n;
        }
      } catch (err) {
        if (err instanceof FileReadError) throw err;
        throw new FileReadError(name, "read", err);
      }
      return out;
    },
  };
}
