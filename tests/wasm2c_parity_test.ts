/**
 * Parity of the two hosts of the one parser module: parser-wasm's
 * parser.wasm run by V8 in Deno, and the same module compiled to C by wasm2c
 * (harness-c/build/streamprof-wasm2c-walk). Both must report the same
 * statistics, per-CPU counts, batch events, committedBytes() and overwrite
 * ring for every input:
 *
 * - more than 10,000 seeded random and mutated record streams (valid
 *   records, discards, short/long/oversized lengths, BUSY headers, cut
 *   tails, garbage, bit flips; both sinks; stream state kept or reset), all
 *   walked by the C side in one process call;
 * - real ring data (needs root and BPF): the events of a live
 *   ProfilerSession re-encoded with `encodeRecords`, and raw ring spans as
 *   the kernel wrote them (headers with their real page offsets), recorded
 *   by `streamprof-consumer-c --decoder wasm2c --record`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ProfileParser } from "../lib/parser/wasm_parser.ts";
import type { ProfileEvent } from "../lib/parser/profile_event.ts";
import type { WalkStats } from "../lib/parser/walk_stats.ts";
import { ProfilerSession } from "../lib/profiler/session.ts";
import { bpfIgnore } from "./kernel/require_bpf.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WALK_TOOL = `${ROOT}harness-c/build/streamprof-wasm2c-walk`;
const CONSUMER = `${ROOT}harness-c/build/streamprof-consumer-c`;
const BURN = `${ROOT}harness-c/build/streamprof-burn`;

/** Parser layout used by both sides (small batch and ring on purpose). */
const CONFIG = { ringCapacity: 1000, batchCapacity: 64, inputBytes: 65536 };
const SINK_RING = 1, SINK_BATCH = 2;
const RESET = 1;

/** One walk of the corpus: flags bit 0 = reset stream, bits 1-2 = sinks. */
interface Entry {
  flags: number;
  bytes: Uint8Array;
}

/**
 * What one walk produced, in the C tool's JSON shape: every WalkStats field
 * (so a field added there must be printed by the C tool too), perCpu as
 * [cpu, events, outOfOrder] triples, and what the statistics do not hold.
 */
interface WalkLine extends Omit<WalkStats, "perCpu"> {
  i: number;
  /** committedBytes() of the same bytes (reads headers only). */
  committed: number;
  perCpu: number[][];
  batch: string[];
  ring: number[];
}

// ---------------------------------------------------------------------------
// Seeded randomness (mulberry32): the corpus is the same on every run.

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function eventHex(e: ProfileEvent): string {
  const b = new Uint8Array(32);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, e.timestampNs, true);
  v.setInt32(8, e.pid, true);
  v.setInt32(12, e.tid, true);
  v.setInt32(16, e.userStackId, true);
  v.setInt32(20, e.kernelStackId, true);
  v.setUint32(24, e.cpu, true);
  v.setUint32(28, e.flags, true);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A random record stream with every kind of damage, sometimes none. */
