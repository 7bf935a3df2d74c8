/**
 * Resolved profiles made up in memory, for the exporters' tests, doc
 * examples and the flame graph benchmark: a small one with user, kernel
 * and lost frames, and a large one with as many distinct stacks as asked.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { exampleProfile, syntheticProfile } from "./test_profile.ts";
 * assert.equal(exampleProfile().totalSamples, 4);
 * assert.equal(syntheticProfile({ stacks: 1000 }).samples.length, 1001); // + 1 lost
 * ```
 * @module
 */
import { zeroCounters } from "../bpf/profiler_object.ts";
import type {
  ProfileFrame,
  ProfileMeta,
  ResolvedProfile,
  TimelineSample,
} from "../profile/model.ts";
import { emptyConsumed, reconcile } from "../profiler/reconcile.ts";

/** The reconciliation of `n` consumed samples, all with frames, nothing lost. */
function reconciled(n: number, userFaults = 0) {
  const c = { ...emptyConsumed(), events: n };
  c.userStacks = {
    resolved: n - userFaults,
    truncated: 0,
    empty: 0,
    fault: userFaults,
  };
  c.kernelStacks = { resolved: 0, truncated: 0, empty: n, fault: 0 };
  return reconcile(
    {
      ...zeroCounters(),
      samplesSeen: n,
      eventsSubmitted: n,
      userStackErrors: userFaults,
      kernelStackEmpty: n,
    },
    c,
  );
}

function meta(durationNs: number): ProfileMeta {
  return {
    host: "example",
    kernel: "6.18.0-example",
    arch: "x86_64",
    startTimeNs: 1_764_000_000_000_000_000,
    durationNs,
    frequencyHz: 99,
    cpus: 2,
    targetPid: null,
    targetTid: null,
  };
}

/**
 * A small profile: process `app` (pid 100) spent 3 samples in
 * main -> work -> spin and 1 in main -> work -> write -> ksys_write (a
 * kernel frame), in time order spin, write, spin, spin.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { exampleProfile } from "./test_profile.ts";
 * const p = exampleProfile();
 * assert.deepEqual(p.samples.map((s) => s.count), [3, 1]);
 * assert.equal(p.timeline!.length, 4);
 * ```
 */
export function exampleProfile(): ResolvedProfile {
  const user = (name: string, address: bigint, module = "/usr/bin/app") => ({
    name,
    module,
    kind: "user" as const,
    symbolized: true,
    address,
    pid: 100,
    mapping: module === "/usr/bin/app" ? 0 : 1,
    fileOffset: address - 0x400000n,
  });
  const frames: ProfileFrame[] = [
    user("spin", 0x401010n),
    user("work", 0x401100n),
    user("main", 0x401200n),
    user("write", 0x7f0000001000n, "/usr/lib/libc.so.6"),
    {
      name: "ksys_write",
      module: "[kernel.kallsyms]",
      kind: "kernel",
      symbolized: true,
      address: 0xffffffff81234567n,
    },
  ];
  const period = Math.round(1e9 / 99);
  const timeline: TimelineSample[] = [
    { offsetNs: 0, pid: 100, tid: 100, stack: [0, 1, 2] },
    { offsetNs: period, pid: 100, tid: 100, stack: [4, 3, 1, 2] },
    { offsetNs: 3 * period, pid: 100, tid: 100, stack: [0, 1, 2] },
    { offsetNs: 4 * period, pid: 100, tid: 100, stack: [0, 1, 2] },
  ];
  return {
    meta: meta(5 * period),
    frames,
    mappings: [
      {
        pid: 100,
        start: 0x400000n,
        limit: 0x402000n,
        offset: 0n,
        file: "/usr/bin/app",
        buildId: "0123456789abcdef",
      },
      {
        pid: 100,
        start: 0x7f0000000000n,
        limit: 0x7f0000100000n,
        offset: 0n,
        file: "/usr/lib/libc.so.6",
      },
    ],
    samples: [
      {
        pid: 100,
        tid: 100,
        cpu: 0,
        comm: "app",
        thread: "app",
        count: 3,
        stack: [0, 1, 2],
      },
      {
        pid: 100,
        tid: 100,
        cpu: 1,
        comm: "app",
        thread: "app",
        count: 1,
        stack: [4, 3, 1, 2],
      },
    ],
    totalSamples: 4,
    reconciliation: reconciled(4),
    symbolization: {
      fullySymbolizedSamples: 4,
      samples: 4,
      unnamedFrames: {},
      cacheBytes: 0,
    },
    timeline,
  };
}

