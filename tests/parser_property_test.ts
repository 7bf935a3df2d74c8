// Property tests (fast-check) of the WASM parser against the reference
// decoder and the array model of the overwrite ring:
// - encode/decode round trips for arbitrary field values (full u64
//   timestamps, full i32/u32 ranges);
// - walks of arbitrary streams mixing committed events, records with frames
//   (the profiler's shape: user and kernel stacks, faults, empty stacks,
//   truncated flags), discarded, short, long, busy and truncated records and
//   raw bytes, over several batches, with arbitrary batch and table
//   capacities and sinks: stats, events, interned stacks and aggregated
//   counts equal, across table cuts;
// - arbitrary sequences of ring operations at arbitrary capacities.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  assertRing,
  buildStream,
  cutBoth,
  type Piece,
  rawFields,
  RingModel,
  walkBoth,
  WASM_MODULE,
} from "../lib/parser/test_helpers.ts";
import { EventFlags } from "../lib/parser/layout.ts";
import type { ProfileEvent } from "../lib/parser/profile_event.ts";
import {
  referenceAggregateKey,
  referenceEncodeRecords,
  type ReferenceSample,
  referenceStackKey,
  type ReferenceStreamState,
} from "../lib/parser/reference_decoder.ts";
import { assertEncodesAsReference } from "../lib/parser/test_encode_check.ts";
import { addCounts, zeroCounts } from "../lib/parser/test_walk_counts.ts";
import { ProfileParser } from "../lib/parser/wasm_parser.ts";

const MODULE = WASM_MODULE;
const RUNS = 500;

const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** CPUs: mostly small (so per-CPU order matters), sometimes anything. */
const cpu = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(1023, 1024, 0xffffffff) },
  { weight: 1, arbitrary: u32 },
);
const timestamp = fc.oneof(
  fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
  fc.constantFrom(
    0n,
    0xffffffffn,
    0x100000000n,
    0x8000000000000000n,
    0xffffffffffffffffn,
  ),
  fc.bigInt({ min: 0n, max: 1000n }), // close values: order ties and swaps
);

/** Ids of an event: any values of their signed 32-bit fields. */
const ids = { pid: i32, tid: i32, userStackId: i32, kernelStackId: i32 };

/** Events with these timestamps and CPUs, every other field anything. */
const eventOf = (
  timestampNs: fc.Arbitrary<bigint>,
  cpu: fc.Arbitrary<number>,
): fc.Arbitrary<ProfileEvent> =>
  // fc.record makes null-prototype objects; the decoders make plain ones,
  // and deepStrictEqual compares prototypes: copy into plain objects.
  fc.record({ timestampNs, ...ids, cpu, flags: u32 }).map((e) => ({ ...e }));

const event = eventOf(timestamp, cpu);

/** Any field values at all, CPU included. */
const anyEvent = eventOf(fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }), u32);

/** Frames from a small pool, so that stacks repeat and share prefixes. */
const frame = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.integer({ min: 0, max: 7 }).map((i) =>
      0x401000n + BigInt(i) * 16n
    ),
  },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }) },
);
/** A stack: frames (0 to the depth), or a negative errno. */
const stackArb = (maxFrames: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.array(frame, { maxLength: maxFrames }) },
    {
      weight: 1,
      arbitrary: fc.array(frame, { minLength: 127, maxLength: 127 }),
    },
    { weight: 1, arbitrary: fc.constantFrom(-14, -22) },
  );
const sample: fc.Arbitrary<ReferenceSample> = fc.record({
  event: event.map((e) => ({
    ...e,
    // Few processes and threads, so aggregation keys repeat.
    pid: Math.abs(e.pid) % 3,
    tid: Math.abs(e.tid) % 4,
    flags: e.flags & (EventFlags.USER_TRUNCATED | EventFlags.KERNEL_TRUNCATED),
  })),
  user: stackArb(6),
  kernel: stackArb(4),
}).map((x) => ({ ...x }));

/**
 * Any values, as a plain event record carries them (no FRAMES flag): what
 * the ring operations walk, so the ring model sees them as they are.
 */
const plainEvent: fc.Arbitrary<ProfileEvent> = anyEvent.map((e) => ({
  ...e,
  flags: (e.flags & ~EventFlags.FRAMES) >>> 0,
}));

const piece: fc.Arbitrary<Piece> = fc.oneof(
  { weight: 8, arbitrary: event.map((e) => ({ kind: "event", event: e })) },
  {
    weight: 8,
    arbitrary: sample.map((x) => ({ kind: "sample", sample: x })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("discard"),
      len: fc.oneof(fc.constant(32), fc.integer({ min: 0, max: 200 })),
      event: fc.option(event, { nil: undefined }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("bad"),
      len: fc.oneof(
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 33, max: 300 }),
      ),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("busy"),
      len: fc.integer({ min: 0, max: 100 }),
      discard: fc.boolean(),
      event: fc.option(event, { nil: undefined }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 48 }).map((bytes) => ({
      kind: "raw",
      bytes,
    })),
  },
) as fc.Arbitrary<Piece>;

