/**
 * The few libc calls the profiler needs, through Deno FFI, with errno.
 *
 * Loaded lazily on first use so that importing the library (for the parser
 * alone, say) does not require FFI permission.
 *
 * @example
 * ```ts
 * import { libc } from "./libc.ts";
 * console.log(libc().pageSize); // 4096 on x86_64 and Debian arm64
 * ```
 * @module
 */

const SYMBOLS = {
  syscall: {
    // long syscall(long nr, ...): declared with fixed 64-bit arguments, which
    // is how the varargs ABI passes them on x86_64 and arm64 alike.
    parameters: ["i64", "pointer", "i64", "i64", "i64", "u64"],
    result: "i64",
  },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  geteuid: { parameters: [], result: "u32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** mmap(2) protection and flag bits (same values on x86_64 and arm64). */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
/** mmap(2)'s failure value. */
export const MAP_FAILED = -1n;

const SC_PAGESIZE = 30;

/** errno names for the values the profiler reports on. */
export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  7: "E2BIG",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
  524: "ENOTSUPP",
};

/** The libc binding: raw symbols plus helpers that read errno. */
export interface Libc {
  /** The raw FFI symbols. */
  readonly symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
  /** The system page size. */
  readonly pageSize: number;
  /** The calling thread's errno, read right after a failed call. */
  errno(): number;
  /** `strerror(n)` with the errno name, e.g. "EPERM (Operation not permitted)". */
  describe(errno: number): string;
}

let cached: Libc | undefined;

/** Opens libc once and returns the binding. */
export function libc(): Libc {
  if (cached) return cached;
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  const s = lib.symbols;
  const errnoPtr = s.__errno_location();
  const errno = () =>
    errnoPtr === null ? 0 : new Deno.UnsafePointerView(errnoPtr).getInt32(0);
  cached = {
    symbols: s,
    pageSize: Number(s.sysconf(SC_PAGESIZE)),
    errno,
    describe(n: number): string {
      const p = s.strerror(n);
      const text = p === null
        ? `errno ${n}`
        : new Deno.UnsafePointerView(p).getCString();
      return `${ERRNO_NAMES[n] ?? `errno ${n}`} (${text})`;
    },
  };
  return cached;
}

/** An error from a system or library call, carrying its errno. */
export class SysError extends Error {
  /** The errno value (positive). */
  readonly errno: number;
  /** The errno name, such as "EPERM". */
  readonly code: string;
  constructor(what: string, errno: number, hint?: string) {
    const l = libc();
    super(`${what}: ${l.describe(errno)}${hint ? `. ${hint}` : ""}`);
    this.name = "SysError";
    this.errno = errno;
    this.code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  }
}