/** Options of {@link syntheticProfile}. */
export interface SyntheticOptions {
  /** Distinct stacks (each a sample of its own). */
  stacks: number;
  /** Children per call-tree node (default 8). */
  fanout?: number;
  /** Threads the samples are spread over (default 4). */
  threads?: number;
  /** Frames per level of the tree (default 2: a branch, then a callee). */
  chain?: number;
}

/**
 * A profile with `stacks` distinct stacks: a call tree that branches
 * `fanout` ways per level (function names `f<level>_<branch>`, each
 * followed by `chain - 1` callees `f<level>_<branch>_<k>`), one stack
 * per leaf path, each with 1-10 samples, plus kernel leaves on a tenth of
 * them and one lost-stack sample. For benchmarks and stress tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { syntheticProfile } from "./test_profile.ts";
 * const p = syntheticProfile({ stacks: 64, fanout: 4 });
 * assert.equal(new Set(p.samples.map((s) => s.stack.join())).size, 64 + 1); // + the lost stack
 * ```
 */
export function syntheticProfile(o: SyntheticOptions): ResolvedProfile {
  const fanout = o.fanout ?? 8;
  const threads = o.threads ?? 4;
  const chain = o.chain ?? 2;
  const frames: ProfileFrame[] = [];
  const ids = new Map<string, number>();
  const frame = (name: string, kind: ProfileFrame["kind"]) => {
    let id = ids.get(name);
    if (id === undefined) {
      id = frames.length;
      frames.push({
        name,
        module: kind === "kernel"
          ? "[kernel.kallsyms]"
          : kind === "lost"
          ? "[streamprof]"
          : "/usr/bin/synthetic",
        kind,
        symbolized: kind !== "lost",
        address: kind === "lost"
          ? undefined
          : (kind === "kernel" ? 0xffffffff81000000n : 0x400000n) +
            BigInt(id * 16),
      });
      ids.set(name, id);
    }
    return id;
  };
  const depth = Math.max(1, Math.ceil(Math.log(o.stacks) / Math.log(fanout)));
  const main = frame("main", "user");
  const samples: ResolvedProfile["samples"] = [];
  let total = 0;
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let s = 0; s < o.stacks; s++) {
    const rootFirst = [main];
    let x = s;
    for (let level = 0; level < depth; level++) {
      const b = `f${level}_${x % fanout}`;
      rootFirst.push(frame(b, "user"));
      for (let k = 1; k < chain; k++) {
        rootFirst.push(frame(`${b}_${k}`, "user"));
      }
      x = Math.floor(x / fanout);
    }
    if (s % 10 === 0) rootFirst.push(frame("do_syscall_64", "kernel"));
    const count = 1 + (rand() % 10);
    const tid = 1000 + (s % threads);
    samples.push({
      pid: 1000,
      tid,
      cpu: s % 2,
      comm: "synthetic",
      thread: `worker-${tid - 1000}`,
      count,
      stack: rootFirst.reverse(),
    });
    total += count;
  }
  samples.push({
    pid: 1000,
    tid: 1000,
    cpu: 0,
    comm: "synthetic",
    thread: "worker-0",
    count: 1,
    stack: [frame("[user stack lost: fault]", "lost")],
  });
  total += 1;
  return {
    meta: meta(10e9),
    frames,
    mappings: [],
    samples,
    totalSamples: total,
    reconciliation: reconciled(total, 1),
    symbolization: {
      fullySymbolizedSamples: total - 1,
      samples: total,
      unnamedFrames: {},
      cacheBytes: 0,
    },
  };
}
