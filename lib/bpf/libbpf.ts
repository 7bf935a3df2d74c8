/**
 * Bindings to libbpf.so.1 (Debian's libbpf 1.1 and newer), in one module.
 *
 * libbpf 1.x reports failure as NULL (or a negative number) with errno set;
 * `check*` helpers turn that into a `SysError` that says what was attempted.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { libbpf } from "./libbpf.ts";
 * // 1 supported, 0 not, < 0 the probe failed (-EPERM without privileges).
 * const supported = libbpf().symbols.libbpf_probe_bpf_map_type(27, null);
 * assert.ok(supported <= 1);
 * ```
 * @module
 */
import { lastErrno, SysError } from "./libc.ts";

// Deno.dlopen's format, one entry per C function: entries alike in shape only.
const SYMBOLS = {
  libbpf_get_error: { parameters: ["pointer"], result: "i64" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  libbpf_probe_bpf_map_type: { parameters: ["i32", "pointer"], result: "i32" },
  libbpf_probe_bpf_prog_type: { parameters: ["i32", "pointer"], result: "i32" },
  libbpf_set_print: { parameters: ["pointer"], result: "pointer" },
  bpf_object__open_file: {
    parameters: ["buffer", "pointer"],
    result: "pointer",
  },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_map_by_name: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  bpf_object__find_program_by_name: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },
  bpf_map__type: { parameters: ["pointer"], result: "i32" },
  bpf_map__key_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__value_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__initial_value: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  bpf_map_lookup_elem: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  bpf_program__attach_perf_event: {
    parameters: ["pointer", "i32"],
    result: "pointer",
  },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
} as const;

/** BPF map and program type numbers from the kernel's uapi. */
export const BPF_MAP_TYPE = {
  ARRAY: 2,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  RINGBUF: 27,
} as const;
export const BPF_PROG_TYPE = { PERF_EVENT: 7 } as const;

/** The libbpf binding. */
export interface Libbpf {
  /** The raw FFI symbols. */
  readonly symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
}

let cached: Libbpf | undefined;

/**
 * Opens libbpf once. Throws a clear error if libbpf.so.1 is missing.
 */
export function libbpf(): Libbpf {
  if (cached) return cached;
  let lib;
  try {
    lib = Deno.dlopen("libbpf.so.1", SYMBOLS);
  } catch (err) {
    throw new Error(
      `cannot load libbpf.so.1 (install Debian's libbpf1, e.g. 'make setup'): ${
        (err as Error).message
      }`,
      { cause: err },
    );
  }
  cached = { symbols: lib.symbols };
  return cached;
}

/** NUL-terminated bytes of a string, for `buffer` parameters. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

/** Throws a SysError naming `what` if `p` is NULL; returns `p` otherwise. */
export function checkPtr(
  p: Deno.PointerValue,
  what: string,
  hint?: string,
): Deno.PointerObject {
  if (p === null) throw new SysError(what, lastErrno(), hint);
  return p;
}

/** Throws a SysError naming `what` if `rc` is negative (libbpf: -errno). */
export function checkRc(rc: number, what: string, hint?: string): number {
  if (rc < 0) throw new SysError(what, -rc, hint);
  return rc;
}
