// @ts-check
/**
 * The live view's profile, aggregated in the browser: what the record
 * walker's tables held at each read (stacks by their addresses, samples by
 * process and stack pair), and the names the server sent for the (pid,
 * address) pairs it has seen. {@link LiveProfile.tree} turns it into a
 * flame graph tree with the same shape as the `--flamegraph` page: all,
 * then the process name, then the frames, outermost first, with lost and
 * truncated stacks as the same synthetic frames the profiler's own report
 * uses. An address whose name has not arrived yet shows as `0x...`.
 *
 * @example
 * ```js
 * import assert from "node:assert";
 * import { LiveProfile } from "./live_profile.js";
 * const p = new LiveProfile({ lostFrames: { userFault: "[user stack lost: fault]",
 *   kernelFault: "[kernel stack lost: fault]", notCollected: "[stacks not collected]",
 *   noStack: "[no stack]", truncated: "[stack truncated]" }, stackDepth: 127,
 *   stackId: { EMPTY: -1, FAULT: -2, NOT_COLLECTED: -3 } });
 * p.add(7, ["401010", "401200"], -1, [], 3); // user frames, innermost first; no kernel stack
 * p.addSymbols([["7:401010!", "spin", "/app", "user"], ["7:401200", "main", "/app", "user"]]);
 * p.addProcesses([[7, "app"]]);
 * const t = p.tree();
 * assert.deepEqual(t.nodeFrame.map((f) => t.frames[f].name), ["all", "app", "main", "spin"]);
 * assert.equal(t.nodeTotal[0], 3);
 * ```
 * @module
 */
import { buildFlameTree } from "../../export/flamegraph/flame_tree.js";

/**
 * @typedef {{
 *   lostFrames: { userFault: string, kernelFault: string, notCollected: string, noStack: string, truncated: string },
 *   stackDepth: number,
 *   stackId: { EMPTY: number, FAULT: number, NOT_COLLECTED: number },
 * }} LiveProfileConfig
 */

/** @typedef {import("../../export/flamegraph/flame_tree.js").FlameFrame} FlameFrame */

/**
 * The symbol key of an address: `pid:hex` for user code, `k:hex` for the
 * kernel, with `!` when it is a stack's first (sampled) address, which is
 * looked up as is; the others are return addresses (looked up one byte
 * back, as the profiler's symbolizer does).
 * @param {number} pid the process, or -1 for a kernel address
 * @param {string} hex
 * @param {boolean} leaf
 * @example
 * ```js
 * import assert from "node:assert";
 * import { symbolKey } from "./live_profile.js";
 * assert.equal(symbolKey(-1, "ffffffff81000000", true), "k:ffffffff81000000!");
 * assert.equal(symbolKey(7, "401200", false), "7:401200");
 * ```
 */
export function symbolKey(pid, hex, leaf) {
  return `${pid < 0 ? "k" : pid}:${hex}${leaf ? "!" : ""}`;
}

/** Samples aggregated in the page. */
export class LiveProfile {
  /** @param {LiveProfileConfig} config */
  constructor(config) {
    this.config = config;
    /** Distinct stacks: pid (-1 kernel) and addresses, innermost first. @type {{ pid: number, hex: string[] }[]} */
    this.stacks = [];
    /** @type {Map<string, number>} */
    this.stackIds = new Map();
    /** @type {Map<string, { pid: number, user: number, kernel: number, count: number }>} */
    this.samples = new Map();
    /** @type {Map<string, [string, string, string]>} */
    this.symbols = new Map();
    /** @type {Map<number, string>} */
    this.processes = new Map();
    this.totalSamples = 0;
  }

