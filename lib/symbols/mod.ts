/**
 * lib/symbols: sampled stack addresses to function names, as perf shows
 * them. See symbolizer.ts for the design and README.md for measurements.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { Symbolizer } from "./mod.ts";
 * const sym = new Symbolizer();
 * const [frame] = sym.kernel([0n]);
 * assert.strictEqual(frame.kind, "kernel");
 * assert.strictEqual(frame.symbolized, false); // 0 is no kernel function
 * sym.close();
 * ```
 *
 * @module
 */
export { Symbolizer } from "./symbolizer.ts";
export type {
  LookupOptions,
  ObserveResult,
  SymbolizerOptions,
  SymbolizerStats,
} from "./symbolizer.ts";
export type {
  Frame,
  InlinedFrame,
  MappingInfo,
  UnresolvedReason,
} from "./frame.ts";
export { unnamed } from "./frame.ts";
export type {
  KernelSymbolState,
  KernelSymbolWarning,
} from "./kernel_symbols.ts";
export { KernelSymbols } from "./kernel_symbols.ts";
export { ElfFile } from "./elf_file.ts";
export { SymbolTable } from "./symbol_table.ts";
export { PerfMap } from "./perf_map.ts";
export {
  ElfFormatError,
  FileReadError,
  LibdwError,
  ProcessGoneError,
} from "./errors.ts";
