/**
 * The live view's page: one HTML document with everything inline (the
 * scripts, the style, and parser.wasm itself, base64), so the server has
 * exactly one page to serve and the WebSocket beside it.
 *
 * The page gets the parser's interface constants (`MODULE_ABI` and
 * `EVENT_SIZE` from lib/parser/layout.ts), the synthetic frame names of
 * lib/profile/resolve.ts and the stack depth, so that it decodes and names
 * exactly as the profiler does.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { livePageHtml } from "./page.ts";
 * const html = await livePageHtml();
 * assert.match(html, /<script type="module">/);
 * assert.doesNotMatch(html, /<script[^>]+src=/);
 * ```
 * @module
 */
import {
  EVENT_SIZE,
  MODULE_ABI,
  STACK_DEPTH,
  StackId,
} from "../parser/layout.ts";
import { DEFAULT_WASM_URL } from "../parser/wasm_parser.ts";
import { LOST_FRAMES } from "../profile/resolve.ts";
import { inlineModules } from "../export/inline.ts";
import { flameCss, TOOLBAR_HTML } from "../export/flamegraph/html.ts";
import { DEFAULT_CHUNK_BYTES } from "./feed.ts";

const HERE = new URL("./", import.meta.url);

/** Base64 of bytes (small inputs: the 12 KB module). */
function encodeBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(bin);
}

/** JSON that is safe inside a `<script>` element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c");
}

/**
 * The configuration the page reads: the parser's constants, the synthetic
 * frame names, the stack depth, the chunk size and the module itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { livePageConfig } from "./page.ts";
 * const c = await livePageConfig();
 * assert.equal((c.abi as Record<string, number>).EVENT_SIZE, 32);
 * assert.equal(atob(c.wasm as string).slice(1, 4), "asm");
 * ```
 */
export async function livePageConfig(
  o: { wasmUrl?: URL; chunkBytes?: number } = {},
): Promise<Record<string, unknown>> {
  const wasm = await Deno.readFile(o.wasmUrl ?? DEFAULT_WASM_URL);
  return {
    abi: { ...MODULE_ABI, EVENT_SIZE },
    lostFrames: LOST_FRAMES,
    stackDepth: STACK_DEPTH,
    stackId: StackId,
    chunkBytes: o.chunkBytes ?? DEFAULT_CHUNK_BYTES,
    wasm: encodeBase64(wasm),
  };
}

const LIVE_CSS = `
.conn { font-size: 12px; padding: 1px 7px; border-radius: 9px; background: #ddd; color: #333; margin-left: 6px; vertical-align: 2px; }
.conn.on { background: #2e7d32; color: #fff; }
#live-reconciliation p.ok::before { content: "\\2713  "; color: #2e7d32; }
#live-reconciliation p.warn { color: #a15c00; }
#live-reconciliation p.bad { color: #b3261e; font-weight: 600; }
#rate-box { padding: 6px 14px 0; }
`;

/**
 * The whole page.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { livePageHtml } from "./page.ts";
 * assert.match(await livePageHtml(), /id="live-reconciliation"/);
 * ```
 */
export async function livePageHtml(
  o: { wasmUrl?: URL; chunkBytes?: number } = {},
): Promise<string> {
  const script = await inlineModules(new URL("page/live_page.js", HERE));
  const css = await flameCss();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>streamprof live</title>
<style>
${css}
${LIVE_CSS}
</style>
</head>
<body>
<header>
<h1>streamprof live <span class="muted">records decoded in this tab by parser.wasm</span><span id="conn" class="conn">connecting...</span></h1>
<dl class="meta" id="meta"></dl>
<div id="live-reconciliation"></div>
</header>
<div id="rate-box"><div class="flame-box"><canvas id="rate" aria-label="samples per second"></canvas></div></div>
${TOOLBAR_HTML}
<div id="chart"><div class="flame-box"><canvas id="flame" aria-label="flame graph"></canvas></div></div>
<div id="tooltip"></div>
<script type="application/json" id="live-config">${
    scriptJson(await livePageConfig(o))
  }</script>
<script type="module">
${script}
</script>
</body>
</html>
`;
}