  /**
   * @param {number} pid
   * @param {string[]} hex
   */
  #intern(pid, hex) {
    const key = `${pid}|${hex.join(",")}`;
    let id = this.stackIds.get(key);
    if (id === undefined) {
      id = this.stacks.length;
      this.stacks.push({ pid, hex });
      this.stackIds.set(key, id);
    }
    return id;
  }

  /**
   * Adds `count` samples of process `pid` with these stacks: frames as hex
   * strings innermost first, or a negative stack id sentinel (empty, fault,
   * not collected) with no frames.
   * @param {number} pid
   * @param {string[]} userHex
   * @param {number} kernelId a sentinel, or any id >= 0 when kernelHex has frames
   * @param {string[]} kernelHex
   * @param {number} count
   * @param {number} [userId] a sentinel, or any id >= 0 when userHex has frames
   */
  add(
    pid,
    userHex,
    kernelId,
    kernelHex,
    count,
    userId = userHex.length > 0 ? 0 : -1,
  ) {
    const u = userId >= 0 ? this.#intern(pid, userHex) : userId;
    const k = kernelId >= 0 && kernelHex.length > 0
      ? this.#intern(-1, kernelHex)
      : kernelId;
    const key = `${pid}/${u}/${k}`;
    const e = this.samples.get(key);
    if (e) e.count += count;
    else this.samples.set(key, { pid, user: u, kernel: k, count });
    this.totalSamples += count;
  }

  /**
   * Reads a record walker's tables (call before they are cut).
   * @param {import("./record_walker.js").RecordWalker} walker
   */
  absorb(walker) {
    walker.forEachAggregate((a) => {
      this.add(
        a.pid,
        walker.stackHex(a.userStack),
        a.kernelStack,
        walker.stackHex(a.kernelStack),
        a.samples,
        a.userStack,
      );
    });
  }

  /**
   * Names from the server: `[key, name, module, kind]` (see {@link symbolKey}).
   * @param {[string, string, string, string][]} entries
   */
  addSymbols(entries) {
    for (const [k, name, module, kind] of entries) {
      this.symbols.set(k, [name, module, kind]);
    }
  }

  /**
   * Process names from the server: `[pid, comm]`.
   * @param {[number, string][]} entries
   */
  addProcesses(entries) {
    for (const [pid, comm] of entries) this.processes.set(pid, comm);
  }

  /** The flame graph tree of everything so far. */
  tree() {
    /** @type {FlameFrame[]} */
    const frames = [{
      name: "all",
      module: `${this.totalSamples} samples`,
      kind: "root",
    }];
    /** @type {Map<string, number>} */
    const ids = new Map();
    /** @param {string} name @param {string} module @param {any} kind */
    const frame = (name, module, kind) => {
      const key = `${kind}\0${module}\0${name}`;
      let id = ids.get(key);
      if (id === undefined) {
        id = frames.length;
        frames.push({ name, module, kind });
        ids.set(key, id);
      }
      return id;
    };
    const lost = this.config.lostFrames;
    const sid = this.config.stackId;
    /** @type {Map<number, number[]>} stack id -> frame ids, root first */
    const memo = new Map();
    /** @param {number} id */
    const framesOf = (id) => {
      let out = memo.get(id);
      if (out) return out;
      const s = this.stacks[id];
      out = [];
      if (s.hex.length >= this.config.stackDepth) {
        out.push(frame(lost.truncated, "[streamprof]", "lost"));
      }
      for (let i = s.hex.length - 1; i >= 0; i--) {
        const sym = this.symbols.get(symbolKey(s.pid, s.hex[i], i === 0));
        out.push(
          sym ? frame(sym[0], sym[1], sym[2]) : frame(
            `0x${s.hex[i]}`,
            "(name not yet known)",
            s.pid < 0 ? "kernel" : "user",
          ),
        );
      }
      memo.set(id, out);
      return out;
    };
    /** @type {import("../../export/flamegraph/flame_tree.js").FlameStack[]} */
    const stacks = [];
    for (const e of this.samples.values()) {
      const comm = this.processes.get(e.pid) ?? `[pid ${e.pid}]`;
      const stack = [frame(comm, "", "process")];
      if (e.user === sid.NOT_COLLECTED) {
        stack.push(frame(lost.notCollected, "[streamprof]", "lost"));
      } else {
        const before = stack.length;
        if (e.user >= 0) stack.push(...framesOf(e.user));
        else if (e.user === sid.FAULT) {
          stack.push(frame(lost.userFault, "[streamprof]", "lost"));
        }
        if (e.kernel >= 0) stack.push(...framesOf(e.kernel));
        else if (e.kernel === sid.FAULT) {
          stack.push(frame(lost.kernelFault, "[streamprof]", "lost"));
        }
        if (stack.length === before) {
          stack.push(frame(lost.noStack, "[streamprof]", "lost"));
        }
      }
      stacks.push({ stack, count: e.count });
    }
    return buildFlameTree(frames, stacks);
  }
}
