/**
 * `--flamegraph FILE`: one self-contained HTML file with an interactive
 * flame graph of the profile. Everything is inline (the script, the style
 * and the data), so it opens from disk in any browser with no network.
 *
 * The tree: all samples, then one frame per process name (`comm`), then
 * each stack from its outermost frame to the sampled one. The header shows
 * host, kernel, arch, duration, frequency, CPUs and samples, and the
 * reconciliation and stack-accounting lines of the run.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { flamegraphHtml } from "./html.ts";
 * import { exampleProfile } from "../test_profile.ts";
 * const html = await flamegraphHtml(exampleProfile());
 * assert.match(html, /^<!doctype html>/);
 * // Nothing to fetch: no external script, style sheet or URL.
 * assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\//);
 * assert.match(html, /reconciled: produced 4 = consumed 4/);
 * ```
 * @module
 */
import type { ResolvedProfile } from "../../profile/model.ts";
import { formatCount, formatPercent } from "../../common/format.ts";
import { inlineModules } from "../inline.ts";
import {
  buildFlameTree,
  type FlameFrame,
  type FlameStack,
  type FlameTree,
  packTree,
} from "./flame_tree.js";

/**
 * The flame graph's tree of a profile: root `all`, a level of process
 * names, then the functions of each stack root first (the addresses of
 * one function, by kind, module and name, are one frame).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { profileFlameTree } from "./html.ts";
 * import { exampleProfile } from "../test_profile.ts";
 * const t = profileFlameTree(exampleProfile());
 * assert.deepEqual(t.nodeFrame.map((f) => t.frames[f].name),
 *   ["all", "app", "main", "work", "spin", "write", "ksys_write"]);
 * assert.deepEqual(t.nodeTotal, [4, 4, 4, 4, 3, 1, 1]);
 * ```
 */
export function profileFlameTree(p: ResolvedProfile): FlameTree {
  const frames: FlameFrame[] = [{
    name: "all",
    module: `${p.meta.host}: ${formatCount(p.totalSamples)} samples`,
    kind: "root",
  }];
  // The process level: one frame per comm (pids noted in its module).
  const procs = new Map<string, { id: number; pids: Set<number> }>();
  for (const s of p.samples) {
    let e = procs.get(s.comm);
    if (!e) {
      e = { id: frames.length, pids: new Set() };
      frames.push({ name: s.comm, module: "", kind: "process" });
      procs.set(s.comm, e);
    }
    e.pids.add(s.pid);
  }
  for (const e of procs.values()) {
    const pids = [...e.pids].sort((a, b) => a - b);
    frames[e.id].module = pids.length === 1
      ? `process ${pids[0]}`
      : `${pids.length} processes (${pids.slice(0, 5).join(", ")}${
        pids.length > 5 ? ", ..." : ""
      })`;
  }
  // One flame frame per function (kind, module, name): the addresses of a
  // function are one box, as flamegraph.pl merges them.
  const ids = new Map<string, number>();
  const flameOf = p.frames.map((f) => {
    const key = `${f.kind}\0${f.module}\0${f.name}`;
    let id = ids.get(key);
    if (id === undefined) {
      id = frames.length;
      frames.push({ name: f.name, module: f.module, kind: f.kind });
      ids.set(key, id);
    }
    return id;
  });
  const stacks: FlameStack[] = p.samples.map((s) => {
    const stack = new Array<number>(s.stack.length + 1);
    stack[0] = procs.get(s.comm)!.id;
    for (let i = 0; i < s.stack.length; i++) {
      stack[s.stack.length - i] = flameOf[s.stack[i]];
    }
    return { stack, count: s.count };
  });
  return buildFlameTree(frames, stacks);
}

/** HTML-escapes text. */
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is safe inside a `<script>` element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c").replace(
    /\u2028|\u2029/g,
    (c) => `\\u${c.charCodeAt(0).toString(16)}`,
  );
}

const HERE = new URL("./", import.meta.url);

/**
 * The page's style sheet (also used by the live view).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { flameCss } from "./html.ts";
 * assert.match(await flameCss(), /#tooltip/);
 * ```
 */
export async function flameCss(): Promise<string> {
  return await Deno.readTextFile(new URL("flame.css", HERE));
}

/** The toolbar both pages share: reset, search, clear, inverted, legend. */
export const TOOLBAR_HTML = `<div class="toolbar">
<button id="reset" title="Escape">Reset zoom</button>
<input id="search" type="search" placeholder="Search: text, or /regex/ (Ctrl-F)" aria-label="Search frames">
<button id="clear">Clear</button>
<label><input id="invert" type="checkbox"> Inverted (icicle)</label>
<span class="legend"><span><i class="user"></i>user</span><span><i class="kernel"></i>kernel</span><span><i class="jit"></i>JIT</span><span><i class="lost"></i>lost stack</span><span><i class="match"></i>search match</span></span>
<span id="status"></span>
</div>
<div class="toolbar" style="position:static;border:0;padding-top:4px;padding-bottom:0"><span id="match"></span></div>`;

/**
 * The page: header, toolbar, canvas, and the profile's tree as JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { flamegraphHtml } from "./html.ts";
 * import { exampleProfile } from "../test_profile.ts";
 * const html = await flamegraphHtml(exampleProfile());
 * const data = JSON.parse(/<script type="application\/json" id="profile-data">(.*?)<\/script>/s.exec(html)![1]);
 * assert.equal(data.tree.nodes[2], 4); // the root's samples
 * ```
 */
export async function flamegraphHtml(p: ResolvedProfile): Promise<string> {
  const m = p.meta;
  const script = await inlineModules(new URL("flame_page.js", HERE));
  const css = await flameCss();
  const sym = p.symbolization;
  const target = m.targetTid
    ? `thread ${m.targetTid}`
    : m.targetPid
    ? `process ${m.targetPid}`
    : "all processes";
  const fields: [string, string][] = [
    ["host", m.host],
    ["kernel", m.kernel],
    ["arch", m.arch],
    ["of", target],
    ["duration", `${(m.durationNs / 1e9).toFixed(1)} s`],
    ["frequency", `${m.frequencyHz} Hz`],
    ["CPUs", String(m.cpus)],
    ["samples", formatCount(p.totalSamples)],
    ["started", new Date(m.startTimeNs / 1e6).toISOString()],
  ];
  const rec = p.reconciliation;
  const data = { tree: packTree(profileFlameTree(p)) };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>streamprof flame graph: ${esc(m.host)}, ${
    formatCount(p.totalSamples)
  } samples</title>
<style>
${css}
</style>
</head>
<body>
<header>
<h1>streamprof flame graph <span class="muted">of ${esc(target)} on ${
    esc(m.host)
  }</span></h1>
<dl class="meta">${
    fields.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`)
      .join("")
  }</dl>
<p class="acct${rec.ok ? "" : " bad"}" id="reconciliation">${esc(rec.line)}</p>
${
    rec.stackLine
      ? `<p class="acct" id="stack-accounting">${esc(rec.stackLine)}</p>`
      : ""
  }
<p class="acct" id="symbolized">symbolized: ${
    esc(formatPercent(sym.fullySymbolizedSamples, sym.samples))
  } of samples have every frame named${
    sym.kernelWarning ? `; kernel symbols: ${esc(sym.kernelWarning)}` : ""
  }</p>
</header>
${TOOLBAR_HTML}
<div id="chart"><div class="flame-box"><canvas id="flame" aria-label="flame graph"></canvas></div></div>
<div id="tooltip"></div>
<script type="application/json" id="profile-data">${scriptJson(data)}</script>
<script type="module">
${script}
</script>
</body>
</html>
`;
}
