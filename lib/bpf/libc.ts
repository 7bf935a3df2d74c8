/**
 * The few libc calls the profiler needs, through Deno FFI, with errno.
 *
 * Loaded lazily on first use so that importing the library (for the parser
 * alone, say) does not require FFI permission.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { libc } from "./libc.ts";
 * // 4096 on x86_64 and Debian arm64; a power of two everywhere.
 * assert.ok(Number.isInteger(Math.log2(libc().pageSize)));
 * ```
 * @module
 */
import { EnvironmentError } from "../common/errors.ts";

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
  // A synchronous sleep in the kernel: see ProfilerSession.consumeFor.
  usleep: { parameters: ["u32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  geteuid: { parameters: [], result: "u32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

// The kernel's mmap numbers: alike ELF's constants (elf_file.ts) in shape only.
/** mmap(2) protection and flag bits (same values on x86_64 and arm64). */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;

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

/**
 * libbpf's own error codes (LIBBPF_ERRNO__*, from 4000 up: libbpf.h), which
 * strerror() knows nothing of. A non-ELF file, say, fails to open with 4001.
 */
export const LIBBPF_ERRORS: Record<number, string> = {
  4000: "LIBBPF_ERRNO__LIBELF (something wrong in libelf)",
  4001: "LIBBPF_ERRNO__FORMAT (not a valid BPF ELF object)",
  4002: "LIBBPF_ERRNO__KVERSION (incorrect or missing kernel version section)",
  4003: "LIBBPF_ERRNO__ENDIAN (endianness mismatch)",
  4004: "LIBBPF_ERRNO__INTERNAL (internal error in libbpf)",
  4005: "LIBBPF_ERRNO__RELOC (relocation failed)",
  4006: "LIBBPF_ERRNO__LOAD (load program failed)",
  4007:
    "LIBBPF_ERRNO__VERIFY (kernel verifier blocks the program from loading)",
  4008: "LIBBPF_ERRNO__PROG2BIG (program too big)",
  4009: "LIBBPF_ERRNO__KVER (incorrect kernel version)",
  4010: "LIBBPF_ERRNO__PROGTYPE (kernel does not support this program type)",
  4011: "LIBBPF_ERRNO__WRNGPID (wrong pid in netlink message)",
  4012: "LIBBPF_ERRNO__INVSEQ (invalid netlink sequence)",
  4013: "LIBBPF_ERRNO__NLPARSE (netlink parse error)",
};

/**
 * An errno as "EPERM (Operation not permitted)", or libbpf's own code by
 * name.
 */
export function describeErrno(errno: number): string {
  return LIBBPF_ERRORS[errno] ?? libc().describe(errno);
}

/** EINVAL: what a failed call that left errno at 0 is reported as. */
export const EINVAL = 22;

/**
 * The errno of the call that just failed, or `fallback` (EINVAL) when the
 * library failed without setting errno (libbpf does that for some checks).
 */
export function lastErrno(fallback = EINVAL): number {
  return libc().errno() || fallback;
}

/**
 * An error from a system or library call, carrying its errno. It is an
 * environment error (exit code 3): the kernel or the machine said no.
 */
export class SysError extends EnvironmentError {
  /** The errno value (positive). */
  readonly errno: number;
  /** The errno name, such as "EPERM". */
  readonly code: string;
  constructor(what: string, errno: number, hint?: string) {
    super(`${what}: ${describeErrno(errno)}`, { hint });
    this.name = "SysError";
    this.errno = errno;
    this.code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  }
}
