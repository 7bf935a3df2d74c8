/**
 * Parity of the two hosts of the one parser module: parser-wasm's
 * parser.wasm run by V8 in Deno, and the same module compiled to C by wasm2c
 * (harness-c/build/streamprof-wasm2c-walk). Both must report the same
 * statistics (the stack outcome and frame words included), per-CPU counts,
 * batch events (stack ids included), committedBytes(), overwrite ring and,
 * with tables, the same stack and aggregation tables, for every input:
 *
 * - more than 10,000 seeded random and mutated record streams (plain event
 *   records and records with frames built with referenceEncodeSamples, the
 *   "sample" piece of lib/parser/test_helpers.ts: resolved, truncated, empty
 *   and faulted stacks from a small pool, so stacks repeat; discards,
 *   short/long/oversized lengths, frame counts that do not match the length
 *   or exceed the depth, BUSY headers, cut tails, garbage, bit flips; every
 *   sink; stream state kept or reset), without tables and, in a second
 *   corpus, with tables small enough to fill (aggregation, tables-full
 *   stops, cuts), each walked by the C side in one process call;
 * - real ring data (needs root and BPF): the samples of a live
 *   ProfilerSession, frames and all, re-encoded with referenceEncodeSamples,
 *   and raw ring spans as the kernel wrote them (records with frames, real
 *   page offsets), recorded by `streamprof-consumer-c --decoder wasm2c
 *   --record`, with and without tables.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BUSY_BIT,
  DISCARD_BIT,
  EVENT_OFFSETS,
  EVENT_OFFSETS as O,
  EVENT_SIZE,
  EventFlags,
  MODULE_ABI as M,
  RECORD_HEADER_SIZE,
  RECORD_SIZE,
  STACK_DEPTH,
  StackId,
} from "../lib/parser/layout.ts";
import { ProfileParser } from "../lib/parser/wasm_parser.ts";
import type { ProfileEvent } from "../lib/parser/profile_event.ts";
import {
  referenceEncodeEvent,
  type ReferenceSample,
} from "../lib/parser/reference_decoder.ts";
import {
  buildStream,
  framesOf,
  type Piece,
  recordTotal,
  samplePiece,
} from "../lib/parser/test_helpers.ts";
import type { WalkStats } from "../lib/parser/walk_stats.ts";
import { ProfilerSession } from "../lib/profiler/session.ts";
import { seededRandom } from "../lib/common/seeded_random.ts";
import { bpfIgnore } from "./kernel/require_bpf.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const WALK_TOOL = `${ROOT}harness-c/build/streamprof-wasm2c-walk`;
const CONSUMER = `${ROOT}harness-c/build/streamprof-consumer-c`;
const BURN = `${ROOT}harness-c/build/streamprof-burn`;

/** Parser layout used by both sides (small batch and ring on purpose). */
const CONFIG = { ringCapacity: 1000, batchCapacity: 64, inputBytes: 65536 };
/** Tables small enough for the fuzz corpus to fill them again and again. */
const SMALL_TABLES = { stacks: 48, frames: 1024, aggregates: 64 };
/** Tables that real data of a second does not fill. */
const REAL_TABLES = { stacks: 4096, frames: 65536, aggregates: 4096 };
type Tables = typeof SMALL_TABLES | null;

/** Corpus entry flags (harness-c/wasm2c_walk.c): reset, sinks << 1, cut. */
const RESET = 1;
const SINKS_SHIFT = 1;
const ALL_SINKS = M.SINK_RING | M.SINK_BATCH | M.SINK_AGGREGATE;
const CUT = 1 << 4;

/** One walk of the corpus (see the flags above). */
interface Entry {
  flags: number;
  bytes: Uint8Array;
}

/**
 * What one walk produced, in the C tool's JSON shape: every WalkStats field
 * (so a field added there must be printed by the C tool too), perCpu as
 * [cpu, events, outOfOrder] triples, and what the statistics do not hold:
 * with tables, [stacks, frames, aggregates, digest of their contents].
 */
interface WalkLine extends Omit<WalkStats, "perCpu"> {
  i: number;
  /** committedBytes() of the same bytes (reads headers only). */
  committed: number;
  perCpu: number[][];
  batch: string[];
  ring: number[];
  tables?: number[];
}

