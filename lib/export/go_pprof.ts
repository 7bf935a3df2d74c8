/**
 * Test support: runs `go tool pprof` on a file and reads its `-top` and
 * `-traces` reports back, so tests can check that Go's own pprof reader
 * sees exactly the samples we wrote. In CI (CI=true) a missing Go is a
 * failure, never a skip (see {@link goUnavailable}).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parsePprofTop } from "./go_pprof.ts";
 * const top = parsePprofTop(`Showing nodes accounting for 4, 100% of 4 total
 *       flat  flat%   sum%        cum   cum%
 *          3 75.00% 75.00%          3 75.00%  spin
 *          0     0% 75.00%          4   100%  main`);
 * assert.deepEqual(top.get("spin"), { flat: 3, cum: 3 });
 * ```
 * @module
 */
import assert from "node:assert";
import type { ResolvedProfile } from "../profile/model.ts";
import { topFunctions } from "../profile/top_functions.ts";
import { encodePprof } from "./pprof.ts";

/** One function's row of `go tool pprof -top`. */
export interface PprofTopRow {
  flat: number;
  cum: number;
}

/**
 * Reads the rows of a `-top` report (values as printed: run it with
 * `-sample_index=samples` for counts), by function name.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parsePprofTop } from "./go_pprof.ts";
 * const rows = parsePprofTop("         1 25.00%   100%          1 25.00%  [user stack lost: fault]");
 * assert.deepEqual([...rows.keys()], ["[user stack lost: fault]"]);
 * ```
 */
export function parsePprofTop(text: string): Map<string, PprofTopRow> {
  const out = new Map<string, PprofTopRow>();
  const row = /^\s*(\d+)\s+[\d.]+%\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+(.+?)\s*$/;
  for (const line of text.split("\n")) {
    const m = row.exec(line);
    if (!m) continue;
    out.set(m[3], { flat: Number(m[1]), cum: Number(m[2]) });
  }
  return out;
}

/** One sample of `go tool pprof -traces`. */
export interface PprofTrace {
  /** Labels as printed (`pid` -> `100`). */
  labels: Record<string, string>;
  value: number;
  /** Function names, leaf first (inlined frames marked ` (inline)` by pprof are kept as printed). */
  frames: string[];
}

/**
 * Reads a `-traces` report: one entry per sample, in the file's order.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parsePprofTraces } from "./go_pprof.ts";
 * const t = parsePprofTraces(`Type: samples
 * -----------+-------------------------------------------------------
 *       comm:  app
 *        pid:  100
 *          3   spin
 *              main
 * -----------+-------------------------------------------------------`);
 * assert.deepEqual(t, [{ labels: { comm: "app", pid: "100" }, value: 3, frames: ["spin", "main"] }]);
 * ```
 */
export function parsePprofTraces(text: string): PprofTrace[] {
  const out: PprofTrace[] = [];
  const blocks = text.split(/^-+\+-+$/m).slice(1);
  for (const block of blocks) {
    const lines = block.split("\n").filter((l) => l.trim() !== "");
    if (lines.length === 0) continue;
    const t: PprofTrace = { labels: {}, value: 0, frames: [] };
    let inStack = false;
    for (const line of lines) {
      const label = /^\s*([^\s:]+):\s+(.*)$/.exec(line);
      const first = /^\s*(\d+)\s{3}(.*)$/.exec(line);
      if (!inStack && first) {
        inStack = true;
        t.value = Number(first[1]);
        t.frames.push(first[2].trimEnd());
      } else if (!inStack && label) {
        t.labels[label[1]] = label[2].trim();
      } else if (inStack) {
        t.frames.push(line.trim());
      }
    }
    if (inStack) out.push(t);
  }
  return out;
}

let goChecked: string | null | undefined;

/**
 * Why `go tool pprof` cannot run here, or null if it can (checked once).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { goUnavailable } from "./go_pprof.ts";
 * const why = await goUnavailable();
 * assert.ok(why === null || typeof why === "string");
 * ```
 */
