// @ts-check
/// <reference lib="dom" />
/**
 * The `--flamegraph` page's script: reads the tree embedded in the page,
 * draws it, and wires the toolbar (reset, search, inverted). It exposes the
 * view as `globalThis.flame` and the time to the first drawn frame as
 * `globalThis.firstRenderMs` (ms since navigation start), for tests and the
 * render benchmark.
 *
 * @module
 */
import { unpackTree } from "./flame_tree.js";
import { FlameView, wireToolbar } from "./flame_view.js";

const data = JSON.parse(
  /** @type {HTMLElement} */ (document.getElementById("profile-data"))
    .textContent ?? "{}",
);
const view = new FlameView(
  /** @type {HTMLCanvasElement} */ (document.getElementById("flame")),
  {
    tooltip: /** @type {HTMLElement} */ (document.getElementById("tooltip")),
    scroller: /** @type {HTMLElement} */ (document.getElementById("chart")),
  },
);
wireToolbar(view, document);
view.setData(unpackTree(data.tree));
const g =
  /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis));
g.flame = view;
g.firstRenderMs = performance.now();
