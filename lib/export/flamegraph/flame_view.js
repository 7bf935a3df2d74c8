// @ts-check
/// <reference lib="dom" />
/**
 * The interactive flame graph, drawn on a canvas: click a frame to zoom to
 * it (its ancestors stay, dimmed, full width: click one to zoom out), reset,
 * search (a substring, or `/regex/`) with the matches highlighted and their
 * share of the samples, hover for counts and percentages, user / kernel /
 * JIT / lost frames in colours of their own, and an inverted (icicle)
 * layout with the root at the top.
 *
 * Only what is wide enough to see is drawn: a frame narrower than
 * {@link MIN_WIDTH} pixels is skipped with everything above it, so the work
 * per redraw follows what is visible, not the size of the profile (the
 * static page holds 100,000 distinct stacks and more). Used by the
 * `--flamegraph` page and by the live view, which hands it a new tree every
 * second ({@link FlameView.setData} keeps the zoom and the search).
 *
 * @example
 * ```js ignore
 * // ignored: needs a browser (tests/browser/flamegraph_test.ts drives it in Chromium).
 * const view = new FlameView(canvas, { tooltip });
 * view.setData(tree);
 * view.search("hot_alpha");
 * ```
 * @module
 */
import { layoutTree, matchedSamples } from "./flame_tree.js";

/** Height of a row, CSS pixels. */
export const ROW_HEIGHT = 18;
/** Frames narrower than this (CSS pixels) are not drawn, nor what is above them. */
export const MIN_WIDTH = 0.5;
const FONT = "12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";

/**
 * A stable number in [0, 1) from a name: the same frame has the same shade
 * in every profile.
 * @param {string} s
 */
function hash01(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return ((h >>> 0) % 1000) / 1000;
}

/**
 * The fill colour of a frame by kind, shaded by its name.
 * @param {import("./flame_tree.js").FlameFrame} f
 */
function frameColor(f) {
  const h = hash01(f.name);
  const g = hash01(f.name + "~");
  const rgb = (
    /** @type {number} */ r,
    /** @type {number} */ gg,
    /** @type {number} */ b,
  ) => `rgb(${Math.round(r)},${Math.round(gg)},${Math.round(b)})`;
  switch (f.kind) {
    case "kernel":
      return rgb(90 + 50 * h, 150 + 50 * g, 225 + 30 * h);
    case "jit":
      return rgb(70 + 60 * h, 185 + 50 * g, 85 + 50 * h);
    case "lost":
      return rgb(170 + 20 * h, 170 + 20 * h, 170 + 20 * h);
    case "root":
    case "process":
      return rgb(200 + 15 * h, 200 + 15 * h, 215 + 15 * h);
    default: // user: warm, as flamegraph.pl's "hot"
      return rgb(205 + 50 * h, 80 + 150 * g, 40 + 40 * h);
  }
}
const MATCH_COLOR = "rgb(225,40,225)";

/** @param {number} n */
const fmt = (n) => Math.round(n).toLocaleString("en-US");
/** @param {number} part @param {number} whole */
const pct = (part, whole) =>
  whole > 0 ? `${(100 * part / whole).toFixed(2)}%` : "0%";

/** @param {string} s */
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * What the view shows now, for the page around it (and for tests).
 * @typedef {{
 *   zoomed: number,
 *   zoomedName: string,
 *   zoomedSamples: number,
 *   totalSamples: number,
 *   query: string,
 *   matchedSamples: number,
 *   matchedInZoom: number,
 *   inverted: boolean,
 *   nodes: number,
 *   drawn: number,
 * }} FlameState
 */

