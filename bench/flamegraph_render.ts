/**
 * How fast the `--flamegraph` page is with many distinct stacks: writes
 * the page of a synthetic profile (default 100,000 distinct stacks), opens
 * it in Debian's chromium (headless) several times, and prints the time to
 * the first drawn flame graph (ms since navigation start: parsing the page
 * and its data, laying out the tree, drawing), then the cost of a zoom, a
 * search and a hover on the loaded page. Prints numbers only; no pass or
 * fail (tests assert correctness, never wall-clock times).
 *
 *   deno run -A bench/flamegraph_render.ts [--stacks 100000] [--chain 2] [--runs 5]
 *
 * @module
 */
import { parsePositiveInt } from "../lib/common/args.ts";
import { optionsHelp, scriptOptions } from "../lib/common/options.ts";
import { flamegraphHtml } from "../lib/export/flamegraph/html.ts";
import { syntheticProfile } from "../lib/export/test_profile.ts";
import { CHROMIUM, launchBrowser } from "../tests/browser/browser.ts";

const OPTIONS = {
  stacks: {
    type: "string",
    value: "N",
    help: "distinct stacks of the synthetic profile",
    default: "100000",
  },
  chain: {
    type: "string",
    value: "K",
    help: "frames per level of its call tree",
    default: "2",
  },
  runs: { type: "string", value: "R", help: "page loads timed", default: "5" },
} as const;
const { stacks, chain, runs } = scriptOptions(
  OPTIONS,
  `Usage: deno run -A bench/flamegraph_render.ts [options]

Options:
${optionsHelp(OPTIONS)}`,
  (v) => ({
    stacks: parsePositiveInt(v.stacks, "--stacks"),
    chain: parsePositiveInt(v.chain, "--chain"),
    runs: parsePositiveInt(v.runs, "--runs"),
  }),
);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[s.length >> 1]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const load = Deno.loadavg();
const t0 = performance.now();
const profile = syntheticProfile({ stacks, chain });
const html = await flamegraphHtml(profile);
const buildMs = performance.now() - t0;
const dir = await Deno.makeTempDir({ prefix: "streamprof-bench-" });
const file = `${dir}/flamegraph.html`;
await Deno.writeTextFile(file, html);

const browser = await launchBrowser();
const first: number[] = [];
const zoom: number[] = [];
const search: number[] = [];
const hover: number[] = [];
let info = { nodes: 0, drawn: 0, maxDepth: 0 };
try {
  for (let i = 0; i < runs; i++) {
    const page = await browser.context.newPage();
    await page.goto(`file://${file}`);
    await page.waitForFunction(() =>
      (globalThis as { firstRenderMs?: number }).firstRenderMs !== undefined
    );
    first.push(
      await page.evaluate(() =>
        (globalThis as unknown as { firstRenderMs: number }).firstRenderMs
      ),
    );
    const r = await page.evaluate(() => {
      // deno-lint-ignore no-explicit-any
      const v = (globalThis as any).flame;
      const t = v.tree;
      // Zoom to the widest node two levels below the root, and back.
      let target = 1;
      for (let j = 1; j < t.nodeFrame.length; j++) {
        if (t.nodeDepth[j] === 3 && t.nodeTotal[j] > t.nodeTotal[target]) {
          target = j;
        }
      }
      let a = performance.now();
      v.zoom(target);
      v.reset();
      const zoomMs = (performance.now() - a) / 2;
      a = performance.now();
      v.search("f2_");
      const searchMs = performance.now() - a;
      v.search("");
      const rect = v.canvas.getBoundingClientRect();
      a = performance.now();
      for (let k = 0; k < 100; k++) {
        v.nodeAt((k * 11) % rect.width, rect.height - 1 - (k % 10) * 18);
      }
      const hoverMs = (performance.now() - a) / 100;
      return {
        zoomMs,
        searchMs,
        hoverMs,
        nodes: t.nodeFrame.length,
        drawn: v.state.drawn,
        maxDepth: t.maxDepth,
      };
    });
    zoom.push(r.zoomMs);
    search.push(r.searchMs);
    hover.push(r.hoverMs);
    info = { nodes: r.nodes, drawn: r.drawn, maxDepth: r.maxDepth };
    await page.close();
  }
} finally {
  await browser.close();
  await Deno.remove(dir, { recursive: true });
}

const chromium = new TextDecoder().decode(
  (await new Deno.Command(CHROMIUM, { args: ["--version"] }).output()).stdout,
).trim();
const cpu = /model name\s*:\s*(.*)/.exec(
  await Deno.readTextFile("/proc/cpuinfo"),
)?.[1] ?? "?";
const f = (x: number) => x.toFixed(1);
console.log(
  `flame graph page: ${
    (stacks + 1).toLocaleString("en-US")
  } distinct stacks (synthetic, ${chain} frames per level), ${
    info.nodes.toLocaleString("en-US")
  } tree nodes, depth ${info.maxDepth}, ${
    (html.length / 1e6).toFixed(1)
  } MB of HTML (built in ${f(buildMs)} ms by Deno)`,
);
console.log(
  `machine: ${cpu}, ${navigator.hardwareConcurrency} CPUs, ${chromium} headless, 1200x800; load average at start ${
    load.map((x) => x.toFixed(2)).join(" ")
  }`,
);
console.log(
  `time to first render (navigation start to the first drawn flame graph), ${runs} runs: median ${
    f(median(first))
  } ms (min ${f(Math.min(...first))}, max ${
    f(Math.max(...first))
  }); frames drawn: ${info.drawn.toLocaleString("en-US")}`,
);
console.log(
  `on the loaded page: zoom + redraw ${f(median(zoom))} ms, search + redraw ${
    f(median(search))
  } ms, hover hit test ${median(hover).toFixed(3)} ms (medians)`,
);