function randomStream(r: () => number, real: Uint8Array | null): Uint8Array {
  const u32 = () => (r() * 4294967296) >>> 0;
  // Some long streams with only skippable damage, so batches fill up.
  const long = r() < 0.3;
  const out = new Uint8Array(
    Math.floor(r() * (long ? 12288 : 4096)) + (long ? 4096 : 64),
  );
  const v = new DataView(out.buffer);
  const style = r();
  let n = 0;
  if (real && style < 0.25) {
    // A slice of real ring bytes at a record boundary, then mutations.
    const records = real.byteLength / 40;
    const from = Math.floor(r() * records) * 40;
    const len = Math.min(out.byteLength, real.byteLength - from);
    out.set(real.subarray(from, from + len));
    n = len - (len % 40);
  } else {
    let ts = BigInt(u32()) * (r() < 0.2 ? 0x100000000n : 1n);
    while (n + 48 <= out.byteLength && r() > (long ? 0.002 : 0.02)) {
      const kind = long ? r() * 0.9 : r();
      if (kind < 0.75) {
        v.setUint32(n, 32, true);
        v.setUint32(n + 4, r() < 0.8 ? 0 : u32(), true);
        ts += BigInt(Math.floor(r() * 2000)) - (r() < 0.05 ? 5000n : 0n);
        if (ts < 0n) ts = 0n;
        // Both halves of the timestamp matter; sometimes past 2^53.
        v.setBigUint64(
          n + 8,
          r() < 0.03 ? (BigInt(u32()) << 32n) | BigInt(u32()) : ts,
          true,
        );
        v.setInt32(n + 16, u32() & 0xffff, true);
        v.setInt32(n + 20, u32() & 0xffff, true);
        v.setInt32(
          n + 24,
          r() < 0.1 ? -Math.floor(r() * 20) : u32() & 4095,
          true,
        );
        v.setInt32(n + 28, r() < 0.1 ? -17 : u32() & 4095, true);
        v.setUint32(
          n + 32,
          r() < 0.03 ? 1024 + Math.floor(r() * 4096) : Math.floor(r() * 8),
          true,
        );
        v.setUint32(n + 36, r() < 0.9 ? u32() & 31 : u32(), true);
        n += 40;
      } else if (kind < 0.82) {
        const len = Math.floor(r() * 80);
        v.setUint32(n, len | 0x40000000, true); // discarded
        n += (len + 15) & ~7;
      } else if (kind < 0.9) {
        const len = r() < 0.5
          ? Math.floor(r() * 32)
          : 33 + Math.floor(r() * 40);
        v.setUint32(n, len, true);
        n += (len + 15) & ~7;
      } else if (kind < 0.93) {
        v.setUint32(n, 32 | 0x80000000, true); // BUSY
        n += 40;
      } else if (kind < 0.96) {
        v.setUint32(n, u32(), true); // any header at all
        v.setUint32(n + 4, u32(), true);
        n += 8;
      } else {
        v.setUint32(n, 0x3fffff00 + Math.floor(r() * 255), true); // huge
        n += 8;
      }
      if (n > out.byteLength) n = out.byteLength;
    }
  }
  const flips = style > 0.7 ? Math.floor(r() * 6) : 0;
  for (let i = 0; i < flips && n > 0; i++) {
    out[Math.floor(r() * n)] ^= 1 << Math.floor(r() * 8);
  }
  if (r() < 0.1) n = Math.max(0, n - 1 - Math.floor(r() * 7)); // cut the tail
  if (r() < 0.02) n = Math.floor(r() * 16); // tiny inputs, empty too
  return out.slice(0, Math.min(n, out.byteLength));
}

/** The seeded fuzz corpus: `count` walks, state kept or reset at random. */
function fuzzCorpus(count: number, real: Uint8Array | null): Entry[] {
  const r = rng(0x5eed2c);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const sinks = 1 + Math.floor(r() * 3); // ring, batch, or both
    entries.push({
      flags: (r() < 0.25 ? RESET : 0) | ((r() < 0.05 ? 0 : sinks) << 1),
      bytes: randomStream(r, real),
    });
  }
  return entries;
}