/** A record stream, maybe truncated at an arbitrary point. */
const stream = fc.tuple(
  fc.array(piece, { maxLength: 24, size: "max" }),
  fc.oneof(
    { weight: 7, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
  ),
).map(([pieces, cut]) => {
  const bytes = buildStream(pieces);
  return cut === undefined
    ? bytes
    : bytes.subarray(0, Math.floor(bytes.byteLength * cut));
});

/** Arbitrary raw bytes, sometimes with a valid header up front. */
const rawStream = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.tuple(event, fc.uint8Array({ maxLength: 200 })).map(([e, tail]) => {
    const head = referenceEncodeRecords([e]);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  }),
);

Deno.test("property: encode/decode round trip for arbitrary field values", () => {
  const p = ProfileParser.fromModule(MODULE, {
    ringCapacity: 8,
    batchCapacity: 64,
  });
  fc.assert(
    fc.property(anyEvent, fc.array(anyEvent, { maxLength: 64 }), (e, all) => {
      // As plain event records they must walk back as they are (a FRAMES
      // flag would make the record claim frames: the stream property
      // below covers that shape).
      const list = all.map((x) => ({
        ...x,
        flags: (x.flags & ~EventFlags.FRAMES) >>> 0,
      }));
      assertEncodesAsReference(p, e);
      // As records, through the walker and the ring.
      const recs = p.encodeRecords(list);
      assert.deepStrictEqual(recs, referenceEncodeRecords(list));
      p.resetStream();
      const r = walkBoth(p, recs, new Map(), { toRing: true });
      assert.deepStrictEqual(r.events, list);
      p.ring.push(e);
      p.ring.pushRaw(...rawFields(e));
      assert.deepStrictEqual(p.ring.latest(2), [e, e]);
    }),
    { numRuns: RUNS },
  );
});

Deno.test("property: walks of arbitrary record streams agree with the reference", () => {
  // How often each case came up over all runs: the generators must reach
  // every one, or the agreement proves less than it claims.
  const seen = {
    ...zeroCounts(),
    noFrames: 0,
    userResolved: 0,
    userTruncated: 0,
    userEmpty: 0,
    userFault: 0,
    kernelResolved: 0,
    kernelEmpty: 0,
    end: 0,
    busy: 0,
    "past-end": 0,
    "batch-full": 0,
    "tables-full": 0,
    walks: 0,
  };
  fc.assert(
    fc.property(
      fc.array(fc.oneof({ weight: 4, arbitrary: stream }, rawStream), {
        minLength: 1,
        maxLength: 5,
      }),
      fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(4096)),
      fc.integer({ min: 1, max: 20 }),
      fc.boolean(),
      fc.boolean(),
      fc.oneof(
        { weight: 1, arbitrary: fc.constant(false as const) },
        {
          weight: 3,
          arbitrary: fc.record({
            stacks: fc.integer({ min: 2, max: 12 }),
            frames: fc.integer({ min: 254, max: 400 }),
            aggregates: fc.integer({ min: 1, max: 10 }),
          }),
        },
      ),
      fc.boolean(),
      (
        batches,
        batchCapacity,
        ringCapacity,
        toRing,
        resetBetween,
        tables,
        toAggregate,
      ) => {
        const p = ProfileParser.fromModule(MODULE, {
          ringCapacity,
          batchCapacity,
          inputBytes: 65536,
          tables,
        });
        const model = new RingModel(ringCapacity);
        let state: ReferenceStreamState = new Map();
        // Samples per aggregation key by content: what the parser's tables
        // gave (read out at every cut), and what the reference decoded.
        const gotCounts = new Map<string, number>();
        const wantCounts = new Map<string, number>();
        const aggregating = toAggregate && tables !== false;
        const readOut = () => {
          if (!aggregating) return;
          const stackKey = (id: number, kind: "u" | "k") =>
            id === -1
              ? "empty"
              : id === -2
              ? "fault"
              : id === -3
              ? "not-collected"
              : referenceStackKey(p.stackPid(id), [...p.stackFrames(id)]) +
                (kind === "u" ? "" : "");
          for (const a of p.readAggregates()) {
            const key = `${a.pid}/${a.tid}/${a.cpu}/${
              stackKey(a.userStack, "u")
            }/${stackKey(a.kernelStack, "k")}`;
            gotCounts.set(key, (gotCounts.get(key) ?? 0) + a.samples);
          }
        };
        for (const bytes of batches) {
          if (resetBetween) {
            p.resetStream();
            state = new Map();
          }
          // Consume each batch the way a ring reader does: walk again
          // from where the last walk stopped, while it makes progress;
          // when the tables are full, read them out and cut them.
          let off = 0;
          for (;;) {
            const r = walkBoth(p, bytes.subarray(off), state, {
              toRing,
              toAggregate,
            });
            const st = r.stats;
            seen.walks++;
            seen[st.stop]++;
            addCounts(seen, st);
            seen.noFrames += st.noFrames;
            seen.userResolved += st.userStacks.resolved;
            seen.userTruncated += st.userStacks.truncated;
            seen.userEmpty += st.userStacks.empty;
            seen.userFault += st.userStacks.fault;
            seen.kernelResolved += st.kernelStacks.resolved;
            seen.kernelEmpty += st.kernelStacks.empty;
            // The ring holds what the batch handed on (stack ids, not
            // frame counts): walkBoth checked the batch against the
            // reference, stacks by their frames.
            if (toRing) { for (const e of p.batchEvents()) model.push(e); }
            if (aggregating) {
              for (const d of r.decoded) {
                const k = referenceAggregateKey(d);
                wantCounts.set(k, (wantCounts.get(k) ?? 0) + 1);
              }
            }
            off += st.consumed;
            if (st.stop === "tables-full") {
              // The ring's copies name stacks the cut is about to void.
              assertRing(p.ring, model);
              readOut();
              cutBoth(p);
              continue;
            }
            if (st.stop !== "batch-full" || st.consumed === 0) break;
          }
          assertRing(p.ring, model);
        }
        readOut();
        assert.deepStrictEqual(
          new Map([...gotCounts].sort()),
          new Map([...wantCounts].sort()),
        );
      },
    ),
    { numRuns: RUNS },
  );
  for (const [k, n] of Object.entries(seen)) {
    assert.ok(
      n >= 10,
      `only ${n} x ${k} in ${RUNS} runs: ${JSON.stringify(seen)}`,
    );
  }
  console.log(JSON.stringify(seen));
});