function eventHex(e: ProfileEvent): string {
  const b = new Uint8Array(EVENT_SIZE);
  referenceEncodeEvent(new DataView(b.buffer), 0, e);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Real ring bytes and the offsets of their records (for slicing). */
interface RealData {
  bytes: Uint8Array;
  records: number[];
}

/** The offset of every record of a record stream (headers only). */
function recordOffsets(bytes: Uint8Array): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let at = 0; at + RECORD_HEADER_SIZE <= bytes.byteLength;) {
    out.push(at);
    const len = v.getUint32(at, true) & ~(BUSY_BIT | DISCARD_BIT);
    at += (len + RECORD_HEADER_SIZE + 7) & ~7;
  }
  return out;
}

/**
 * A random sample with frames from a small pool of stacks (3 processes x
 * 16 user stacks, 6 kernel stacks, now and then a full-depth one), so that
 * interning meets the same stack again: empty and faulted stacks, and the
 * truncated flag on full stacks (sometimes on others: the walker trusts it).
 */
function randomSample(r: () => number, ts: bigint): ReferenceSample {
  const pid = 100 + Math.floor(r() * 3);
  const stack = (kernel: boolean): bigint[] | number => {
    const pick = r();
    if (pick < 0.07) return -(1 + Math.floor(r() * 20));
    if (pick < (kernel ? 0.45 : 0.14)) return [];
    if (pick > 0.985) return framesOf(STACK_DEPTH, kernel ? 1 : 2, kernel);
    const seed = Math.floor(r() * (kernel ? 6 : 16));
    return framesOf(1 + ((seed * 7) % (kernel ? 12 : 24)), seed, kernel);
  };
  const user = stack(false), kernel = stack(true);
  const full = (f: bigint[] | number) =>
    Array.isArray(f) && f.length === STACK_DEPTH;
  let flags = 0;
  if (full(user) || r() < 0.03) flags |= EventFlags.USER_TRUNCATED;
  if (full(kernel) || r() < 0.03) flags |= EventFlags.KERNEL_TRUNCATED;
  if (typeof user === "number") flags |= EventFlags.USER_STACK_ERROR;
  if (typeof kernel === "number") flags |= EventFlags.KERNEL_STACK_ERROR;
  return {
    event: {
      timestampNs: ts,
      pid,
      tid: pid + Math.floor(r() * 2),
      userStackId: 0,
      kernelStackId: 0,
      cpu: r() < 0.03 ? 1024 + Math.floor(r() * 4096) : Math.floor(r() * 8),
      flags,
    },
    user,
    kernel,
  };
}

/**
 * A record with frames, whole or damaged: frame counts one off the length,
 * counts past the depth, a negative count with frames behind it.
 */
function sampleBytes(r: () => number, ts: bigint): Uint8Array {
  let bytes = buildStream([samplePiece(randomSample(r, ts))]);
  const damage = r();
  if (damage < 0.03) {
    // 8 bytes more than the counts say: long.
    const longer = new Uint8Array(bytes.byteLength + 8);
    longer.set(bytes);
    bytes = longer;
  } else if (
    damage < 0.06 && bytes.byteLength > RECORD_HEADER_SIZE + EVENT_SIZE
  ) {
    // 8 bytes fewer: short.
    bytes = bytes.slice(0, bytes.byteLength - 8);
  }
  const v = new DataView(bytes.buffer);
  v.setUint32(0, bytes.byteLength - RECORD_HEADER_SIZE, true);
  const counts = RECORD_HEADER_SIZE + EVENT_OFFSETS.userStackId;
  if (damage >= 0.06 && damage < 0.08) {
    // A count past the depth.
    v.setInt32(counts + (r() < 0.5 ? 0 : 4), STACK_DEPTH + 1, true);
  } else if (damage >= 0.08 && damage < 0.1) {
    // A negative count (a failed walk) with frames behind it.
    v.setInt32(counts, -1 - Math.floor(r() * 100), true);
  }
  return bytes;
}

