// The ring reader over plain memory, no kernel needed (as cilium/ebpf tests
// its ring reader): records are laid out the way the kernel lays them out,
// in a data area "mapped twice" (each byte written at its offset and at
// offset + size), and the reader must consume them exactly, in order,
// across the wrap, stopping at a record still being written.
import assert from "node:assert/strict";
import { BUSY_BIT, RECORD_HEADER_SIZE } from "../parser/layout.ts";
import {
  referenceEncodeRecords,
  referenceEncodeSamples,
} from "../parser/reference_decoder.ts";
import { events, framesOf, WASM_MODULE } from "../parser/test_helpers.ts";
import { ProfileParser } from "../parser/wasm_parser.ts";
import { RingReader, type RingSource } from "./ring_reader.ts";

/** A ring of `size` bytes in the parser's map area, written by the test. */
class PlainRing implements RingSource {
  readonly size: number;
  readonly dataOffset: number;
  consumerPosition = 0;
  producer = 0;
  advances = 0;
  readonly #mem: Uint8Array;
  constructor(parser: ProfileParser, size: number) {
    this.size = size;
    this.dataOffset = parser.mapOffset;
    this.#mem = new Uint8Array(parser.memory.buffer);
  }
  producerPosition(): number {
    return this.producer;
  }
  advance(to: number): void {
    assert.ok(to > this.consumerPosition, "the position only moves forward");
    assert.ok(to <= this.producer, "never past the producer");
    this.consumerPosition = to;
    this.advances++;
  }
  /** Writes bytes at the producer position, as both mappings show them. */
  write(bytes: Uint8Array): number {
    assert.ok(
      this.producer - this.consumerPosition + bytes.length <= this.size,
      "the test must not overfill the ring",
    );
    const at = this.producer;
    for (let i = 0; i < bytes.length; i++) {
      const o = (at + i) & (this.size - 1);
      this.#mem[this.dataOffset + o] = bytes[i];
      this.#mem[this.dataOffset + o + this.size] = bytes[i];
    }
    this.producer += bytes.length;
    return at;
  }
  /** Rewrites the u32 header at ring position `pos`. */
  setHeader(pos: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    for (let i = 0; i < 4; i++) {
      const o = (pos + i) & (this.size - 1);
      this.#mem[this.dataOffset + o] = b[i];
      this.#mem[this.dataOffset + o + this.size] = b[i];
    }
  }
}

function setup(
  size = 4096,
  tables?: { stacks: number; frames: number; aggregates: number },
) {
  const parser = ProfileParser.fromModule(
    WASM_MODULE,
    {
      ringCapacity: 64,
      batchCapacity: 64,
      mapBytes: 2 * size,
      mapAlign: 4096,
      tables: tables ?? false,
    },
  );
  return { parser, ring: new PlainRing(parser, size) };
}

Deno.test("ring reader: consumes records exactly, across the wrap, one advance per span", () => {
  const { parser, ring } = setup(4096);
  let seen = 0;
  let spanBytes = 0;
  const reader = new RingReader(parser, ring, {
    toRing: false,
    onBatch: (p) => (seen += p.batchLength),
    onSpan: (records) => {
      // The span is whole records, the first of them a header of 32.
      assert.equal(
        new DataView(records.buffer, records.byteOffset).getUint32(0, true),
        32,
      );
      spanBytes += records.byteLength;
    },
  });
  // 40-byte records: 4096 is not a multiple of 40, so records straddle the
  // end of the area and are read whole through the second mapping.
  let written = 0;
  for (let round = 0; round < 20; round++) {
    const list = events(37 + round, 4, BigInt(round * 1000 + 1));
    ring.write(referenceEncodeRecords(list));
    written += list.length;
    const before = ring.advances;
    const n = reader.poll();
    assert.equal(n, list.length * 40);
    // One span (or one per batch when the batch area fills: 64 events).
    assert.ok(ring.advances - before <= Math.ceil(list.length / 64));
    assert.equal(reader.pending(), 0);
  }
  assert.ok(ring.producer > 3 * 4096, "wrapped several times");
  assert.equal(reader.totals.events, written);
  assert.equal(seen, written);
  assert.equal(reader.totals.malformed, 0);
  assert.equal(reader.totals.bytes, ring.producer);
  assert.equal(spanBytes, ring.producer, "onSpan saw every byte consumed");
});

Deno.test("ring reader: stops at a record still being written, takes it once committed", () => {
  const { parser, ring } = setup(4096);
  const reader = new RingReader(parser, ring, { toRing: false });
  ring.write(referenceEncodeRecords(events(3)));
  const busyAt = ring.write(referenceEncodeRecords(events(1)));
  ring.write(referenceEncodeRecords(events(2)));
  ring.setHeader(busyAt, 32 | BUSY_BIT);
  assert.equal(reader.poll(), 3 * 40);
  assert.equal(reader.totals.events, 3);
  assert.equal(reader.totals.busyStops, 1);
  assert.equal(reader.pending(), 3 * 40);
  // The producer commits: the rest follows, in order.
  ring.setHeader(busyAt, 32);
  assert.equal(reader.poll(), 3 * 40);
  assert.equal(reader.totals.events, 6);
  assert.equal(reader.pending(), 0);
});

Deno.test("ring reader: full tables are read out and cut, and the walk goes on from the record that did not fit", () => {
  const { parser, ring } = setup(1 << 16, {
    stacks: 4,
    frames: 300,
    aggregates: 4,
  });
  let cuts = 0;
  let absorbed = 0;
  const reader = new RingReader(parser, ring, {
    toRing: false,
    toAggregate: true,
    onTablesFull: (p) => {
      cuts++;
      for (const a of p.readAggregates()) absorbed += a.samples;
      p.cutTables();
    },
  });
  const samples = Array.from({ length: 40 }, (_, i) => ({
    event: { ...events(1, 1, BigInt(i + 1))[0], pid: 5, tid: 5 },
    user: framesOf(3, i),
    kernel: framesOf(2, i % 3, true),
  }));
  ring.write(referenceEncodeSamples(samples));
  reader.poll();
  for (const a of parser.readAggregates()) absorbed += a.samples;
  assert.ok(cuts >= 10, `tables of 4 stacks must fill often, cut ${cuts}`);
  assert.equal(reader.totals.tableCuts, cuts);
  assert.equal(reader.totals.events, 40);
  assert.equal(absorbed, 40, "every sample aggregated exactly once");
  assert.equal(reader.pending(), 0);
});

Deno.test("ring reader: onBatch may not walk the parser (it would overwrite the batch being read)", () => {
  const { parser, ring } = setup(4096);
  const reader = new RingReader(parser, ring, {
    toRing: false,
    onBatch: (p) => p.walk(new Uint8Array(0)),
  });
  ring.write(referenceEncodeRecords(events(2)));
  assert.throws(() => reader.poll(), /inside onBatch/);
  // The batch hold is released even after the throw.
  assert.equal(parser.walk(new Uint8Array(0)).events, 0);
});

Deno.test("ring reader: a record header of a wrong length is counted malformed and skipped", () => {
  const { parser, ring } = setup(4096);
  const reader = new RingReader(parser, ring, { toRing: false });
  const bad = new Uint8Array(RECORD_HEADER_SIZE + 16);
  new DataView(bad.buffer).setUint32(0, 16, true);
  ring.write(referenceEncodeRecords(events(1)));
  ring.write(bad);
  ring.write(referenceEncodeRecords(events(1)));
  assert.equal(reader.poll(), 40 + 24 + 40);
  assert.equal(reader.totals.events, 2);
  assert.equal(reader.totals.malformed, 1);
});