/** A flame graph on a canvas. */
export class FlameView {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ tooltip?: HTMLElement, onChange?: (state: FlameState) => void, scroller?: HTMLElement }} [options]
   *   `scroller`: an element around the canvas that scrolls it; the view
   *   fits it to the window and keeps the root row in sight (the bottom in
   *   a flame graph, the top inverted) unless you scroll away.
   */
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2D canvas context");
    this.ctx = ctx;
    this.tooltip = options.tooltip ?? null;
    this.onChange = options.onChange ?? null;
    this.scroller = options.scroller ?? null;
    /** Whether to keep the root row in sight on redraws. */
    this.stick = true;
    /** @type {import("./flame_tree.js").FlameTree | null} */
    this.tree = null;
    /** @type {import("./flame_tree.js").FlameLayout | null} */
    this.layout = null;
    /** @type {string[]} */
    this.colors = [];
    this.matches = new Uint8Array(0);
    this.zoomed = 0;
    this.query = "";
    this.matched = 0;
    this.inverted = false;
    this.drawn = 0;
    this.width = 0;
    /** The deepest row drawn: the canvas is as tall as what is visible. */
    this.shownDepth = 0;
    ctx.font = FONT;
    this.charWidth = ctx.measureText("M").width || 7;
    canvas.addEventListener("mousemove", (e) => this.#hover(e));
    canvas.addEventListener("mouseleave", () => this.#hideTooltip());
    canvas.addEventListener("click", (e) => {
      const i = this.nodeAt(e.offsetX, e.offsetY);
      if (i >= 0) this.zoom(i);
    });
    const sc = this.scroller;
    sc?.addEventListener("scroll", () => {
      this.stick = this.inverted
        ? sc.scrollTop <= 2
        : sc.scrollTop + sc.clientHeight >= sc.scrollHeight - 2;
    });
    globalThis.addEventListener?.("resize", () => this.render());
    const parent = canvas.parentElement;
    if (parent && typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => {
        if (parent.clientWidth !== this.width) this.render();
      }).observe(parent);
    }
  }

  /**
   * Shows a tree. The zoom (by the frames on its path) and the search stay
   * when they still apply: the live view calls this every second.
   * @param {import("./flame_tree.js").FlameTree} tree
   */
  setData(tree) {
    const path = this.tree ? this.#pathOf(this.zoomed) : [];
    this.tree = tree;
    this.layout = layoutTree(tree);
    this.colors = tree.frames.map(frameColor);
    this.zoomed = this.#findPath(path);
    this.#match();
    this.render();
  }

  /** @param {number} i */
  #pathOf(i) {
    const t = /** @type {import("./flame_tree.js").FlameTree} */ (this.tree);
    const l =
      /** @type {import("./flame_tree.js").FlameLayout} */ (this.layout);
    /** @type {string[]} */
    const keys = [];
    for (let n = i; n > 0; n = l.parent[n]) {
      const f = t.frames[t.nodeFrame[n]];
      keys.push(`${f.kind}\0${f.module}\0${f.name}`);
    }
    return keys.reverse();
  }

  /** @param {string[]} path */
  #findPath(path) {
    const t = /** @type {import("./flame_tree.js").FlameTree} */ (this.tree);
    const l =
      /** @type {import("./flame_tree.js").FlameLayout} */ (this.layout);
    let node = 0;
    for (const key of path) {
      let found = -1;
      for (let c = node + 1; c < l.end[node]; c = l.end[c]) {
        const f = t.frames[t.nodeFrame[c]];
        if (`${f.kind}\0${f.module}\0${f.name}` === key) {
          found = c;
          break;
        }
      }
      if (found < 0) return node;
      node = found;
    }
    return node;
  }

  /** Zooms to node `i` (the root: all samples). @param {number} i */
  zoom(i) {
    if (!this.tree || i < 0 || i >= this.tree.nodeFrame.length) return;
    this.zoomed = i;
    this.stick = true;
    this.#match();
    this.render();
  }

  /** Back to all samples. */
  reset() {
    this.zoom(0);
  }

  /**
   * Highlights the frames whose name contains `query` (case-insensitive),
   * or matches it as a regular expression when written `/like this/`;
   * "" clears. Returns the matched samples (each sample once).
   * @param {string} query
   */
  search(query) {
    this.query = query;
    this.#match();
    this.render();
    return this.matched;
  }

  /** The root on top (icicle) or at the bottom (flame). @param {boolean} on */
  setInverted(on) {
    this.inverted = on;
    this.stick = true;
    this.render();
  }

  #match() {
    const t = this.tree;
    if (!t || !this.layout) return;
    this.matches = new Uint8Array(t.frames.length);
    this.matched = 0;
    if (this.query === "") return;
    /** @type {(name: string) => boolean} */
    let test;
    const re = /^\/(.+)\/([a-z]*)$/.exec(this.query);
    if (re) {
      try {
        const r = new RegExp(re[1], re[2]);
        test = (name) => r.test(name);
      } catch {
        test = () => false;
      }
    } else {
      const q = this.query.toLowerCase();
      test = (name) => name.toLowerCase().includes(q);
    }
    t.frames.forEach((f, i) => {
      if (f.kind !== "root" && test(f.name)) this.matches[i] = 1;
    });
    this.matched = matchedSamples(t, this.layout, this.matches, 0);
  }

  /** What the view shows now. @returns {FlameState} */
  get state() {
    const t = this.tree;
    const total = t ? t.nodeTotal[0] ?? 0 : 0;
    return {
      zoomed: this.zoomed,
      zoomedName: t && t.nodeFrame.length > 0
        ? t.frames[t.nodeFrame[this.zoomed]].name
        : "",
      zoomedSamples: t && t.nodeFrame.length > 0 ? t.nodeTotal[this.zoomed] : 0,
      totalSamples: total,
      query: this.query,
      matchedSamples: this.matched,
      matchedInZoom: t && this.layout && this.query !== ""
        ? matchedSamples(t, this.layout, this.matches, this.zoomed)
        : 0,
      inverted: this.inverted,
      nodes: t ? t.nodeFrame.length : 0,
      drawn: this.drawn,
    };
  }

  /** The y (CSS px) of a row at `depth`. @param {number} depth */
  #rowY(depth) {
    return (this.inverted ? depth : this.shownDepth - depth) * ROW_HEIGHT;
  }

  /**
   * The deepest frame wide enough to draw at this zoom and width: rows
   * above it would be empty, so the canvas stops there (a whole-machine
   * profile may be 200 frames deep in one thin tower).
   * @param {number} width
   */
  #visibleDepth(width) {
    const t = /** @type {import("./flame_tree.js").FlameTree} */ (this.tree);
    const l =
      /** @type {import("./flame_tree.js").FlameLayout} */ (this.layout);
    const z = this.zoomed;
    const scale = width / t.nodeTotal[z];
    let deepest = t.nodeDepth[z];
    for (let i = z; i < l.end[z];) {
      if (t.nodeTotal[i] * scale < MIN_WIDTH) {
        i = l.end[i];
        continue;
      }
      if (t.nodeDepth[i] > deepest) deepest = t.nodeDepth[i];
      i++;
    }
    return deepest;
  }

  /**
   * Where node `i` is drawn, in CSS pixels of the canvas; null when it is
   * not drawn (outside the zoom, or too narrow).
   * @param {number} i
   * @returns {{ x: number, y: number, w: number, h: number } | null}
   */
  rectOf(i) {
    const t = this.tree, l = this.layout;
    if (!t || !l || i < 0 || i >= t.nodeFrame.length) return null;
    const z = this.zoomed;
    const y = this.#rowY(t.nodeDepth[i]);
    // An ancestor of the zoomed frame: full width.
    for (let a = z; a >= 0; a = l.parent[a]) {
      if (a === i) return { x: 0, y, w: this.width, h: ROW_HEIGHT };
    }
    if (i < z || i >= l.end[z]) return null;
    const scale = this.width / t.nodeTotal[z];
    const w = t.nodeTotal[i] * scale;
    if (w < MIN_WIDTH) return null;
    return { x: (l.start[i] - l.start[z]) * scale, y, w, h: ROW_HEIGHT };
  }

  /**
   * The node under (x, y), CSS pixels of the canvas; -1 for none.
   * @param {number} x
   * @param {number} y
   */
  nodeAt(x, y) {
    const t = this.tree, l = this.layout;
    if (!t || !l || t.nodeFrame.length === 0) return -1;
    const row = Math.floor(y / ROW_HEIGHT);
    const depth = this.inverted ? row : this.shownDepth - row;
    const z = this.zoomed;
    if (depth < 0 || depth > this.shownDepth) return -1;
    if (depth <= t.nodeDepth[z]) {
      let a = z;
      while (a > 0 && t.nodeDepth[a] > depth) a = l.parent[a];
      return a;
    }
    const scale = this.width / t.nodeTotal[z];
    const at = l.start[z] + x / scale;
    let node = z;
    while (t.nodeDepth[node] < depth) {
      let found = -1;
      for (let c = node + 1; c < l.end[node]; c = l.end[c]) {
        if (l.start[c] <= at && at < l.start[c] + t.nodeTotal[c]) {
          found = c;
          break;
        }
      }
      if (found < 0) return -1;
      node = found;
    }
    return t.nodeTotal[node] * scale >= MIN_WIDTH ? node : -1;
  }

  /**
   * The widest node of a frame named `name` (-1 if none): for tests and
   * for links to a function.
   * @param {string} name
   */
  find(name) {
    const t = this.tree;
    if (!t) return -1;
    let best = -1;
    for (let i = 0; i < t.nodeFrame.length; i++) {
      if (t.frames[t.nodeFrame[i]].name !== name) continue;
      if (best < 0 || t.nodeTotal[i] > t.nodeTotal[best]) best = i;
    }
    return best;
  }

  /**
   * The samples of all nodes of frames named `name`, each sample once
   * (what a search for exactly that name matches).
   * @param {string} name
   */
  samplesOf(name) {
    const t = this.tree, l = this.layout;
    if (!t || !l) return 0;
    const m = new Uint8Array(t.frames.length);
    t.frames.forEach((f, i) => {
      if (f.name === name) m[i] = 1;
    });
    return matchedSamples(t, l, m, 0);
  }

  /** Draws what is visible. */
  render() {
    const t = this.tree, l = this.layout;
    const canvas = this.canvas, ctx = this.ctx;
    const parent = canvas.parentElement;
    const width = Math.max(
      100,
      parent ? parent.clientWidth : canvas.clientWidth,
    );
    const ready = t !== null && l !== null && t.nodeFrame.length > 0 &&
      t.nodeTotal[0] > 0;
    this.shownDepth = ready ? this.#visibleDepth(width) : 0;
    const height = (this.shownDepth + 1) * ROW_HEIGHT;
    const dpr = globalThis.devicePixelRatio || 1;
    if (this.width !== width || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    this.width = width;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    this.drawn = 0;
    if (!ready || !t || !l) {
      this.onChange?.(this.state);
      return;
    }
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    const z = this.zoomed;
    const scale = width / t.nodeTotal[z];
    const x0 = l.start[z];
    const cw = this.charWidth;
    /**
     * @param {number} i
     * @param {number} x
     * @param {number} w
     * @param {boolean} dim
     */
    const box = (i, x, w, dim) => {
      const f = t.nodeFrame[i];
      const y = this.#rowY(t.nodeDepth[i]);
      ctx.globalAlpha = dim ? 0.55 : 1;
      ctx.fillStyle = this.matches[f] ? MATCH_COLOR : this.colors[f];
      ctx.fillRect(x, y, w > 2 ? w - 1 : w, ROW_HEIGHT - 1);
      this.drawn++;
      if (w < 3 * cw + 6) return;
      const name = t.frames[f].name;
      const fit = Math.floor((w - 6) / cw);
      const text = name.length <= fit ? name : `${name.slice(0, fit - 2)}..`;
      ctx.fillStyle = "#000";
      ctx.fillText(text, x + 3, y + ROW_HEIGHT / 2);
    };
    for (let a = l.parent[z]; a >= 0; a = l.parent[a]) box(a, 0, width, true);
    for (let i = z; i < l.end[z];) {
      const w = t.nodeTotal[i] * scale;
      if (w < MIN_WIDTH) {
        i = l.end[i];
        continue;
      }
      box(i, (l.start[i] - x0) * scale, w, false);
      i++;
    }
    ctx.globalAlpha = 1;
    this.#fitScroller();
    this.onChange?.(this.state);
  }

  /** Fits the scroller to the window; keeps the root row in sight. */
  #fitScroller() {
    const sc = this.scroller;
    if (!sc) return;
    const top = sc.getBoundingClientRect().top + (globalThis.scrollY || 0);
    const room = Math.max(240, (globalThis.innerHeight || 800) - top - 6);
    sc.style.maxHeight = `${Math.floor(room)}px`;
    if (this.stick) sc.scrollTop = this.inverted ? 0 : sc.scrollHeight;
  }

  /** @param {MouseEvent} e */
  #hover(e) {
    const i = this.nodeAt(e.offsetX, e.offsetY);
    this.canvas.style.cursor = i >= 0 ? "pointer" : "default";
    const tip = this.tooltip;
    if (!tip) return;
    if (i < 0) return this.#hideTooltip();
    tip.innerHTML = this.describe(i);
    tip.style.display = "block";
    const pad = 14;
    const r = tip.getBoundingClientRect();
    let x = e.clientX + pad, y = e.clientY + pad;
    if (x + r.width > globalThis.innerWidth) x = e.clientX - r.width - pad;
    if (y + r.height > globalThis.innerHeight) y = e.clientY - r.height - pad;
    tip.style.left = `${Math.max(0, x)}px`;
    tip.style.top = `${Math.max(0, y)}px`;
  }

  #hideTooltip() {
    if (this.tooltip) this.tooltip.style.display = "none";
  }

  /**
   * The tooltip text of node `i` (HTML): name, module and kind, samples
   * with their share of all and of the zoomed frame, self samples.
   * @param {number} i
   */
  describe(i) {
    const t = /** @type {import("./flame_tree.js").FlameTree} */ (this.tree);
    const l =
      /** @type {import("./flame_tree.js").FlameLayout} */ (this.layout);
    const f = t.frames[t.nodeFrame[i]];
    const all = t.nodeTotal[0];
    const zoomTotal = t.nodeTotal[this.zoomed];
    const n = t.nodeTotal[i];
    const kind = f.kind === "root" ? "" : ` · ${f.kind}`;
    return `<b>${escapeHtml(f.name)}</b><br><span class="muted">${
      escapeHtml(f.module)
    }${kind}</span><br>samples: ${fmt(n)} (${pct(n, all)} of all${
      this.zoomed > 0 ? `; ${pct(n, zoomTotal)} of the zoomed frame` : ""
    })<br>self: ${fmt(l.self[i])} (${pct(l.self[i], all)})`;
  }
}

