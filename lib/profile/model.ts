/**
 * A profile people read: every sample's stack resolved to frames, with the
 * accounting that proves nothing was lost. One model feeds every output
 * (the terminal tables, folded stacks, JSON, pprof, speedscope, the flame
 * graph), so they all describe the same samples.
 *
 * Stacks are leaf first: a sample's kernel frames (innermost first), then
 * its user frames. A stack the kernel could not give is a synthetic frame
 * of kind "lost" ("[user stack lost: fault]"), so that every sample counts
 * and totals equal the true sample count; a truncated stack ends in a
 * "[stack truncated]" frame at its root end.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { frameLabel, type ProfileFrame } from "./model.ts";
 * const f: ProfileFrame = { name: "do_syscall_64", module: "[kernel.kallsyms]",
 *   kind: "kernel", symbolized: true };
 * assert.equal(frameLabel(f), "do_syscall_64_[k]");
 * ```
 * @module
 */
import type { InlinedFrame } from "../symbols/mod.ts";
import type { Reconciliation } from "../profiler/reconcile.ts";

/** Where a frame's code lives, or "lost" for a synthetic frame. */
export type FrameKind = "user" | "kernel" | "jit" | "lost";

/** One distinct frame of the profile. */
export interface ProfileFrame {
  /** The function, `module+0xoffset` when unnamed, or a synthetic label. */
  name: string;
  /** The ELF path, `[kernel.kallsyms]`, `[module]`, `[vdso]`, a perf map. */
  module: string;
  kind: FrameKind;
  /** Whether `name` is a real function name. */
  symbolized: boolean;
  /** The sampled address (absent for synthetic frames). */
  address?: bigint;
  /** The process whose address space `address` is in (user and JIT frames). */
  pid?: number;
  /** Index into `ResolvedProfile.mappings`. */
  mapping?: number;
  /** Offset of the address in the mapped file. */
  fileOffset?: bigint;
  /** Source position (with --lines). */
  file?: string;
  line?: number;
  /** Inlined functions at the address, innermost first (with --lines). */
  inlined?: InlinedFrame[];
}

/** A mapped file of one process, as pprof's Mapping wants it. */
export interface ProfileMapping {
  pid: number;
  start: bigint;
  limit: bigint;
  offset: bigint;
  file: string;
  buildId?: string;
}

/** One aggregated stack of one thread on one CPU. */
export interface ProfileSample {
  pid: number;
  tid: number;
  cpu: number;
  /** The process's name. */
  comm: string;
  /** The thread's name. */
  thread: string;
  /** Samples. */
  count: number;
  /** Frame indexes, leaf first. */
  stack: number[];
}

/** One sample in time order (when the profile keeps a timeline). */
export interface TimelineSample {
  /** ns since the profile started. */
  offsetNs: number;
  pid: number;
  tid: number;
  /** Frame indexes, leaf first. */
  stack: number[];
}

/** What a profile is of. */
export interface ProfileMeta {
  host: string;
  kernel: string;
  arch: string;
  /** Wall-clock start, ns since the Unix epoch. */
  startTimeNs: number;
  durationNs: number;
  /** Samples per second per CPU. */
  frequencyHz: number;
  cpus: number;
  /** The sampled process, if one was. */
  targetPid: number | null;
  targetTid: number | null;
}

/** How many samples are fully named, and why the rest are not. */
export interface SymbolizationSummary {
  /** Samples whose every frame has a function name. */
  fullySymbolizedSamples: number;
  /** All samples. */
  samples: number;
  /** Frames (distinct) that could not be named, by reason. */
  unnamedFrames: Record<string, number>;
  /** A kernel symbol problem (kptr_restrict), said plainly. */
  kernelWarning?: string;
  /** Memory the symbol caches take. */
  cacheBytes: number;
}

/** A profile with every stack resolved. */
export interface ResolvedProfile {
  meta: ProfileMeta;
  frames: ProfileFrame[];
  mappings: ProfileMapping[];
  samples: ProfileSample[];
  /** Sum of sample counts: the consumed events, exactly. */
  totalSamples: number;
  reconciliation: Reconciliation;
  symbolization: SymbolizationSummary;
  /** Every sample in time order, when asked for (speedscope). */
  timeline?: TimelineSample[];
}

/**
 * A frame as folded stacks and flame graphs print it: kernel frames end in
 * `_[k]`, JIT frames in `_[j]` (the flamegraph.pl convention).
 */
export function frameLabel(f: ProfileFrame): string {
  if (f.kind === "kernel") return `${f.name}_[k]`;
  if (f.kind === "jit") return `${f.name}_[j]`;
  return f.name;
}
