/**
 * Folded stacks, one line per distinct stack: `comm;root;...;leaf count`,
 * kernel frames suffixed `_[k]` and JIT frames `_[j]`, as flamegraph.pl and
 * speedscope read them. Lines are sorted, so equal profiles give equal
 * files.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { foldedStacks, parseFolded } from "./folded.ts";
 * const frames = [
 *   { name: "leaf", module: "a", kind: "user" as const, symbolized: true },
 *   { name: "main", module: "a", kind: "user" as const, symbolized: true },
 * ];
 * const text = foldedStacks({ frames, samples: [
 *   { pid: 1, tid: 1, cpu: 0, comm: "a", thread: "app", count: 2, stack: [0, 1] },
 *   { pid: 1, tid: 1, cpu: 1, comm: "a", thread: "app", count: 1, stack: [0, 1] },
 * ] });
 * assert.equal(text, "app;main;leaf 3\n");
 * assert.deepEqual(parseFolded(text), new Map([["app;main;leaf", 3]]));
 * ```
 * @module
 */
import { frameLabel, type ResolvedProfile } from "./model.ts";

/** Folded stacks of the profile (samples of one stack and thread name merged). */
export function foldedStacks(
  p: Pick<ResolvedProfile, "frames" | "samples">,
): string {
  const labels = p.frames.map((f) => frameLabel(f).replaceAll(";", ":"));
  const lines = new Map<string, number>();
  for (const s of p.samples) {
    const parts = [s.thread.replaceAll(";", ":").replaceAll(" ", "_")];
    for (let i = s.stack.length - 1; i >= 0; i--) {
      parts.push(labels[s.stack[i]]);
    }
    const key = parts.join(";");
    lines.set(key, (lines.get(key) ?? 0) + s.count);
  }
  return [...lines]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, n]) => `${k} ${n}\n`)
    .join("");
}

/** Reads folded stacks back into stack -> count (for tests and tools). */
export function parseFolded(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const at = line.lastIndexOf(" ");
    const n = Number(line.slice(at + 1));
    if (at < 0 || !Number.isInteger(n)) {
      throw new Error(`malformed folded line: ${line}`);
    }
    const k = line.slice(0, at);
    out.set(k, (out.get(k) ?? 0) + n);
  }
  return out;
}