export async function goUnavailable(): Promise<string | null> {
  if (goChecked !== undefined) return goChecked;
  try {
    const r = await new Deno.Command("go", {
      args: ["version"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    goChecked = r.success ? null : `go version failed (exit ${r.code})`;
  } catch (err) {
    goChecked = `no go on PATH (${(err as Error).message})`;
  }
  return goChecked;
}

/**
 * Runs `go tool pprof ARGS FILE` and returns its stdout; throws with its
 * stderr if it fails.
 *
 * @example
 * ```ts ignore
 * // ignored: needs Go; lib/export/pprof_test.ts runs it.
 * const top = parsePprofTop(await goPprof(["-top", "-sample_index=samples"], "cpu.pb.gz"));
 * ```
 */
export async function goPprof(args: string[], file: string): Promise<string> {
  const r = await new Deno.Command("go", {
    args: ["tool", "pprof", ...args, file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!r.success) {
    throw new Error(
      `go tool pprof ${args.join(" ")} ${file} failed (exit ${r.code}): ${
        dec.decode(r.stderr)
      }`,
    );
  }
  return dec.decode(r.stdout);
}

/** The `-top` flags that list every function, with counts. */
export const TOP_ARGS = [
  "-top",
  "-sample_index=samples",
  "-nodecount=1000000",
  "-nodefraction=0",
  "-edgefraction=0",
];

/** The `-traces` flags, with counts. */
export const TRACES_ARGS = ["-traces", "-sample_index=samples"];

/**
 * Asserts that `go tool pprof` reads exactly our samples from our pprof
 * file of `p`: `-top`'s flat column equals our self samples per function
 * name (as our top-functions table counts them), and `-traces` gives every
 * sample, in our order, with its count, stack and labels; the traces add
 * up to the true sample count. Throws (an AssertionError) on the first
 * difference, or if Go is missing.
 *
 * @example
 * ```ts ignore
 * // ignored: needs Go; lib/export/pprof_test.ts and tests/export run it.
 * await assertGoPprofAgrees(run.profile);
 * ```
 */
export async function assertGoPprofAgrees(p: ResolvedProfile): Promise<void> {
  const goMissing = await goUnavailable();
  if (goMissing !== null) throw new Error(`Go is unavailable: ${goMissing}`);
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/cpu.pb.gz`;
    await Deno.writeFile(file, await encodePprof(p));
    const top = parsePprofTop(await goPprof(TOP_ARGS, file));
    const self = new Map<string, number>();
    const total = new Map<string, number>();
    for (const f of topFunctions(p)) {
      self.set(f.name, (self.get(f.name) ?? 0) + f.self);
      total.set(f.name, f.total);
    }
    const flat = new Map(
      [...top].filter(([, r]) => r.flat > 0).map(([n, r]) => [n, r.flat]),
    );
    const ours = new Map([...self].filter(([, n]) => n > 0));
    assert.deepEqual(flat, ours, "go tool pprof -top flat = our self samples");
    // cum: once per sample, as ours; equal where one module owns the name.
    for (const [name, row] of top) {
      if (total.has(name)) assert.ok(row.cum >= total.get(name)!, name);
    }
    const traces = parsePprofTraces(await goPprof(TRACES_ARGS, file));
    assert.equal(traces.length, p.samples.length, "one trace per sample");
    traces.forEach((t, i) => {
      const s = p.samples[i];
      assert.equal(t.value, s.count);
      assert.deepEqual(t.frames, s.stack.map((f) => p.frames[f].name));
      assert.equal(t.labels.pid, String(s.pid));
      assert.equal(t.labels.tid, String(s.tid));
      assert.equal(t.labels.cpu, String(s.cpu));
      assert.equal(t.labels.comm, s.comm);
      assert.equal(t.labels.thread, s.thread);
    });
    assert.equal(
      traces.reduce((a, t) => a + t.value, 0),
      p.totalSamples,
      "the traces add up to the true sample count",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