/** A random record stream with every kind of damage, sometimes none. */
function randomStream(r: () => number, real: RealData | null): Uint8Array {
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
    // A slice of real ring bytes from a record boundary, then mutations.
    const from = real.records[Math.floor(r() * real.records.length)];
    const len = Math.min(out.byteLength, real.bytes.byteLength - from);
    out.set(real.bytes.subarray(from, from + len));
    n = len;
  } else {
    let ts = BigInt(u32()) * (r() < 0.2 ? 0x100000000n : 1n);
    while (
      n + RECORD_SIZE + 8 <= out.byteLength && r() > (long ? 0.002 : 0.02)
    ) {
      const kind = long ? r() * 0.9 : r();
      if (kind < 0.3) {
        // A record with frames (the profiler's records).
        ts += BigInt(Math.floor(r() * 2000)) - (r() < 0.05 ? 5000n : 0n);
        if (ts < 0n) ts = 0n;
        const rec = sampleBytes(r, ts);
        if (n + rec.byteLength > out.byteLength) break;
        out.set(rec, n);
        n += rec.byteLength;
      } else if (kind < 0.75) {
        v.setUint32(n, EVENT_SIZE, true);
        v.setUint32(n + 4, r() < 0.8 ? 0 : u32(), true); // pg_off
        const e = n + RECORD_HEADER_SIZE;
        ts += BigInt(Math.floor(r() * 2000)) - (r() < 0.05 ? 5000n : 0n);
        if (ts < 0n) ts = 0n;
        // Both halves of the timestamp matter; sometimes past 2^53.
        v.setBigUint64(
          e + O.timestampNs,
          r() < 0.03 ? (BigInt(u32()) << 32n) | BigInt(u32()) : ts,
          true,
        );
        v.setInt32(e + O.pid, u32() & 0xffff, true);
        v.setInt32(e + O.tid, u32() & 0xffff, true);
        v.setInt32(
          e + O.userStackId,
          r() < 0.1 ? -Math.floor(r() * 20) : u32() & 4095,
          true,
        );
        v.setInt32(e + O.kernelStackId, r() < 0.1 ? -17 : u32() & 4095, true);
        v.setUint32(
          e + O.cpu,
          r() < 0.03
            ? M.MAX_CPUS + Math.floor(r() * 4096)
            : Math.floor(r() * 8),
          true,
        );
        // Flags of a plain event; now and then PE_FLAG_FRAMES with the
        // stack fields above as frame counts (mostly a length mismatch).
        v.setUint32(e + O.flags, r() < 0.9 ? u32() & 31 : u32(), true);
        n += RECORD_SIZE;
      } else if (kind < 0.82) {
        const len = Math.floor(r() * 80);
        v.setUint32(n, (len | DISCARD_BIT) >>> 0, true);
        n += recordTotal(len);
      } else if (kind < 0.9) {
        const len = r() < 0.5
          ? Math.floor(r() * EVENT_SIZE)
          : EVENT_SIZE + 1 + Math.floor(r() * 40);
        v.setUint32(n, len, true);
        n += recordTotal(len);
      } else if (kind < 0.93) {
        v.setUint32(n, (EVENT_SIZE | BUSY_BIT) >>> 0, true);
        n += RECORD_SIZE;
      } else if (kind < 0.96) {
        v.setUint32(n, u32(), true); // any header at all
        v.setUint32(n + 4, u32(), true);
        n += RECORD_HEADER_SIZE;
      } else {
        // The longest lengths a committed header can claim.
        v.setUint32(n, DISCARD_BIT - 256 + Math.floor(r() * 255), true);
        n += RECORD_HEADER_SIZE;
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

/**
 * The seeded fuzz corpus: `count` walks, state kept or reset at random,
 * any combination of sinks (the aggregate sink does nothing without
 * tables), the tables cut now and then.
 */
function fuzzCorpus(
  count: number,
  real: RealData | null,
  seed = 0x5eed2c,
): Entry[] {
  // Seeded: the corpus is the same on every run.
  const r = seededRandom(seed);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const sinks = 1 + Math.floor(r() * ALL_SINKS); // any non-empty set
    entries.push({
      flags: (r() < 0.25 ? RESET : 0) |
        ((r() < 0.05 ? 0 : sinks) << SINKS_SHIFT) | (r() < 0.05 ? CUT : 0),
      bytes: randomStream(r, real),
    });
  }
  return entries;
}

/**
 * Record bytes cut at record boundaries into consecutive walks of at most
 * `perWalk` records, every sink.
 */
function streamEntries(bytes: Uint8Array, perWalk: number): Entry[] {
  const starts = recordOffsets(bytes);
  const out: Entry[] = [];
  for (let i = 0; i < starts.length; i += perWalk) {
    const end = i + perWalk < starts.length
      ? starts[i + perWalk]
      : bytes.byteLength;
    out.push({
      flags: (i === 0 ? RESET : 0) | (ALL_SINKS << SINKS_SHIFT),
      bytes: bytes.subarray(starts[i], end),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The two hosts.

const CORPUS_HEADER = 32;

function corpusFile(entries: Entry[], tables: Tables): Uint8Array {
  const size = CORPUS_HEADER +
    entries.reduce((s, e) => s + 8 + e.bytes.byteLength, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x43575053, true); // "SPWC"
  v.setUint32(4, 2, true);
  v.setUint32(8, CONFIG.ringCapacity, true);
  v.setUint32(12, CONFIG.batchCapacity, true);
  v.setUint32(16, CONFIG.inputBytes, true);
  v.setUint32(20, tables?.stacks ?? 0, true);
  v.setUint32(24, tables?.frames ?? 0, true);
  v.setUint32(28, tables?.aggregates ?? 0, true);
  let at = CORPUS_HEADER;
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
  tables: Tables,
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
    await Deno.writeFile(file, corpusFile(entries, tables));
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

/** FNV-1a (32-bit) over the little-endian bytes of u32 words. */
function fnv(h: number, v: number): number {
  for (let b = 0; b < 4; b++) {
    h = Math.imul(h ^ ((v >>> (8 * b)) & 0xff), 16777619) >>> 0;
  }
  return h;
}

/** The C tool's "tables" digest: every stack, then every aggregate. */
function tablesDigest(p: ProfileParser): number {
  let h = 2166136261;
  for (let id = 0; id < p.stackCount; id++) {
    const f = p.stackFrames(id);
    h = fnv(h, p.stackPid(id) >>> 0);
    h = fnv(h, f.length);
    for (const ip of f) {
      h = fnv(h, Number(ip & 0xffffffffn));
      h = fnv(h, Number(ip >> 32n));
    }
  }
  for (const a of p.readAggregates()) {
    for (
      const w of [a.pid, a.tid, a.cpu, a.userStack, a.kernelStack, a.samples]
    ) h = fnv(h, w >>> 0);
  }
  return h;
}

async function walkInDeno(
  entries: Entry[],
  tables: Tables,
): Promise<{ walks: WalkLine[]; ring: string[] }> {
  const p = await ProfileParser.create({ ...CONFIG, tables: tables ?? false });
  // With no mapping area the input area is the last region: walk() copies
  // each input there, and committedAt() reads the same bytes in place.
  const inputAt = p.heapTop - p.inputBytes;
  let tablesFull = false;
  const walks: WalkLine[] = entries.map((e, i) => {
    if (e.flags & RESET) p.resetStream();
    // As the C tool: cut when asked, and after a walk that met full tables.
    if ((e.flags & CUT) || tablesFull) p.cutTables();
    const sinks = e.flags >> SINKS_SHIFT;
    const s = p.walk(e.bytes, {
      toRing: (sinks & M.SINK_RING) !== 0,
      toBatch: (sinks & M.SINK_BATCH) !== 0,
      toAggregate: (sinks & M.SINK_AGGREGATE) !== 0,
    });
    tablesFull = s.stop === "tables-full";
    const len = p.ring.length;
    const pushed = len + p.ring.overwritten;
    const line: WalkLine = {
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
      noFrames: s.noFrames,
      userStacks: s.userStacks,
      kernelStacks: s.kernelStacks,
      userFrames: s.userFrames,
      kernelFrames: s.kernelFrames,
      perCpu: [...s.perCpu].map(([cpu, c]) => [cpu, c.events, c.outOfOrder]),
      batch: p.batchEvents().map(eventHex),
      // head = pushes mod capacity (nothing here clears the ring)
      ring: [len, pushed % p.ring.capacity, p.ring.overwritten],
    };
    if (p.hasTables) {
      line.tables = [
        p.stackCount,
        p.frameCount,
        p.aggregateCount,
        tablesDigest(p),
      ];
    }
    return line;
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
  tables: Tables,
): Promise<WalkLine[]> {
  const [c, d] = await Promise.all([
    walkInC(entries, tables),
    walkInDeno(entries, tables),
  ]);
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

/** How often the corpus reaches each path: every one must be reached. */
function coverage(walks: WalkLine[]): Record<string, number> {
  const sum = (f: (w: WalkLine) => number) =>
    walks.reduce((s, w) => s + f(w), 0);
  const stop = (k: string) => sum((w) => Number(w.stop === k));
  return {
    events: sum((w) => w.events),
    withFrames: sum((w) => w.events - w.noFrames),
    noFrames: sum((w) => w.noFrames),
    discarded: sum((w) => w.discarded),
    short: sum((w) => w.shortRecords),
    long: sum((w) => w.longRecords),
    pastEnd: sum((w) => w.pastEnd),
    outOfOrder: sum((w) => w.outOfOrder),
    badCpu: sum((w) => w.badCpu),
    userResolved: sum((w) => w.userStacks.resolved),
    userTruncated: sum((w) => w.userStacks.truncated),
    userEmpty: sum((w) => w.userStacks.empty),
    userFault: sum((w) => w.userStacks.fault),
    kernelResolved: sum((w) => w.kernelStacks.resolved),
    kernelTruncated: sum((w) => w.kernelStacks.truncated),
    kernelEmpty: sum((w) => w.kernelStacks.empty),
    kernelFault: sum((w) => w.kernelStacks.fault),
    userFrames: sum((w) => w.userFrames),
    kernelFrames: sum((w) => w.kernelFrames),
    stopEnd: stop("end"),
    stopBusy: stop("busy"),
    stopPastEnd: stop("past-end"),
    stopBatchFull: stop("batch-full"),
    ringOverwrites: walks.at(-1)!.ring[2],
  };
}

function assertCoverage(c: Record<string, number>, what: string): void {
  for (const [k, v] of Object.entries(c)) {
    assert.ok(v >= 100, `${what} reaches ${k} only ${v} times`);
  }
}

/** Sentinels and frame counts in the batch: what the hosts handed on. */
function handedOnIds(walks: WalkLine[]): Set<number> {
  const ids = new Set<number>();
  for (const w of walks) {
    for (const hex of w.batch) {
      const b = Uint8Array.from(
        hex.match(/../g)!.map((x) => parseInt(x, 16)),
      );
      const v = new DataView(b.buffer);
      if (v.getUint32(EVENT_OFFSETS.flags, true) & EventFlags.FRAMES) {
        ids.add(v.getInt32(EVENT_OFFSETS.userStackId, true));
        ids.add(v.getInt32(EVENT_OFFSETS.kernelStackId, true));
      }
    }
  }
  return ids;
}

Deno.test("wasm2c parity: 12,000 seeded random and mutated streams, records with frames among them, no tables", async () => {
  const entries = fuzzCorpus(12000, null);
  const bytes = entries.reduce((s, e) => s + e.bytes.byteLength, 0);
  assert.ok(bytes > 4_000_000, `corpus too small: ${bytes} bytes`);
  const walks = await assertParity(entries, "fuzz corpus", null);
  // The corpus must reach every path, or agreement proves little.
  assertCoverage(coverage(walks), "the fuzz corpus");
  // Without tables, the ids handed on are frame counts or the sentinels.
  const ids = handedOnIds(walks);
  assert.ok(ids.has(StackId.EMPTY) && ids.has(StackId.FAULT));
  assert.ok(ids.has(STACK_DEPTH), "a full-depth stack was handed on");
  for (const id of ids) {
    assert.ok(
      id === StackId.EMPTY || id === StackId.FAULT ||
        (id >= 1 && id <= STACK_DEPTH),
      `id ${id} handed on without tables`,
    );
  }
});

Deno.test("wasm2c parity: 6,000 seeded streams with small tables: interning, aggregation, tables-full stops and cuts", async () => {
  const entries = fuzzCorpus(6000, null, 0x7ab1e5);
  const walks = await assertParity(
    entries,
    "fuzz corpus, tables",
    SMALL_TABLES,
  );
  const c = coverage(walks);
  const { ringOverwrites: _, ...paths } = c;
  assertCoverage({
    ...paths,
    stopTablesFull: walks.filter((w) => w.stop === "tables-full").length,
    walksWithStacks: walks.filter((w) => w.tables![0] > 0).length,
    walksAggregating: walks.filter((w) => w.tables![2] > 0).length,
  }, "the fuzz corpus with tables");
  // Interned ids are table indexes now, not frame counts.
  const ids = handedOnIds(walks);
  assert.ok(ids.has(0) && [...ids].some((id) => id >= SMALL_TABLES.stacks - 4));
  for (const id of ids) {
    assert.ok(
      id === StackId.EMPTY || id === StackId.FAULT ||
        (id >= 0 && id < SMALL_TABLES.stacks),
      `id ${id} handed on with ${SMALL_TABLES.stacks}-stack tables`,
    );
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

/** A handed-on stack field back as the frames (or errno) it stood for. */
function framesOfId(
  p: ProfileParser,
  id: number,
): bigint[] | number {
  if (id === StackId.FAULT) return -14; // the errno itself is not kept
  if (id === StackId.EMPTY) return [];
  return [...p.stackFrames(id)];
}

Deno.test({
  name:
    "wasm2c parity: real ring data (session samples with their frames re-encoded, raw kernel spans, mutations of them), with and without tables",
  ignore: bpfIgnore,
  async fn() {
    // (1) Samples of a live session with their frames (read from its stack
    // table while the batch's ids are valid), re-encoded as the kernel
    // lays out records with frames.
    const pieces: Piece[] = [];
    const session = await ProfilerSession.start({
      frequency: 2000,
      onBatch: (p) => {
        for (const e of p.batchEvents()) {
          pieces.push(
            e.flags & EventFlags.FRAMES
              ? samplePiece({
                event: e,
                user: framesOfId(p, e.userStackId),
                kernel: framesOfId(p, e.kernelStackId),
              })
              : { kind: "event", event: e },
          );
        }
      },
    });
    const spin = Date.now() + 800;
    while (Date.now() < spin) { /* be sampled */ }
    const report = await session.stop();
    assert.ok(report.reconciliation.ok, report.reconciliation.line);
    assert.ok(pieces.length > 500, `only ${pieces.length} events sampled`);
    const withFrames = pieces.filter((p) => p.kind === "sample").length;
    assert.equal(withFrames, pieces.length, "every sample carried frames");
    const reencoded = buildStream(pieces);

    // (2) Raw spans exactly as the kernel wrote them.
    const raw = await recordRawSpans();
    const records = recordOffsets(raw);
    assert.ok(records.length >= 500, `only ${records.length} raw records`);
    assert.ok(
      raw.byteLength > records.length * RECORD_SIZE,
      "the raw records carry frames",
    );

    for (const tables of [null, REAL_TABLES]) {
      const t = tables ? "tables" : "no tables";
      const a = await assertParity(
        streamEntries(reencoded, 64),
        `re-encoded session, ${t}`,
        tables,
      );
      const b = await assertParity(
        streamEntries(raw, 50),
        `raw kernel spans, ${t}`,
        tables,
      );
      for (const walks of [a, b]) {
        assert.ok(
          walks.every((w) =>
            w.malformed === 0 && (w.stop === "end" || w.stop === "tables-full")
          ),
        );
        assert.ok(walks.some((w) => w.userFrames > 0));
      }
      // (3) Real bytes, mutated: slices of the raw spans with bit flips.
      await assertParity(
        fuzzCorpus(2000, { bytes: raw, records }),
        `mutated raw spans, ${t}`,
        tables,
      );
    }
  },
});
