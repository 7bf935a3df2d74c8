// @ts-check
/**
 * The call tree a flame graph draws, built from stacks, in a flat layout a
 * page can take as JSON and walk without making an object per node: the
 * nodes in depth-first preorder, children sorted by name (so a tree built
 * again from more samples keeps its order, as flamegraph.pl does), as
 * three parallel arrays (frame, depth, total samples). Everything else a
 * view needs (self samples, x position, subtree end, parent) follows in
 * one pass ({@link layoutTree}).
 *
 * Plain JavaScript with JSDoc types: the same file runs in Deno (the
 * `--flamegraph` exporter builds the tree there) and in the browser (the
 * live view rebuilds it every second), and it is inlined into the pages.
 *
 * @example
 * ```js
 * import assert from "node:assert";
 * import { buildFlameTree, layoutTree } from "./flame_tree.js";
 * const frames = [
 *   { name: "all", module: "", kind: "root" },
 *   { name: "main", module: "a", kind: "user" },
 *   { name: "spin", module: "a", kind: "user" },
 *   { name: "io", module: "a", kind: "user" },
 * ];
 * const tree = buildFlameTree(frames, [
 *   { stack: [1, 2], count: 3 },
 *   { stack: [1, 3], count: 1 },
 *   { stack: [1], count: 1 },
 * ]);
 * assert.deepEqual(tree.nodeFrame, [0, 1, 3, 2]); // all, main, io, spin
 * assert.deepEqual(tree.nodeTotal, [5, 5, 1, 3]);
 * const l = layoutTree(tree);
 * assert.deepEqual([...l.self], [0, 1, 1, 3]);
 * assert.deepEqual([...l.start], [0, 0, 0, 1]);
 * ```
 * @module
 */

/**
 * What a frame is: where its code runs, or what the tree adds above it
 * (the root, the process level) or in place of a stack (lost).
 * @typedef {"user" | "kernel" | "jit" | "lost" | "root" | "process"} FlameKind
 */

/**
 * One distinct frame of the tree.
 * @typedef {{ name: string, module: string, kind: FlameKind }} FlameFrame
 */

/**
 * A stack, root first: indexes into the frames (the tree's root frame is
 * added in front), and its samples.
 * @typedef {{ stack: number[], count: number }} FlameStack
 */

/**
 * The tree: the frame table, and the nodes in preorder as parallel arrays.
 * Node 0 is the root (frame 0 of the table, which {@link buildFlameTree}
 * expects to be the root frame).
 * @typedef {{
 *   frames: FlameFrame[],
 *   nodeFrame: number[],
 *   nodeDepth: number[],
 *   nodeTotal: number[],
 *   maxDepth: number,
 * }} FlameTree
 */

/**
 * Builds the tree of `stacks` (root-first frame indexes, without the root
 * frame, which is `frames[0]`). Children are sorted by frame name, then by
 * module; stacks with equal frames merge.
 *
 * @param {FlameFrame[]} frames the frame table; `frames[0]` is the root
 * @param {Iterable<FlameStack>} stacks
 * @returns {FlameTree}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { buildFlameTree } from "./flame_tree.js";
 * const frames = [{ name: "all", module: "", kind: "root" }, { name: "a", module: "", kind: "user" }];
 * const t = buildFlameTree(frames, [{ stack: [1], count: 2 }, { stack: [1], count: 3 }]);
 * assert.deepEqual(t.nodeTotal, [5, 5]);
 * assert.equal(t.maxDepth, 1);
 * ```
 */
