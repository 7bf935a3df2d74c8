/**
 * Raw file descriptors through libc (open, pread, dup, close, mmap), because the
 * symbolizer needs the OS fd number itself: it keeps files open by fd after a
 * process exits, reads them with pread, and hands a dup of the fd to libdwfl,
 * none of which a Deno.FsFile allows (it has no public fd in Deno 2).
 *
 * @module
 */
import { FileReadError } from "./errors.ts";
import { type ByteSource, checkRead, shortRead } from "./byte_source.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  dup: { parameters: ["i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;

let libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;
function sym() {
  return libc ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
}

function errno(): number {
  const p = sym().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  5: "EIO",
  9: "EBADF",
  13: "EACCES",
  21: "EISDIR",
  24: "EMFILE",
};

/**
 * "ENOENT (errno 2)" for an errno value.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { errnoName } from "./raw_fd.ts";
 * assert.strictEqual(errnoName(2), "ENOENT (errno 2)");
 * ```
 */
export function errnoName(n: number): string {
  return `${ERRNO[n] ?? "E?"} (errno ${n})`;
}

const encoder = new TextEncoder();

/**
 * Opens `path` read-only (O_CLOEXEC): the fd, or -1 when it cannot be
 * opened. For files that are often absent (debug files, perf maps), where
 * an exception per miss (two Error objects with their stack traces) cost
 * more than the open itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { closeFd, tryOpenFd } from "./raw_fd.ts";
 * const fd = tryOpenFd("/proc/self/maps");
 * assert.ok(fd >= 0);
 * closeFd(fd);
 * assert.strictEqual(tryOpenFd("/nonexistent"), -1);
 * ```
 */
export function tryOpenFd(path: string): number {
  const fd = sym().open(encoder.encode(path + "\0"), O_RDONLY | O_CLOEXEC, 0);
  return fd < 0 ? -1 : fd;
}

/**
 * Opens `path` read-only (O_CLOEXEC) and returns the fd; throws FileReadError
 * with the errno name.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { closeFd, openFd } from "./raw_fd.ts";
 * const fd = openFd("/proc/self/maps");
 * assert.ok(fd >= 0);
 * closeFd(fd);
 * assert.throws(() => openFd("/nonexistent"), /ENOENT/);
 * ```
 */
export function openFd(path: string): number {
  const fd = tryOpenFd(path);
  if (fd < 0) {
    throw new FileReadError(path, "open", new Error(errnoName(errno())));
  }
  return fd;
}

const PROT_READ = 1;
const MAP_PRIVATE = 2;
const MAP_FAILED = -1n;

/**
 * The whole of a file mapped read-only (mmap(2), MAP_PRIVATE): its pages
 * come from the page cache as they are touched, with no copy and no
 * anonymous memory. The mapping lasts as long as the process, so map only
 * files that are replaced by rename, never rewritten in place: a file cut
 * shorter under a mapping makes a touch past its end fatal (SIGBUS).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { mapFileReadOnly } from "./raw_fd.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "mapped");
 * assert.equal(new TextDecoder().decode(mapFileReadOnly(path)), "mapped");
 * assert.throws(() => mapFileReadOnly("/nonexistent"), /ENOENT/);
 * ```
 */
export function mapFileReadOnly(path: string): Uint8Array {
  const fd = openFd(path);
  try {
    const size = Deno.statSync(path).size;
    if (size === 0) return new Uint8Array(0);
    const p = sym().mmap(null, BigInt(size), PROT_READ, MAP_PRIVATE, fd, 0n);
    if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) {
      throw new FileReadError(path, "mmap", new Error(errnoName(errno())));
    }
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, size));
  } finally {
    closeFd(fd);
  }
}

/**
 * close(2); errors are ignored (nothing useful can be done).
 *
 * @example
 * ```ts
 * import { closeFd, openFd } from "./raw_fd.ts";
 * closeFd(openFd("/proc/self/status"));
 * ```
 */
export function closeFd(fd: number): void {
  sym().close(fd);
}

/**
 * dup(2): a second fd for the same open file (libdwfl takes one over).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { closeFd, dupFd, openFd } from "./raw_fd.ts";
 * const fd = openFd("/proc/self/status");
 * const copy = dupFd(fd);
 * assert.notStrictEqual(copy, fd);
 * closeFd(copy);
 * closeFd(fd);
 * ```
 */
export function dupFd(fd: number): number {
  const n = sym().dup(fd);
  if (n < 0) {
    throw new FileReadError(`fd ${fd}`, "dup", new Error(errnoName(errno())));
  }
  return n;
}

/**
 * Reads up to `buf.length` bytes at `offset`; returns the count (0 at EOF).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { closeFd, openFd, pread } from "./raw_fd.ts";
 * const fd = openFd("/proc/self/exe");
 * const buf = new Uint8Array(3);
 * assert.strictEqual(pread(fd, buf, 1), 3);
 * assert.strictEqual(new TextDecoder().decode(buf), "ELF");
 * closeFd(fd);
 * ```
 */
export function pread(fd: number, buf: Uint8Array, offset: number): number {
  const n = Number(sym().pread(fd, buf, BigInt(buf.length), BigInt(offset)));
  if (n < 0) {
    throw new FileReadError(`fd ${fd}`, "read", new Error(errnoName(errno())));
  }
  return n;
}

/**
 * A ByteSource over an fd (size from fstat through /proc/self/fd, which also
 * works when the file was deleted).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { closeFd, fdSource, openFd } from "./raw_fd.ts";
 * const fd = openFd("/proc/self/exe");
 * try {
 *   const src = fdSource(fd, "deno");
 *   assert.deepStrictEqual([...src.read(1, 3)], [0x45, 0x4c, 0x46]); // "ELF"
 * } finally {
 *   closeFd(fd);
 * }
 * ```
 */
export function fdSource(fd: number, name: string, size?: number): ByteSource {
  const total = size ?? Deno.statSync(`/proc/self/fd/${fd}`).size;
  return {
    name,
    size: total,
    read(offset, length) {
      checkRead(name, total, offset, length);
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = pread(fd, out.subarray(got), offset + got);
        if (n === 0) throw shortRead(name, got, length, offset);
        got += n;
      }
      return out;
    },
  };
}