/** Record bytes cut into consecutive walks of at most `perWalk` records. */
function streamEntries(bytes: Uint8Array, perWalk: number): Entry[] {
  const out: Entry[] = [];
  const step = perWalk * 40;
  for (let at = 0; at < bytes.byteLength; at += step) {
    out.push({
      flags: (at === 0 ? RESET : 0) | ((SINK_RING | SINK_BATCH) << 1),
      bytes: bytes.subarray(at, Math.min(at + step, bytes.byteLength)),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The two hosts.

function corpusFile(entries: Entry[]): Uint8Array {
  const size = 24 + entries.reduce((s, e) => s + 8 + e.bytes.byteLength, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x43575053, true); // "SPWC"
  v.setUint32(4, 1, true);
  v.setUint32(8, CONFIG.ringCapacity, true);
  v.setUint32(12, CONFIG.batchCapacity, true);
  v.setUint32(16, CONFIG.inputBytes, true);
  let at = 24;
  for (const e of entries) {
    v.setUint32(at, e.flags, true);
    v.setUint32(at + 4, e.bytes.byteLength, true);
    out.set(e.bytes, at + 8);
    at += 8 + e.bytes.byteLength;
  }
  return out;
}

async function walkInC(
  entries: Entry[],
): Promise<{ walks: WalkLine[]; ring: string[] }> {
  try {
    Deno.statSync(WALK_TOOL);
  } catch {
    throw new Error(
      `${WALK_TOOL} is missing: build it with 'make build-harness'`,
    );
  }
  const file = await Deno.makeTempFile({ suffix: ".spwc" });
  try {
    await Deno.writeFile(file, corpusFile(entries));
    const out = await new Deno.Command(WALK_TOOL, {
      args: ["--corpus", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `streamprof-wasm2c-walk failed: ${err}`);
    const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    const final = JSON.parse(lines.pop()!);
    assert.equal(final.final, true, "the C tool printed no final ring line");
    return { walks: lines.map((l) => JSON.parse(l)), ring: final.ring };
  } finally {
    await Deno.remove(file);
  }
}

async function walkInDeno(
  entries: Entry[],
): Promise<{ walks: WalkLine[]; ring: string[] }> {
  const p = await ProfileParser.create(CONFIG);
  // With no mapping area the input area is the last region: walk() copies
  // each input there, and committedAt() reads the same bytes in place.
  const inputAt = p.heapTop - p.inputBytes;
  const walks: WalkLine[] = entries.map((e, i) => {
    if (e.flags & RESET) p.resetStream();
    const sinks = e.flags >> 1;
    const s = p.walk(e.bytes, {
      toRing: (sinks & SINK_RING) !== 0,
      toBatch: (sinks & SINK_BATCH) !== 0,
    });
    const len = p.ring.length;
    const pushed = len + p.ring.overwritten;
    return {
      i,
      committed: p.committedAt(inputAt, e.bytes.byteLength),
      consumed: s.consumed,
      events: s.events,
      discarded: s.discarded,
      malformed: s.malformed,
      shortRecords: s.shortRecords,
      longRecords: s.longRecords,
      pastEnd: s.pastEnd,
      stop: s.stop,
      outOfOrder: s.outOfOrder,
      badCpu: s.badCpu,
      perCpu: [...s.perCpu].map(([cpu, c]) => [cpu, c.events, c.outOfOrder]),
      batch: p.batchEvents().map(eventHex),
      // head = pushes mod capacity (nothing here clears the ring)
      ring: [len, pushed % p.ring.capacity, p.ring.overwritten],
    };
  });
  return { walks, ring: p.ring.snapshot().map(eventHex) };
}

function hex(b: Uint8Array, max = 96): string {
  const s = Array.from(
    b.subarray(0, max),
    (x) => x.toString(16).padStart(2, "0"),
  )
    .join("");
  return b.byteLength > max ? `${s}... (${b.byteLength} bytes)` : s;
}

async function assertParity(
  entries: Entry[],
  what: string,
): Promise<WalkLine[]> {
  const [c, d] = await Promise.all([walkInC(entries), walkInDeno(entries)]);
  assert.equal(c.walks.length, entries.length, `${what}: walks from C`);
  const bad: string[] = [];
  for (let i = 0; i < entries.length && bad.length < 5; i++) {
    try {
      assert.deepStrictEqual(c.walks[i], d.walks[i]);
    } catch {
      bad.push(
        `walk ${i} (flags ${entries[i].flags}, input ${
          hex(entries[i].bytes)
        }):\n  C:    ${JSON.stringify(c.walks[i]).slice(0, 400)}\n  Deno: ${
          JSON.stringify(d.walks[i]).slice(0, 400)
        }`,
      );
    }
  }
  assert.equal(bad.length, 0, `${what}: hosts differ\n${bad.join("\n")}`);
  assert.deepStrictEqual(c.ring, d.ring, `${what}: final overwrite rings`);
  return d.walks;
}

// ---------------------------------------------------------------------------

Deno.test("wasm2c parity: 12,000 seeded random and mutated streams", async () => {
  const entries = fuzzCorpus(12000, null);
  const events = entries.reduce((s, e) => s + e.bytes.byteLength, 0) / 40;
  assert.ok(events > 100000, `corpus too small: ~${events} records`);
  const walks = await assertParity(entries, "fuzz corpus");
  // The corpus must reach every path, or agreement proves little.
  const sum = (f: (w: WalkLine) => number) =>
    walks.reduce((s, w) => s + f(w), 0);
  const coverage = {
    events: sum((w) => w.events),
    discarded: sum((w) => w.discarded),
    short: sum((w) => w.shortRecords),
    long: sum((w) => w.longRecords),
    pastEnd: sum((w) => w.pastEnd),
    outOfOrder: sum((w) => w.outOfOrder),
    badCpu: sum((w) => w.badCpu),
    stopEnd: sum((w) => Number(w.stop === "end")),
    stopBusy: sum((w) => Number(w.stop === "busy")),
    stopPastEnd: sum((w) => Number(w.stop === "past-end")),
    stopBatchFull: sum((w) => Number(w.stop === "batch-full")),
    ringOverwrites: walks.at(-1)!.ring[2],
  };
  for (const [k, v] of Object.entries(coverage)) {
    assert.ok(v >= 100, `fuzz corpus reaches ${k} only ${v} times`);
  }
});

async function recordRawSpans(): Promise<Uint8Array> {
  const file = await Deno.makeTempFile({ suffix: ".ring" });
  const burn = new Deno.Command(BURN, {
    args: ["--duration", "2"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const out = await new Deno.Command(CONSUMER, {
      args: [
        "--decoder",
        "wasm2c",
        "--freq",
        "2000",
        "--duration",
        "1",
        "--record",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      out.code,
      0,
      `recording consumer failed: ${new TextDecoder().decode(out.stderr)}`,
    );
    return await Deno.readFile(file);
  } finally {
    try {
      burn.kill();
    } catch { /* already gone */ }
    await burn.status;
    await Deno.remove(file);
  }
}

Deno.test({
  name:
    "wasm2c parity: real ring data (session events re-encoded, raw kernel spans, mutations of them)",
  ignore: bpfIgnore,
  async fn() {
    // (1) Events of a live session, re-encoded as the kernel lays records.
    const events: ProfileEvent[] = [];
    const session = await ProfilerSession.start({
      frequency: 2000,
      onBatch: (p) => {
        for (const e of p.batchEvents()) events.push(e);
      },
    });
    const spin = Date.now() + 800;
    while (Date.now() < spin) { /* be sampled */ }
    const report = await session.stop();
    assert.ok(report.reconciliation.ok, report.reconciliation.line);
    assert.ok(events.length > 500, `only ${events.length} events sampled`);
    const enc = await ProfileParser.create({ batchCapacity: 4096 });
    const parts: Uint8Array[] = [];
    for (let i = 0; i < events.length; i += 4096) {
      parts.push(enc.encodeRecords(events.slice(i, i + 4096)));
    }
    const reencoded = new Uint8Array(events.length * 40);
    parts.reduce((at, p) => (reencoded.set(p, at), at + p.byteLength), 0);

    // (2) Raw spans exactly as the kernel wrote them.
    const raw = await recordRawSpans();
    assert.ok(raw.byteLength >= 40 * 500, `only ${raw.byteLength} raw bytes`);
    assert.equal(raw.byteLength % 40, 0, "raw spans are whole records");

    await assertParity(streamEntries(reencoded, 64), "re-encoded session");
    await assertParity(streamEntries(raw, 50), "raw kernel spans");
    // (3) Real bytes, mutated: slices of the raw spans with bit flips.
    await assertParity(fuzzCorpus(2000, raw), "mutated raw spans");
  },
});
