// Every parser option and every event field is range-checked with a
// RangeError that names it (issue 10, item 12). Before, options went to the
// module through ToInt32, so ringCapacity 2^32 + 16 made a ring of 16 and
// batchCapacity 2^32 + 4 left the TypeScript side (2^32 + 4) and the module
// (4) disagreeing, so encodeRecords of 50 events overran the batch area;
// event fields were stored as their low 32 bits (pid NaN as 0, tid 2^40 as
// 0); and a walk inside a RingReader's onBatch silently replaced the batch
// the callback was reading.
import assert from "node:assert/strict";
import { RECORD_SIZE } from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import { referenceEncodeRecords } from "./reference_decoder.ts";
import {
  compileParser,
  type ParserOptions,
  ProfileParser,
} from "./wasm_parser.ts";
import { RingReader, type RingSource } from "../bpf/ring_reader.ts";

const MODULE = await compileParser(
  Deno.env.get("PARSER_WASM")
    ? await Deno.readFile(Deno.env.get("PARSER_WASM")!)
    : undefined,
);

function parser(o: ParserOptions = {}) {
  return ProfileParser.fromModule(MODULE, {
    ringCapacity: 64,
    batchCapacity: 64,
    tables: false,
    ...o,
  });
}

function event(p: Partial<ProfileEvent> = {}): ProfileEvent {
  return {
    timestampNs: 1000n,
    pid: 100,
    tid: 101,
    userStackId: 5,
    kernelStackId: 6,
    cpu: 0,
    flags: 0,
    ...p,
  };
}

/** Asserts `f` throws a RangeError whose message names `name`. */
function assertRangeError(f: () => unknown, name: string, what: string) {
  assert.throws(
    f,
    (err: unknown) => {
      assert.ok(
        err instanceof RangeError,
        `${what}: expected a RangeError, got ${
          err instanceof Error ? `${err.name}: ${err.message}` : String(err)
        }`,
      );
      assert.match(
        err.message,
        new RegExp(`\\b${name.replace(".", "\\.")}\\b`),
        `${what}: the message must name ${name}`,
      );
      return true;
    },
    `${what}: must throw`,
  );
}

Deno.test("parser options: out-of-range, wrapping, NaN, negative and fractional values are RangeErrors naming the option", () => {
  type SizeOption = "ringCapacity" | "batchCapacity" | "inputBytes";
  const bad: [SizeOption, number, string][] = [
    ["ringCapacity", 2 ** 32 + 16, "wraps to 16 through ToInt32"],
    ["batchCapacity", 2 ** 32 + 4, "wraps to 4 through ToInt32"],
    ["inputBytes", 2 ** 32 + 64, "wraps to 64 through ToInt32"],
  ];
  for (const name of ["ringCapacity", "batchCapacity", "inputBytes"] as const) {
    bad.push([name, NaN, "NaN"]);
    bad.push([name, -1, "negative"]);
    bad.push([name, -(2 ** 32) + 8, "negative, wraps to 8"]);
    bad.push([name, 16.5, "fractional"]);
    bad.push([name, Infinity, "infinite"]);
  }
  for (const [name, value, why] of bad) {
    assertRangeError(
      () => parser({ [name]: value }),
      name,
      `${name}: ${value} (${why})`,
    );
  }
  // A zero ring cannot hold the event a push writes.
  assertRangeError(
    () => parser({ ringCapacity: 0 }),
    "ringCapacity",
    "ringCapacity 0",
  );
});

Deno.test("parser options: the values it accepts are the sizes it has", () => {
  const p = parser({ ringCapacity: 16, batchCapacity: 4, inputBytes: 4 * 40 });
  assert.equal(p.ring.capacity, 16);
  assert.equal(p.batchCapacity, 4);
  assert.equal(p.inputBytes, 160);
  // The batch is as large as both sides say, and no larger: 4 events encode,
  // 5 are refused up front (not written past the batch area).
  const four = Array.from({ length: 4 }, (_, i) => event({ pid: i + 1 }));
  const stats = p.walk(p.encodeRecords(four));
  assert.equal(stats.events, 4);
  assert.deepEqual(p.batchEvents().map((e) => e.pid), [1, 2, 3, 4]);
  assert.throws(() => p.encodeRecords([...four, event()]), RangeError);
  assert.throws(
    () => p.walk(new Uint8Array(5 * RECORD_SIZE)),
    RangeError,
    "a stream larger than inputBytes is refused",
  );
});