export function buildFlameTree(frames, stacks) {
  // A trie of maps (child frame -> node), then one sorted preorder walk.
  /** @type {{ frame: number, total: number, kids: Map<number, any> | null }} */
  const root = { frame: 0, total: 0, kids: null };
  for (const s of stacks) {
    if (!(s.count > 0)) continue;
    root.total += s.count;
    let node = root;
    for (const f of s.stack) {
      if (node.kids === null) node.kids = new Map();
      let next = node.kids.get(f);
      if (next === undefined) {
        next = { frame: f, total: 0, kids: null };
        node.kids.set(f, next);
      }
      next.total += s.count;
      node = next;
    }
  }
  /** @type {number[]} */
  const nodeFrame = [];
  /** @type {number[]} */
  const nodeDepth = [];
  /** @type {number[]} */
  const nodeTotal = [];
  let maxDepth = 0;
  /** @param {number} a @param {number} b */
  const byName = (a, b) => {
    const fa = frames[a], fb = frames[b];
    return fa.name < fb.name
      ? -1
      : fa.name > fb.name
      ? 1
      : fa.module < fb.module
      ? -1
      : fa.module > fb.module
      ? 1
      : a - b;
  };
  // Iterative: stacks can be deep (two stacks of 127 frames and more).
  /** @type {[typeof root, number][]} */
  const todo = [[root, 0]];
  while (todo.length > 0) {
    const [node, depth] = /** @type {[typeof root, number]} */ (todo.pop());
    nodeFrame.push(node.frame);
    nodeDepth.push(depth);
    nodeTotal.push(node.total);
    if (depth > maxDepth) maxDepth = depth;
    if (node.kids === null) continue;
    const keys = [...node.kids.keys()].sort(byName);
    for (let i = keys.length - 1; i >= 0; i--) {
      todo.push([node.kids.get(keys[i]), depth + 1]);
    }
  }
  return { frames, nodeFrame, nodeDepth, nodeTotal, maxDepth };
}

/**
 * What a view derives from the tree in one pass: each node's self samples,
 * its x position in samples (`start`), where its subtree ends in preorder
 * (`end`: the next node not below it) and its parent (-1 for the root).
 * @typedef {{
 *   self: Float64Array,
 *   start: Float64Array,
 *   end: Int32Array,
 *   parent: Int32Array,
 * }} FlameLayout
 */

/**
 * Derives self samples, positions, subtree ends and parents.
 *
 * @param {Pick<FlameTree, "nodeDepth" | "nodeTotal">} tree
 * @returns {FlameLayout}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { layoutTree } from "./flame_tree.js";
 * // root(4) -> a(3) -> b(2); root -> c(1)
 * const l = layoutTree({ nodeDepth: [0, 1, 2, 1], nodeTotal: [4, 3, 2, 1] });
 * assert.deepEqual([...l.end], [4, 3, 3, 4]);
 * assert.deepEqual([...l.parent], [-1, 0, 1, 0]);
 * assert.deepEqual([...l.start], [0, 0, 0, 3]);
 * assert.deepEqual([...l.self], [0, 1, 2, 1]);
 * ```
 */
export function layoutTree(tree) {
  const n = tree.nodeDepth.length;
  const self = new Float64Array(n);
  const start = new Float64Array(n);
  const end = new Int32Array(n);
  const parent = new Int32Array(n);
  // The open ancestors, and how far each one's children reach so far.
  const path = new Int32Array(Math.max(n, 1));
  const next = new Float64Array(Math.max(n, 1));
  let top = -1;
  for (let i = 0; i < n; i++) {
    const d = tree.nodeDepth[i];
    while (top >= d) end[path[top--]] = i;
    const p = top >= 0 ? path[top] : -1;
    parent[i] = p;
    start[i] = p >= 0 ? next[top] : 0;
    if (p >= 0) {
      next[top] += tree.nodeTotal[i];
      self[p] -= tree.nodeTotal[i];
    }
    self[i] += tree.nodeTotal[i];
    path[++top] = i;
    next[top] = start[i];
  }
  while (top >= 0) end[path[top--]] = n;
  return { self, start, end, parent };
}