/**
 * Wires a page's toolbar to a view, by element id: `reset` (button),
 * `search` (input; applied as you type, at once on Enter), `clear`
 * (button), `invert` (checkbox), and the `status` and `match` lines the
 * view fills in. Escape resets the zoom; Ctrl-F (or Cmd-F) goes to the
 * search box. Missing elements are left out.
 *
 * @param {FlameView} view
 * @param {Document} doc
 * @example
 * ```js ignore
 * // ignored: needs a browser (tests/browser/flamegraph_test.ts).
 * wireToolbar(view, document);
 * ```
 */
export function wireToolbar(view, doc) {
  /** @param {string} id */
  const $ = (id) => doc.getElementById(id);
  const search = /** @type {HTMLInputElement | null} */ ($("search"));
  const invert = /** @type {HTMLInputElement | null} */ ($("invert"));
  const status = $("status");
  const match = $("match");
  const previous = view.onChange;
  view.onChange = (s) => {
    if (status) {
      status.innerHTML = s.zoomed > 0
        ? `Zoomed to <b>${escapeHtml(s.zoomedName)}</b>: ${
          fmt(s.zoomedSamples)
        } samples (${
          pct(s.zoomedSamples, s.totalSamples)
        } of all). Click a dimmed frame or Reset to zoom out.`
        : `${
          fmt(s.totalSamples)
        } samples. Click a frame to zoom; hover for counts.`;
    }
    if (match) {
      match.innerHTML = s.query === ""
        ? ""
        : `Matched <b>${escapeHtml(s.query)}</b>: ${
          fmt(s.matchedSamples)
        } samples, <b>${pct(s.matchedSamples, s.totalSamples)}</b> of all${
          s.zoomed > 0
            ? `; ${pct(s.matchedInZoom, s.zoomedSamples)} of the zoomed frame`
            : ""
        }`;
    }
    previous?.(s);
  };
  $("reset")?.addEventListener("click", () => view.reset());
  if (search) {
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => view.search(search.value), 120);
    });
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        clearTimeout(timer);
        view.search(search.value);
      }
    });
    $("clear")?.addEventListener("click", () => {
      search.value = "";
      view.search("");
    });
  }
  invert?.addEventListener("change", () => view.setInverted(invert.checked));
  doc.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && doc.activeElement !== search) view.reset();
    if ((e.ctrlKey || e.metaKey) && e.key === "f" && search) {
      e.preventDefault();
      search.focus();
      search.select();
    }
  });
}