type RingOp =
  | { op: "push"; e: ProfileEvent }
  | { op: "pushRaw"; e: ProfileEvent }
  | { op: "walk"; list: ProfileEvent[] }
  | { op: "batch"; list: ProfileEvent[] }
  | { op: "clear" }
  | { op: "latest"; n: number }
  | { op: "check" };

const ringOp: fc.Arbitrary<RingOp> = fc.oneof(
  { weight: 5, arbitrary: anyEvent.map((e) => ({ op: "push", e })) },
  { weight: 5, arbitrary: anyEvent.map((e) => ({ op: "pushRaw", e })) },
  {
    weight: 2,
    arbitrary: fc.array(plainEvent, { maxLength: 40 }).map((list) => ({
      op: "walk",
      list,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.array(plainEvent, { maxLength: 40 }).map((list) => ({
      op: "batch",
      list,
    })),
  },
  { weight: 1, arbitrary: fc.constant({ op: "clear" }) },
  { weight: 2, arbitrary: fc.constant({ op: "check" }) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: -2, max: 80 }).map((n) => ({
      op: "latest",
      n,
    })),
  },
) as fc.Arbitrary<RingOp>;

Deno.test("property: the overwrite ring behaves as the array model", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 1, max: 70 }),
        fc.constantFrom(1, 2, 7, 64),
      ),
      fc.array(ringOp, { maxLength: 60 }),
      (capacity, ops) => {
        const p = ProfileParser.fromModule(MODULE, {
          ringCapacity: capacity,
          batchCapacity: 48,
        });
        const model = new RingModel(capacity);
        for (const o of ops) {
          switch (o.op) {
            case "push":
              p.ring.push(o.e);
              model.push(o.e);
              break;
            case "pushRaw":
              p.ring.pushRaw(...rawFields(o.e));
              model.push(o.e);
              break;
            case "walk":
              p.walk(referenceEncodeRecords(o.list), {
                toRing: true,
                toBatch: false,
              });
              o.list.forEach((e) => model.push(e));
              break;
            case "batch":
              p.walk(referenceEncodeRecords(o.list));
              p.ring.pushBatch();
              o.list.forEach((e) => model.push(e));
              break;
            case "clear":
              p.ring.clear();
              model.clear();
              break;
            case "latest": {
              const want = Math.max(
                0,
                Math.min(o.n, model.items.length, p.batchCapacity),
              );
              assert.deepStrictEqual(
                p.ring.latest(o.n),
                model.items.slice(model.items.length - want),
              );
              break;
            }
            // Reading the counts brings the module's ring state up to date
            // with pushes made from JS, so it is an op of its own: other
            // sequences must show that every module call does that itself.
            case "check":
              assert.equal(p.ring.length, model.items.length);
              assert.equal(p.ring.overwritten, model.overwritten);
              break;
          }
        }
        assertRing(p.ring, model);
      },
    ),
    { numRuns: RUNS },
  );
});
