/**
 * The typed errors of the symbolizer. Each carries the file or process it is
 * about, so a count in `stats()` or a log line can say what went wrong where.
 *
 * The symbolizer itself never throws them out of `user()` / `kernel()`: it
 * catches them per file or process, counts them and returns unsymbolized
 * frames. They escape only from the lower-level readers (ELF, maps, perf
 * map), whose callers decide.
 *
 * @module
 */

/**
 * A file is not an ELF object this reader understands, or is truncated or
 * corrupt. `offset` is where in the file the problem was found.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ElfFormatError } from "./errors.ts";
 * const e = new ElfFormatError("/bin/x", 0, "bad magic");
 * assert.strictEqual(e.message, "/bin/x: not a usable ELF file at offset 0: bad magic");
 * assert.ok(e instanceof ElfFormatError && e.name === "ElfFormatError");
 * ```
 */
export class ElfFormatError extends Error {
  override name = "ElfFormatError";
  constructor(
    /** The file (or a label for an in-memory image such as "[vdso]"). */
    readonly file: string,
    /** Byte offset in the file where the problem was found. */
    readonly offset: number,
    /** What is wrong. */
    readonly reason: string,
  ) {
    super(`${file}: not a usable ELF file at offset ${offset}: ${reason}`);
  }
}

/**
 * A file the symbolizer needs cannot be opened or read (ENOENT, EACCES, a
 * short read). `cause` is the underlying Deno error when there is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { FileReadError } from "./errors.ts";
 * const e = new FileReadError("/proc/1/maps", "open", new Error("EACCES"));
 * assert.strictEqual(e.message, "/proc/1/maps: cannot open: EACCES");
 * ```
 */
export class FileReadError extends Error {
  override name = "FileReadError";
  constructor(
    /** The path that failed. */
    readonly path: string,
    /** The operation: "open", "read", "stat". */
    readonly operation: string,
    cause?: unknown,
  ) {
    super(
      `${path}: cannot ${operation}${
        cause instanceof Error ? `: ${cause.message}` : ""
      }`,
      { cause },
    );
  }
}

/**
 * A process the caller asked about is gone (or never existed) and nothing
 * about it was captured by `observe()` before it exited.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProcessGoneError } from "./errors.ts";
 * const e = new ProcessGoneError(4242, "/proc/4242/maps");
 * assert.strictEqual(e.pid, 4242);
 * assert.match(e.message, /process 4242 is gone/);
 * ```
 */
export class ProcessGoneError extends Error {
  override name = "ProcessGoneError";
  constructor(
    /** The pid (as the host sees it). */
    readonly pid: number,
    /** The /proc path that failed. */
    readonly path: string,
    cause?: unknown,
  ) {
    super(`process ${pid} is gone: ${path} cannot be read`, { cause });
  }
}

/**
 * libdw (elfutils) could not be loaded or failed on a file; carries the
 * libdw message (`dwfl_errmsg`).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { LibdwError } from "./errors.ts";
 * const e = new LibdwError("dwfl_report_elf", "/bin/x", "invalid ELF");
 * assert.strictEqual(e.message, "dwfl_report_elf(/bin/x): invalid ELF");
 * ```
 */
export class LibdwError extends Error {
  override name = "LibdwError";
  constructor(
    /** The libdw function that failed. */
    readonly call: string,
    /** The file it was working on. */
    readonly file: string,
    /** libdw's own message. */
    readonly detail: string,
  ) {
    super(`${call}(${file}): ${detail}`);
  }
}
