/**
 * Turns a session's aggregated samples (lib/profiler/stack_profile.ts) into
 * a {@link ResolvedProfile}: every distinct stack symbolized once, frames
 * shared between stacks, lost and truncated stacks as synthetic frames.
 *
 * Work is per distinct stack and per distinct address, never per sample:
 * a 10 s profile at 10 kHz on every CPU has 200,000 samples but only as
 * many stacks as the code it ran has distinct call paths.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProfileParser } from "../parser/wasm_parser.ts";
 * import { referenceEncodeSamples } from "../parser/reference_decoder.ts";
 * import { StackProfile } from "../profiler/stack_profile.ts";
 * import { Symbolizer } from "../symbols/mod.ts";
 * import { ProcessNames } from "./process_names.ts";
 * import { resolveProfile } from "./resolve.ts";
 * const parser = await ProfileParser.create();
 * parser.walk(referenceEncodeSamples([{
 *   event: { timestampNs: 1n, pid: 7, tid: 7, userStackId: 0, kernelStackId: 0, cpu: 0, flags: 0 },
 *   user: -14, kernel: [],
 * }]), { toAggregate: true });
 * const stacks = new StackProfile();
 * stacks.absorb(parser);
 * const sym = new Symbolizer();
 * const p = resolveProfile(stacks, sym, new ProcessNames());
 * sym.close();
 * assert.equal(p.totalSamples, 1);
 * assert.equal(p.frames[p.samples[0].stack[0]].name, "[user stack lost: fault]");
 * ```
 * @module
 */
import { STACK_DEPTH, StackId } from "../parser/layout.ts";
import type { StackProfile } from "../profiler/stack_profile.ts";
import {
  emptyConsumed,
  reconcile,
  type Reconciliation,
} from "../profiler/reconcile.ts";
import { zeroCounters } from "../bpf/profiler_object.ts";
import type { Frame, MappingInfo, Symbolizer } from "../symbols/mod.ts";
import type {
  ProfileFrame,
  ProfileMapping,
  ProfileMeta,
  ProfileSample,
  ResolvedProfile,
  TimelineSample,
} from "./model.ts";
import type { ProcessNames } from "./process_names.ts";

/** The synthetic frames, by what they stand for. */
export const LOST_FRAMES = {
  userFault: "[user stack lost: fault]",
  kernelFault: "[kernel stack lost: fault]",
  notCollected: "[stacks not collected]",
  noStack: "[no stack]",
  truncated: "[stack truncated]",
} as const;

/** Options of {@link resolveProfile}. */
export interface ResolveOptions {
  /** What the profile is of (defaults: this machine, now, unknown rate). */
  meta?: Partial<ProfileMeta>;
  /** The session's reconciliation (default: one computed from nothing). */
  reconciliation?: Reconciliation;
  /** Keep the per-sample timeline (the StackProfile must have one). */
  timeline?: boolean;
  /** Boot-time ns of the first sample, for timeline offsets (default: the first's). */
  startNs?: number;
}

/**
 * Resolves every stack of `stacks` with `sym`, names from `names`, as one
 * pass of the symbolizer (each perf map read at most once).
 */
export function resolveProfile(
  stacks: StackProfile,
  sym: Symbolizer,
  names: ProcessNames,
  o: ResolveOptions = {},
): ResolvedProfile {
  return sym.pass(() => resolveAll(stacks, sym, names, o));
}