Deno.test("event fields: values that do not fit their C type are RangeErrors naming the field (encodeEvent, encodeRecords, ring.push)", () => {
  const bad: [keyof ProfileEvent, number][] = [
    ["pid", NaN],
    ["pid", 2 ** 31],
    ["pid", 1.5],
    ["tid", 2 ** 40],
    ["tid", -(2 ** 31) - 1],
    ["userStackId", 2 ** 32],
    ["kernelStackId", Infinity],
    ["cpu", -1],
    ["cpu", 2 ** 32],
    ["flags", 2 ** 32],
    ["flags", -1],
  ];
  for (const [field, value] of bad) {
    const p = parser();
    const e = event({ [field]: value });
    const what = `${field} = ${value}`;
    assertRangeError(() => p.encodeEvent(e), field, `encodeEvent ${what}`);
    assertRangeError(
      () => p.encodeRecords([event(), e]),
      field,
      `encodeRecords ${what}`,
    );
    assertRangeError(() => p.ring.push(e), field, `ring.push ${what}`);
    assert.equal(p.ring.length, 0, `ring.push ${what}: nothing was stored`);
  }
  const p = parser();
  assert.throws(
    () => p.encodeEvent(event({ timestampNs: -1n })),
    RangeError,
    "a negative timestamp",
  );
  assert.throws(
    () => p.encodeEvent(event({ timestampNs: 1n << 64n })),
    RangeError,
    "a timestamp past u64",
  );
});

Deno.test("event fields: every value that fits round-trips exactly (the checks are not stricter than the C types)", () => {
  const p = parser();
  const edges: ProfileEvent[] = [
    event({
      timestampNs: 0xffffffffffffffffn,
      pid: 2 ** 31 - 1,
      tid: -(2 ** 31),
      userStackId: -14,
      kernelStackId: 2 ** 31 - 1,
      cpu: 2 ** 32 - 1,
      flags: 2 ** 32 - 1,
    }),
    event({ timestampNs: 0n, pid: -1, tid: 0, cpu: 0, flags: 0 }),
  ];
  for (const e of edges) {
    assert.deepEqual(p.decodeEvents(p.encodeEvent(e)), [e]);
    p.ring.push(e);
  }
  assert.deepEqual(p.ring.snapshot(), edges);
});

/**
 * A ring in plain memory: records laid out once, by the test, at an offset
 * it chose inside the parser's memory (the span reserved for a mapping),
 * with the positions a live ring would report. It never wraps here.
 */
class PlainRing implements RingSource {
  readonly size: number;
  readonly dataOffset: number;
  consumerPosition = 0;
  #producer = 0;
  readonly #mem: Uint8Array;
  constructor(p: ProfileParser, size: number, offset: number) {
    this.size = size;
    this.dataOffset = offset;
    this.#mem = new Uint8Array(p.memory.buffer);
  }
  producerPosition(): number {
    return this.#producer;
  }
  advance(to: number): void {
    assert.ok(to > this.consumerPosition && to <= this.#producer);
    this.consumerPosition = to;
  }
  write(bytes: Uint8Array): void {
    assert.ok(this.#producer + bytes.length <= this.size, "no wrap here");
    this.#mem.set(bytes, this.dataOffset + this.#producer);
    this.#producer += bytes.length;
  }
}

Deno.test("walk inside a RingReader's onBatch throws instead of silently cutting the batch being read", () => {
  const size = 8192;
  const p = parser({
    ringCapacity: 64,
    batchCapacity: 64,
    mapBytes: 2 * size,
    mapAlign: 4096,
  });
  assert.ok(p.mapOffset > 0, "the parser reserved a span for the ring");
  // Not at the very start of the span: an offset of our own choosing.
  const ring = new PlainRing(p, size, p.mapOffset + 1024);
  const outer = Array.from(
    { length: 10 },
    (_, i) => event({ timestampNs: BigInt(i + 1), pid: 500 + i, tid: 500 + i }),
  );
  ring.write(referenceEncodeRecords(outer));
  const inner = referenceEncodeRecords([event({ pid: 9 }), event({ pid: 9 })]);
  const seen: number[] = [];
  const errors: string[] = [];
  const reader = new RingReader(p, ring, {
    toRing: false,
    onBatch: (q) => {
      const before = q.batchLength;
      for (
        const nested of [
          () => q.walk(inner),
          () => q.walkAt(ring.dataOffset, inner.length, false, true),
        ]
      ) {
        try {
          nested();
          errors.push("a nested walk returned normally");
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
      // The batch being read is still the outer one, whole.
      assert.equal(q.batchLength, before, "the batch was cut");
      for (let i = 0; i < q.batchLength; i++) seen.push(q.batchPid(i));
    },
  });
  assert.equal(reader.poll(), outer.length * RECORD_SIZE);
  assert.equal(errors.length, 2);
  for (const e of errors) assert.match(e, /inside onBatch/);
  assert.deepEqual(seen, outer.map((e) => e.pid), "every outer event, once");
  assert.equal(reader.totals.events, outer.length);
  // Outside onBatch, walking works again.
  assert.equal(p.walk(inner).events, 2);
});
