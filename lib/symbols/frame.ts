/**
 * What the symbolizer returns: one Frame per stack address, and the mapping
 * it came from (what a pprof Mapping needs).
 *
 * @module
 */

/** Why a frame has no function name. */
export type UnresolvedReason =
  /** The address is in no mapping of the process (nor in its perf map). */
  | "no-mapping"
  /** The mapping's file was read, but no symbol covers the address. */
  | "no-symbol"
  /** The mapped file could not be opened or read. */
  | "unreadable-file"
  /** The mapped file is not a usable ELF file (corrupt, truncated). */
  | "bad-elf"
  /** The process exited (or never existed) before observe() saw it. */
  | "process-gone"
  /** An anonymous executable mapping without a perf map entry. */
  | "no-jit-symbol"
  /** kallsyms lists no addresses (kptr_restrict) or could not be read. */
  | "kernel-restricted";

/** A mapping of a file (or of the vDSO, or of JIT memory) in a process. */
export interface MappingInfo {
  /** First address. */
  start: bigint;
  /** One past the last address. */
  limit: bigint;
  /** File offset of `start`. */
  offset: bigint;
  /** The file as the process sees it; "[vdso]"; the perf map for JIT. */
  file: string;
  /** GNU build id (hex), when the file has one. */
  buildId?: string;
}

/** One inlined function at an address, innermost first (see Frame.inlined). */
export interface InlinedFrame {
  name: string;
  file?: string;
  line?: number;
}

/**
 * One symbolized stack address.
 *
 * `name` is the function, or `module+0xoffset` when it cannot be named
 * (never a bare "[unknown]"); `reason` then says why.
 *
 * With `lines`, `file`/`line` are the source position in the function
 * `name` (for an address in inlined code: the line of the outermost inlined
 * call), and `inlined` lists the inlined functions active at the address,
 * innermost first, each with the position inside it. pprof's Location.line
 * wants the leaf first: `[...inlined, {name, file, line}]`.
 */
export interface Frame {
  name: string;
  /**
   * The ELF path as the process sees it, "[kernel.kallsyms]", "[module]",
   * "[vdso]", the perf map path for JIT frames, "[unknown]" for no mapping.
   */
  module: string;
  kind: "user" | "kernel" | "jit";
  /** The address as captured. */
  address: bigint;
  symbolized: boolean;
  /** Why `symbolized` is false. */
  reason?: UnresolvedReason;
  /** Offset of the looked-up address in the mapped file. */
  fileOffset?: bigint;
  mapping?: MappingInfo;
  file?: string;
  line?: number;
  inlined?: InlinedFrame[];
}

/**
 * The name of an unnamed frame: `module+0xoffset`.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { unnamed } from "./frame.ts";
 * assert.strictEqual(unnamed("/usr/bin/perf", 0x1234n), "/usr/bin/perf+0x1234");
 * ```
 */
export function unnamed(module: string, offset: bigint | number): string {
  return `${module}+0x${offset.toString(16)}`;
}
