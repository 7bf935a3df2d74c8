/**
 * The live view's whole data path without a kernel or a browser: records
 * go through the feed (cut into chunks, counted, named with a real
 * symbolizer), then through the page's own decoder (parser.wasm driven by
 * record_walker.js, aggregated by live_profile.js); the flame graph tree
 * the page would draw must be the one the profiler's own resolution gives
 * for the same records, sample for sample, and every count must agree.
 */
import assert from "node:assert";
import { EVENT_SIZE, MODULE_ABI } from "../parser/layout.ts";
import { referenceEncodeSamples } from "../parser/reference_decoder.ts";
import type { ReferenceSample } from "../parser/reference_decoder.ts";
import { ProfileParser } from "../parser/wasm_parser.ts";
import { StackProfile } from "../profiler/stack_profile.ts";
import { ProcessNames } from "../profile/process_names.ts";
import { LOST_FRAMES, resolveProfile } from "../profile/resolve.ts";
import type { LiveRun } from "../profile/run_profile.ts";
import { Symbolizer } from "../symbols/mod.ts";
import { profileFlameTree } from "../export/flamegraph/html.ts";
import type { FlameTree } from "../export/flamegraph/flame_tree.js";
import { LiveFeed } from "./feed.ts";
import { livePageConfig } from "./page.ts";
import { decodeChunk } from "./page/protocol.js";
import { LiveProfile } from "./page/live_profile.js";
import { RecordWalker } from "./page/record_walker.js";

/** Root-first name paths of every node with self samples -> those samples. */
function leaves(t: FlameTree): Map<string, number> {
  const out = new Map<string, number>();
  const path: string[] = [];
  let childSum = new Array(t.nodeFrame.length).fill(0);
  const parent: number[] = [];
  const stack: number[] = [];
  t.nodeFrame.forEach((_, i) => {
    while (stack.length > t.nodeDepth[i]) stack.pop();
    parent[i] = stack.at(-1) ?? -1;
    if (parent[i] >= 0) childSum[parent[i]] += t.nodeTotal[i];
    stack.push(i);
  });
  t.nodeFrame.forEach((f, i) => {
    path.length = t.nodeDepth[i];
    path[t.nodeDepth[i]] = t.frames[f].name;
    const self = t.nodeTotal[i] - childSum[i];
    if (self > 0) out.set(path.slice(1).join(";"), self);
  });
  childSum = [];
  return out;
}

/** Samples of made-up processes: deep, shallow, kernel, lost, truncated. */
function samples(): ReferenceSample[] {
  const out: ReferenceSample[] = [];
  let ts = 1_000_000_000n;
  const ev = (pid: number, cpu: number) => ({
    timestampNs: ts += 1_000_000n,
    pid,
    tid: pid + (cpu % 2),
    userStackId: 0,
    kernelStackId: 0,
    cpu,
    flags: 0,
  });
  for (let i = 0; i < 3000; i++) {
    const pid = 4_000_000 + (i % 3); // no such processes: named as gone
    const depth = 2 + (i % 9);
    const user = Array.from(
      { length: depth },
      (_, d) => 0x400000n + BigInt(((i >> d) & 7) * 64 + d * 4096),
    );
    const kernel = i % 4 === 0
      ? [0xffffffff81000000n + BigInt(i % 5) * 32n]
      : [];
    out.push({ event: ev(pid, i % 4), user, kernel });
  }
  out.push({ event: ev(4_000_000, 0), user: -14, kernel: [] }); // user fault
  out.push({ event: ev(4_000_001, 1), user: [0x401000n], kernel: -14 });
  out.push({
    event: ev(4_000_002, 0),
    user: [],
    kernel: [0xffffffff81000040n],
  });
  out.push({
    event: ev(4_000_002, 1),
    user: Array.from({ length: 127 }, (_, d) => 0x500000n + BigInt(d) * 16n),
    kernel: [],
  });
  return out;
}

Deno.test("live pipeline: the page's tree and counts equal the profiler's own, through chunks and table cuts", async () => {
  const records: Uint8Array[] = [];
  const all = samples();
  for (let i = 0; i < all.length; i += 500) {
    records.push(referenceEncodeSamples(all.slice(i, i + 500)));
  }

  // The profiler's own path.
  const parser = await ProfileParser.create({
    batchCapacity: 8192,
    inputBytes: 4 << 20,
  });
  const stacks = new StackProfile();
  for (const r of records) {
    parser.walk(r, { toAggregate: true });
    stacks.absorb(parser);
    parser.cutTables();
  }
  const sym = new Symbolizer();
  const names = new ProcessNames();
  try {
    const profile = resolveProfile(stacks, sym, names);
    const expected = leaves(profileFlameTree(profile));

    // The live path: feed (small chunks), then the page's decoder with small
    // tables, so both cut and continue.
    const config = await livePageConfig({ chunkBytes: 8192 });
    const messages: (Uint8Array | Record<string, unknown>)[] = [];
    const offered: number[] = [];
    const feed = await LiveFeed.create({
      offer: (m, _seq, events) => {
        messages.push(m);
        offered.push(events);
      },
      broadcast: (m) => messages.push(m as Record<string, unknown>),
      sendCounters: () => {},
    }, { chunkBytes: 8192 });
    feed.attach(
      { symbolizer: sym, names, session: undefined } as unknown as LiveRun,
    );
    for (const r of records) feed.onSpan(r);
    feed.tick();

    const walker = await RecordWalker.create(
      await Deno.readFile(
        new URL("../../parser-wasm/build/parser.wasm", import.meta.url),
      ),
      { ...MODULE_ABI, EVENT_SIZE },
      { inputBytes: 8192, stacks: 64, frames: 2048, aggregates: 64 },
    );
    const live = new LiveProfile({
      lostFrames: LOST_FRAMES,
      stackDepth: config.stackDepth as number,
      stackId: config.stackId as LiveProfile["config"]["stackId"],
    });
    walker.onTablesFull = () => live.absorb(walker);
    let decoded = 0, cuts = 0, chunks = 0;
    for (const m of messages) {
      if (m instanceof Uint8Array) {
        const c = decodeChunk(m.slice().buffer)!;
        const r = walker.walk(c.records);
        assert.equal(r.events, c.events, `chunk ${c.seq}`);
        assert.equal(r.undecoded, 0);
        decoded += r.events;
        cuts += r.tableCuts;
        chunks++;
      } else if (m.t === "symbols") {
        live.addSymbols(m.entries as [string, string, string, string][]);
      } else if (m.t === "processes") {
        live.addProcesses(m.entries as [number, string][]);
      }
    }
    live.absorb(walker);
    walker.cut();

    assert.ok(chunks > records.length, "spans were cut into several chunks");
    assert.ok(cuts > 0, "the page's tables filled and were cut");
    assert.equal(decoded, all.length);
    assert.equal(feed.totals.events, all.length);
    assert.equal(offered.reduce((a, b) => a + b, 0), all.length);
    assert.equal(feed.totals.undecoded, 0);
    assert.equal(live.totalSamples, profile.totalSamples);
    assert.deepEqual(leaves(live.tree()), expected);
    // Lost and truncated stacks are there, as the profiler names them.
    const keys = [...expected.keys()].join("\n");
    for (
      const f of [
        LOST_FRAMES.userFault,
        LOST_FRAMES.kernelFault,
        LOST_FRAMES.truncated,
      ]
    ) {
      assert.ok(keys.includes(f), f);
    }
  } finally {
    sym.close();
  }
});