/**
 * The tree as the compact JSON the pages embed: frames as
 * `[name, module index, kind]`, the modules once, the nodes as one flat
 * array of (frame, depth, total) triples.
 *
 * @param {FlameTree} tree
 * @returns {{ modules: string[], frames: [string, number, FlameKind][], nodes: number[], maxDepth: number }}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { buildFlameTree, packTree, unpackTree } from "./flame_tree.js";
 * const t = buildFlameTree([{ name: "all", module: "", kind: "root" }, { name: "a", module: "m", kind: "user" }],
 *   [{ stack: [1], count: 2 }]);
 * const packed = packTree(t);
 * assert.deepEqual(packed.nodes, [0, 0, 2, 1, 1, 2]);
 * assert.deepEqual(unpackTree(JSON.parse(JSON.stringify(packed))), t);
 * ```
 */
export function packTree(tree) {
  /** @type {string[]} */
  const modules = [];
  /** @type {Map<string, number>} */
  const moduleIds = new Map();
  /** @type {[string, number, FlameKind][]} */
  const frames = tree.frames.map((f) => {
    let m = moduleIds.get(f.module);
    if (m === undefined) {
      m = modules.length;
      modules.push(f.module);
      moduleIds.set(f.module, m);
    }
    return [f.name, m, f.kind];
  });
  const nodes = new Array(tree.nodeFrame.length * 3);
  for (let i = 0; i < tree.nodeFrame.length; i++) {
    nodes[3 * i] = tree.nodeFrame[i];
    nodes[3 * i + 1] = tree.nodeDepth[i];
    nodes[3 * i + 2] = tree.nodeTotal[i];
  }
  return { modules, frames, nodes, maxDepth: tree.maxDepth };
}

/**
 * The inverse of {@link packTree}.
 *
 * @param {{ modules: string[], frames: [string, number, FlameKind][], nodes: number[], maxDepth: number }} packed
 * @returns {FlameTree}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { unpackTree } from "./flame_tree.js";
 * const t = unpackTree({ modules: [""], frames: [["all", 0, "root"]], nodes: [0, 0, 7], maxDepth: 0 });
 * assert.deepEqual(t.nodeTotal, [7]);
 * ```
 */
export function unpackTree(packed) {
  const frames = packed.frames.map(([name, m, kind]) => ({
    name,
    module: packed.modules[m],
    kind,
  }));
  const n = packed.nodes.length / 3;
  const nodeFrame = new Array(n);
  const nodeDepth = new Array(n);
  const nodeTotal = new Array(n);
  for (let i = 0; i < n; i++) {
    nodeFrame[i] = packed.nodes[3 * i];
    nodeDepth[i] = packed.nodes[3 * i + 1];
    nodeTotal[i] = packed.nodes[3 * i + 2];
  }
  return { frames, nodeFrame, nodeDepth, nodeTotal, maxDepth: packed.maxDepth };
}

/**
 * The samples on stacks that pass through a matching frame, counted once
 * per sample however many matching frames it has (a matching node below
 * another matching node adds nothing), inside the subtree of `within`.
 *
 * @param {Pick<FlameTree, "nodeFrame" | "nodeTotal">} tree
 * @param {FlameLayout} layout
 * @param {Uint8Array} frameMatches 1 for each frame that matches
 * @param {number} [within] the subtree (default the root: all samples)
 * @returns {number}
 * @example
 * ```js
 * import assert from "node:assert";
 * import { buildFlameTree, layoutTree, matchedSamples } from "./flame_tree.js";
 * const frames = [{ name: "all", module: "", kind: "root" }, { name: "f", module: "", kind: "user" },
 *   { name: "g", module: "", kind: "user" }];
 * // f -> f (recursion) 2 samples, g -> f 1, g 4
 * const t = buildFlameTree(frames, [{ stack: [1, 1], count: 2 }, { stack: [2, 1], count: 1 }, { stack: [2], count: 4 }]);
 * assert.equal(matchedSamples(t, layoutTree(t), new Uint8Array([0, 1, 0])), 3);
 * ```
 */
export function matchedSamples(tree, layout, frameMatches, within = 0) {
  let sum = 0;
  const end = layout.end[within];
  for (let i = within; i < end;) {
    if (frameMatches[tree.nodeFrame[i]]) {
      sum += tree.nodeTotal[i];
      i = layout.end[i]; // everything below is already counted
    } else i++;
  }
  return sum;
}