function resolveAll(
  stacks: StackProfile,
  sym: Symbolizer,
  names: ProcessNames,
  o: ResolveOptions,
): ResolvedProfile {
  const frames: ProfileFrame[] = [];
  const frameIds = new Map<string, number>();
  const mappings: ProfileMapping[] = [];
  const mappingIds = new Map<string, number>();
  const unnamed: Record<string, number> = {};

  // The symbolizer hands out one MappingInfo object per mapping (until the
  // process's maps are read again), so most frames find theirs by object;
  // the key string (with a BigInt in it) is made once per object.
  const mappingByInfo = new Map<MappingInfo, number>();
  const mappingIndex = (pid: number, m: MappingInfo): number => {
    let id = mappingByInfo.get(m);
    if (id !== undefined) return id;
    const key = `${pid}|${m.start}|${m.file}`;
    id = mappingIds.get(key);
    if (id === undefined) {
      id = mappings.length;
      mappings.push({ pid, ...m });
      mappingIds.set(key, id);
    }
    mappingByInfo.set(m, id);
    return id;
  };
  const synthetic = (name: string): number => {
    const key = `lost|${name}`;
    let id = frameIds.get(key);
    if (id === undefined) {
      id = frames.length;
      frames.push({
        name,
        module: "[streamprof]",
        kind: "lost",
        symbolized: false,
      });
      frameIds.set(key, id);
    }
    return id;
  };
  // One profile frame per (address space, address, position): the sampled
  // IP is looked up as is, a return address at addr - 1, so the two can
  // name different functions. Keyed by BigInt in a Map per space (no
  // string per frame: a 10 s profile at 10 kHz has 600,000 frame slots
  // and 60,000 distinct frames).
  const leafFrames = new Map<number, Map<bigint, number>>();
  const callerFrames = new Map<number, Map<bigint, number>>();
  const named: boolean[] = [];
  const memoOf = (m: Map<number, Map<bigint, number>>, space: number) => {
    let x = m.get(space);
    if (!x) m.set(space, x = new Map());
    return x;
  };
  const addFrame = (f: Frame, pid: number): number => {
    const id = frames.length;
    // Field by field: only these of the symbolizer's Frame, in one order.
    const pf: ProfileFrame = {
      name: f.name,
      module: f.module,
      kind: f.kind,
      symbolized: f.symbolized,
      address: f.address,
    };
    if (f.kind !== "kernel") pf.pid = pid;
    if (f.mapping) pf.mapping = mappingIndex(pid, f.mapping);
    if (f.fileOffset !== undefined) pf.fileOffset = f.fileOffset;
    if (f.file !== undefined) pf.file = f.file;
    if (f.line !== undefined) pf.line = f.line;
    if (f.inlined && f.inlined.length > 0) pf.inlined = f.inlined;
    if (!f.symbolized) {
      const r = f.reason ?? "unknown";
      unnamed[r] = (unnamed[r] ?? 0) + 1;
    }
    frames.push(pf);
    named[id] = f.symbolized;
    return id;
  };

  // Each distinct stack once: its frames, and whether all are named. Only
  // addresses not met before go to the symbolizer, in one call per stack.
  const resolved = new Map<number, { ids: number[]; named: boolean }>();
  let kernelLooked = false;
  const stackFrames = (id: number) => {
    let r = resolved.get(id);
    if (r) return r;
    const s = stacks.stack(id);
    const space = s.pid;
    const leaf = memoOf(leafFrames, space);
    const caller = memoOf(callerFrames, space);
    const n = s.frames.length;
    const ids: number[] = new Array(n);
    const missing: number[] = [];
    for (let i = 0; i < n; i++) {
      const known = (i === 0 ? leaf : caller).get(s.frames[i]);
      if (known === undefined) missing.push(i);
      else ids[i] = known;
    }
    if (missing.length > 0) {
      const lookup = (addrs: bigint[], leafIsExact: boolean) => {
        if (space >= 0) return sym.user(space, addrs, { leafIsExact });
        kernelLooked = true;
        return sym.kernel(addrs, { leafIsExact });
      };
      const leafMissing = missing[0] === 0;
      if (leafMissing) {
        const [f] = lookup([s.frames[0]], true);
        leaf.set(s.frames[0], ids[0] = addFrame(f, space));
      }
      const rest = leafMissing ? missing.slice(1) : missing;
      if (rest.length > 0) {
        const fs = lookup(rest.map((i) => s.frames[i]), false);
        rest.forEach((i, j) => {
          // A repeated address within the stack (recursion) is one frame.
          const again = caller.get(s.frames[i]);
          if (again !== undefined) ids[i] = again;
          else caller.set(s.frames[i], ids[i] = addFrame(fs[j], space));
        });
      }
    }
    r = { ids, named: ids.every((f) => named[f]) };
    if (n >= STACK_DEPTH) ids.push(synthetic(LOST_FRAMES.truncated));
    resolved.set(id, r);
    return r;
  };
  /**
   * One walk's frames (the kernel's or the user's): its stack's, one lost
   * frame `fault` when the walk faulted, none when there is no stack.
   */
  const emptyWalk: { ids: number[]; named: boolean } = { ids: [], named: true };
  const walkFrames = (stack: number, fault: string) =>
    stack >= 0
      ? stackFrames(stack)
      : stack === StackId.FAULT
      ? { ids: [synthetic(fault)], named: false }
      : emptyWalk;
  /** The leaf-first frames of a sample, and whether all are real names. */
  const sampleStack = (user: number, kernel: number) => {
    if (user === StackId.NOT_COLLECTED) {
      return { ids: [synthetic(LOST_FRAMES.notCollected)], named: false };
    }
    const k = walkFrames(kernel, LOST_FRAMES.kernelFault);
    const u = walkFrames(user, LOST_FRAMES.userFault);
    if (k.ids.length + u.ids.length === 0) {
      return { ids: [synthetic(LOST_FRAMES.noStack)], named: false };
    }
    return { ids: [...k.ids, ...u.ids], named: k.named && u.named };
  };

  const samples: ProfileSample[] = [];
  let total = 0;
  let fully = 0;
  const memo = new Map<string, { ids: number[]; named: boolean }>();
  for (const s of stacks.samples) {
    const key = `${s.userStack}/${s.kernelStack}`;
    let st = memo.get(key);
    if (!st) {
      st = sampleStack(s.userStack, s.kernelStack);
      memo.set(key, st);
    }
    samples.push({
      pid: s.pid,
      tid: s.tid,
      cpu: s.cpu,
      comm: names.comm(s.pid),
      thread: names.thread(s.tid, s.pid),
      count: s.samples,
      stack: st.ids,
    });
    total += s.samples;
    if (st.named) fully += s.samples;
  }

  let timeline: TimelineSample[] | undefined;
  const t = stacks.timeline;
  if (o.timeline && t) {
    timeline = new Array(t.length);
    const start = o.startNs ?? (t.length > 0 ? t.timestamps[0] : 0);
    for (let i = 0; i < t.length; i++) {
      const key = `${t.userStacks[i]}/${t.kernelStacks[i]}`;
      let st = memo.get(key);
      if (!st) {
        st = sampleStack(t.userStacks[i], t.kernelStacks[i]);
        memo.set(key, st);
      }
      timeline[i] = {
        offsetNs: t.timestamps[i] - start,
        pid: t.pids[i],
        tid: t.tids[i],
        stack: st.ids,
      };
    }
  }

  const st = sym.stats();
  // Only a profile with kernel frames asks: the warning loads kallsyms
  // (~100 ms of CPU), which a user-only profile never needs.
  const kw = kernelLooked ? sym.kernelWarning() : undefined;
  return {
    meta: {
      host: Deno.hostname(),
      kernel: Deno.osRelease(),
      arch: Deno.build.arch,
      startTimeNs: Date.now() * 1e6,
      durationNs: 0,
      frequencyHz: 0,
      cpus: navigator.hardwareConcurrency,
      targetPid: null,
      targetTid: null,
      ...o.meta,
    },
    frames,
    mappings,
    samples,
    totalSamples: total,
    reconciliation: o.reconciliation ??
      reconcile(
        { ...zeroCounters(), samplesSeen: total, eventsSubmitted: total },
        { ...emptyConsumed(), events: total, noFrames: total },
      ),
    symbolization: {
      fullySymbolizedSamples: fully,
      samples: total,
      unnamedFrames: unnamed,
      kernelWarning: kw ? kw.message : undefined,
      cacheBytes: st.cacheBytes,
    },
    timeline,
  };
}
