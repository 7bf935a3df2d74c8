/**
 * Functions by self and by total samples, as `perf report --no-children`
 * and `--children` show them: self counts the samples a function was the
 * leaf of, total the samples it was anywhere on the stack of (once per
 * sample, however often recursion put it there).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { topFunctions } from "./top_functions.ts";
 * const frames = [
 *   { name: "leaf", module: "a.out", kind: "user" as const, symbolized: true },
 *   { name: "main", module: "a.out", kind: "user" as const, symbolized: true },
 * ];
 * const samples = [{ pid: 1, tid: 1, cpu: 0, comm: "a", thread: "a", count: 3, stack: [0, 1] }];
 * const top = topFunctions({ frames, samples, totalSamples: 3 });
 * assert.deepEqual(top.map((f) => [f.name, f.self, f.total]), [["leaf", 3, 3], ["main", 0, 3]]);
 * ```
 * @module
 */
import type { FrameKind, ResolvedProfile } from "./model.ts";

/** One function's share of the samples. */
export interface FunctionShare {
  name: string;
  module: string;
  kind: FrameKind;
  /** Samples with this function as the leaf. */
  self: number;
  /** Samples with this function anywhere on the stack. */
  total: number;
  /** self / all samples, in percent. */
  selfPercent: number;
  /** total / all samples, in percent. */
  totalPercent: number;
}

/**
 * Orders two functions by name, in code-unit order: deterministic, and
 * without `localeCompare`, whose first call loads ICU's collation data
 * (~10 ms of `profile`'s CPU time).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { byName } from "./top_functions.ts";
 * const names = ["b", "B", "a"].map((name) => ({ name }));
 * assert.deepEqual(names.sort(byName).map((f) => f.name), ["B", "a", "b"]);
 * ```
 */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Every function with its self and total samples, sorted by self then
 * total (descending), then by name.
 */
export function topFunctions(
  p: Pick<ResolvedProfile, "frames" | "samples" | "totalSamples">,
): FunctionShare[] {
  // A function is (module, name): addresses of one function share a row.
  const fnOf = new Int32Array(p.frames.length);
  const fns: FunctionShare[] = [];
  // By module, then by name: the two strings' hashes are kept in them, where
  // a joined key would be a new string per frame to build and hash.
  const ids = new Map<string, Map<string, number>>();
  p.frames.forEach((f, i) => {
    let inModule = ids.get(f.module);
    if (inModule === undefined) ids.set(f.module, inModule = new Map());
    let id = inModule.get(f.name);
    if (id === undefined) {
      id = fns.length;
      fns.push({
        name: f.name,
        module: f.module,
        kind: f.kind,
        self: 0,
        total: 0,
        selfPercent: 0,
        totalPercent: 0,
      });
      inModule.set(f.name, id);
    }
    fnOf[i] = id;
  });
  const seen = new Int32Array(fns.length).fill(-1);
  p.samples.forEach((s, si) => {
    if (s.stack.length === 0) return;
    fns[fnOf[s.stack[0]]].self += s.count;
    for (const f of s.stack) {
      const fn = fnOf[f];
      if (seen[fn] === si) continue; // once per sample
      seen[fn] = si;
      fns[fn].total += s.count;
    }
  });
  const all = p.totalSamples;
  for (const f of fns) {
    f.selfPercent = all ? (100 * f.self) / all : 0;
    f.totalPercent = all ? (100 * f.total) / all : 0;
  }
  return fns
    .filter((f) => f.total > 0)
    .sort((a, b) => b.self - a.self || b.total - a.total || byName(a, b));
}
