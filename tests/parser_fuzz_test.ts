// Fuzzing the record walker: 1,000,000 (FUZZ_COUNT) random and mutated byte
// strings, each walked by the WASM parser and by the reference decoder.
//
// - No trap: a WASM trap would throw a RuntimeError; none may.
// - No out-of-bounds read: each input is placed so that it ends exactly at
//   the end of the parser's linear memory (the input area is the last region
//   and ends on the last page), so a read past the input is a read past the
//   memory, which traps. Inputs whose length is not a multiple of 4 cannot
//   sit flush (headers are read with aligned atomic loads): they end 1-3
//   random bytes before the end, and agreement with the reference (whose
//   DataView cannot read past the input) covers them.
// - Every malformed record counted: stats (events, discarded, short, long,
//   past-end, stop, consumed, out-of-order, bad CPU, per-CPU counts, stack
//   outcomes and frames) and every decoded event must equal the reference
//   decoder's; records with frames (the profiler's shape) are among the
//   base streams, their stacks are interned into small tables that keep
//   filling ("tables-full", then cut), and every stack id handed on names
//   exactly the reference's frames.
//
// Deterministic: FUZZ_SEED picks the stream of inputs; a failure prints the
// seed, the iteration and the input in hex.
import assert from "node:assert/strict";
import {
  buildStream,
  framesOf,
  type Piece,
  Rng,
  WASM_MODULE,
} from "../lib/parser/test_helpers.ts";
import { EVENT_SIZE, EventFlags, StackId } from "../lib/parser/layout.ts";
import {
  type ReferenceStreamState,
  type ReferenceTables,
  referenceWalk,
} from "../lib/parser/reference_decoder.ts";
import { addCounts, zeroCounts } from "../lib/parser/test_walk_counts.ts";
import { ProfileParser, type TableOptions } from "../lib/parser/wasm_parser.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed2024) >>> 0;
const COUNT = Number(Deno.env.get("FUZZ_COUNT") ?? 1_000_000);
const MAX_LEN = 1024;
const MODULE = WASM_MODULE;

/** A parser whose input area is the last `>= MAX_LEN` bytes of its memory. */
function flushParser(
  ringCapacity: number,
  batchCapacity: number,
  tables: TableOptions,
) {
  const probe = ProfileParser.fromModule(MODULE, {
    ringCapacity,
    batchCapacity,
    inputBytes: 0,
    tables,
  });
  const inputAt = probe.heapTop; // the input area starts where it would end
  const end = Math.ceil((inputAt + MAX_LEN) / 65536) * 65536;
  const p = ProfileParser.fromModule(MODULE, {
    ringCapacity,
    batchCapacity,
    inputBytes: end - inputAt,
    tables,
  });
  assert.equal(p.heapTop, end);
  assert.equal(p.memory.buffer.byteLength, end, "input area ends the memory");
  return {
    p,
    end,
    mem: new Uint8Array(p.memory.buffer),
    view: new DataView(p.memory.buffer),
  };
}

/** The base streams mutations start from. */
function basePool(rng: Rng): Uint8Array[] {
  const pool: Uint8Array[] = [];
  for (let s = 0; s < 96; s++) {
    const pieces: Piece[] = [];
    const n = rng.below(24);
    for (let i = 0; i < n; i++) {
      const k = rng.below(100);
      const event = {
        timestampNs: BigInt(rng.below(64)) * 1000n + BigInt(rng.u32()),
        pid: rng.u32() | 0,
        tid: rng.u32() | 0,
        userStackId: rng.below(4) === 0 ? -14 : rng.below(1000),
        kernelStackId: rng.below(4) === 0 ? -17 : rng.below(1000),
        cpu: rng.below(20) === 0 ? rng.u32() : rng.below(4),
        flags: rng.below(32),
      };
      if (k < 45) pieces.push({ kind: "event", event });
      else if (k < 75) {
        // The profiler's record: frames from a small pool (stacks repeat),
        // sometimes a fault, sometimes no frames, sometimes full depth.
        const stack = (kernel: boolean) => {
          const r = rng.below(12);
          if (r === 0) return -14;
          if (r === 1) return [];
          if (r === 2) return framesOf(127, rng.below(3), kernel);
          return framesOf(1 + rng.below(5), rng.below(6), kernel);
        };
        pieces.push({
          kind: "sample",
          sample: {
            event: { ...event, flags: event.flags & 3 },
            user: stack(false),
            kernel: stack(true),
          },
        });
      } else if (k < 85) {
        pieces.push({
          kind: "discard",
          len: rng.below(3) ? 32 : rng.below(80),
          event,
        });
      } else if (k < 95) {
        pieces.push({
          kind: "bad",
          len: rng.below(2) ? rng.below(32) : 33 + rng.below(80),
          fill: rng.below(256),
        });
      } else if (k < 98) {
        pieces.push({ kind: "busy", len: 32, event });
      } else {
        const bytes = new Uint8Array(rng.below(24));
        for (let j = 0; j < bytes.length; j++) bytes[j] = rng.below(256);
        pieces.push({ kind: "raw", bytes });
      }
    }
    const b = buildStream(pieces);
    pool.push(b.byteLength <= MAX_LEN ? b : b.subarray(0, MAX_LEN));
  }
  return pool;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name:
    `fuzz: ${COUNT} random and mutated streams: no trap, no OOB read, agreement`,
  fn() {
    const rng = new Rng(SEED);
    const pool = basePool(rng);
    // Two parsers: a batch that never fills, and one of 2 events that keeps
    // stopping with batch-full (and also feeds the ring).
    // Tables: roomy for the first, tiny for the second (it keeps stopping
    // with tables-full and is cut, as a ring reader does).
    const tableSizes = [
      { stacks: 256, frames: 4096, aggregates: 256 },
      { stacks: 4, frames: 300, aggregates: 3 },
    ];
    const parsers = [
      flushParser(64, 4096, tableSizes[0]),
      flushParser(5, 2, tableSizes[1]),
    ];
    const states: ReferenceStreamState[] = [new Map(), new Map()];
    const models: ReferenceTables[] = tableSizes.map((t) => ({
      ...t,
      aggregate: false,
    }));
    const scratch = new Uint8Array(MAX_LEN + 8);
    const sv = new DataView(scratch.buffer);
    const totals = {
      inputs: 0,
      flush: 0,
      ...zeroCounts(),
      busy: 0,
      batchFull: 0,
      tablesFull: 0,
      withFrames: 0,
      stacksChecked: 0,
    };

    for (let it = 0; it < COUNT; it++) {
      // ---- make an input in scratch[0, len)
      let len: number;
      const kind = rng.below(100);
      if (kind < 10) {
        // Pure random bytes, sometimes shorter than a header.
        len = rng.below(kind < 2 ? 8 : 257);
        for (let i = 0; i < len; i += 4) sv.setUint32(i, rng.u32(), true);
      } else if (kind < 20) {
        // Headers with random lengths (small or any), random payloads.
        len = 0;
        const target = rng.below(MAX_LEN);
        while (len + 8 <= target) {
          const r = rng.below(10);
          const l = r < 6 ? rng.below(64) : r < 8 ? 32 : rng.u32();
          sv.setUint32(len, l, true);
          sv.setUint32(len + 4, rng.u32(), true);
          const total = Math.min(((l & 0x3fffffff) + 15) & ~7, target - len);
          for (let i = len + 8; i + 4 <= len + total; i += 4) {
            sv.setUint32(i, rng.u32(), true);
          }
          len += Math.max(8, total - (total % 8));
        }
      } else {
        // A valid stream, mutated 1-4 times.
        const base = pool[rng.below(pool.length)];
        scratch.set(base);
        len = base.byteLength;
        const muts = 1 + rng.below(4);
        for (let m = 0; m < muts; m++) {
          const op = rng.below(8);
          const recs = len >> 3;
          if (recs === 0 && op < 6) continue;
          const at = rng.below(recs) << 3; // an 8-aligned spot: often a header
          switch (op) {
            case 0: // flip a flag bit of a header-ish word
              sv.setUint32(
                at,
                (sv.getUint32(at, true) ^
                  (rng.below(2) ? 0x80000000 : 0x40000000)) >>> 0,
                true,
              );
              break;
            case 1: // flip any bit of a header-ish word
              sv.setUint32(
                at,
                (sv.getUint32(at, true) ^ (1 << rng.below(32))) >>> 0,
                true,
              );
              break;
            case 2: // a random small length
              sv.setUint32(at, rng.below(80), true);
              break;
            case 3: // a random length word
              sv.setUint32(at, rng.u32(), true);
              break;
            case 4: // flip a random bit anywhere
              scratch[rng.below(len)] ^= 1 << rng.below(8);
              break;
            case 5: // a random CPU or timestamp word
              sv.setUint32(
                at + 4 * rng.below(2),
                rng.below(2) ? rng.below(8) : rng.u32(),
                true,
              );
              break;
            case 6: // truncate anywhere
              len = rng.below(len + 1);
              break;
            case 7: { // append random bytes
              const add = Math.min(rng.below(64), MAX_LEN - len);
              for (let i = 0; i < add; i++) scratch[len + i] = rng.below(256);
              len += add;
              break;
            }
          }
        }
      }
      const input = scratch.subarray(0, len);

      // ---- walk it with the WASM parser, flush against the memory's end
      const which = rng.below(4) === 0 ? 1 : 0;
      const { p, end, mem, view } = parsers[which];
      const state = states[which];
      if (rng.below(64) === 0) {
        p.resetStream();
        state.clear();
      }
      const at = end - ((len + 3) & ~3);
      mem.set(input, at);
      for (let i = at + len; i < end; i++) mem[i] = rng.below(256);
      if (at + len === end) totals.flush++;
      const model = models[which];
      const toAggregate = rng.below(2) === 0;
      model.aggregate = toAggregate;
      let consumed: number;
      try {
        consumed = p.walkAt(at, len, which === 1, true, toAggregate);
      } catch (err) {
        throw new Error(
          `seed ${SEED} iteration ${it}: walk threw on ${len} bytes ${
            hex(input)
          }`,
          { cause: err },
        );
      }

      // ---- the reference on the same bytes, compared field by field
      const ref = referenceWalk(input, state, p.batchCapacity, model);
      const s = ref.stats;
      const got = p.lastStats();
      const same = (a: typeof s.userStacks, b: typeof s.userStacks) =>
        a.resolved === b.resolved && a.truncated === b.truncated &&
        a.empty === b.empty && a.fault === b.fault;
      let bad = consumed !== s.consumed ||
        got.noFrames !== s.noFrames ||
        !same(got.userStacks, s.userStacks) ||
        !same(got.kernelStacks, s.kernelStacks) ||
        got.userFrames !== s.userFrames ||
        got.kernelFrames !== s.kernelFrames ||
        p.stackCount !== model.held!.stacks.size ||
        p.frameCount !== model.held!.frames ||
        (toAggregate && p.aggregateCount !== model.held!.keys.size) ||
        got.consumed !== s.consumed ||
        got.events !== s.events ||
        got.discarded !== s.discarded ||
        got.malformed !== s.malformed ||
        got.shortRecords !== s.shortRecords ||
        got.longRecords !== s.longRecords ||
        got.pastEnd !== s.pastEnd ||
        got.stop !== s.stop ||
        got.outOfOrder !== s.outOfOrder ||
        got.badCpu !== s.badCpu ||
        got.perCpu.size !== s.perCpu.size ||
        p.batchLength !== ref.events.length;
      if (!bad) {
        for (const [c, v] of s.perCpu) {
          const g = got.perCpu.get(c);
          if (!g || g.events !== v.events || g.outOfOrder !== v.outOfOrder) {
            bad = true;
          }
        }
      }
      // A stack id handed on must name exactly the reference's frames.
      const stackOk = (
        id: number,
        wire: number,
        frames: bigint[] | null,
        pid: number,
      ) => {
        if (frames === null) {
          return id === (wire < 0 ? StackId.FAULT : StackId.EMPTY);
        }
        totals.stacksChecked++;
        if (id < 0 || p.stackPid(id) !== pid) return false;
        const f = p.stackFrames(id);
        if (f.length !== frames.length) return false;
        for (let i = 0; i < f.length; i++) if (f[i] !== frames[i]) return false;
        return true;
      };
      if (!bad) {
        let e = p.batchOffset;
        for (const d of ref.decoded) {
          const r = d.event;
          const withFrames = (r.flags & EventFlags.FRAMES) !== 0;
          if (
            view.getBigUint64(e, true) !== r.timestampNs ||
            view.getInt32(e + 8, true) !== r.pid ||
            view.getInt32(e + 12, true) !== r.tid ||
            view.getUint32(e + 24, true) !== r.cpu ||
            view.getUint32(e + 28, true) !== r.flags ||
            (withFrames
              ? !stackOk(
                view.getInt32(e + 16, true),
                r.userStackId,
                d.user,
                r.pid,
              ) ||
                !stackOk(
                  view.getInt32(e + 20, true),
                  r.kernelStackId,
                  d.kernel,
                  -1,
                )
              : view.getInt32(e + 16, true) !== r.userStackId ||
                view.getInt32(e + 20, true) !== r.kernelStackId)
          ) {
            bad = true;
            break;
          }
          if (withFrames) totals.withFrames++;
          e += EVENT_SIZE;
        }
      }
      // The invariants, whatever the input.
      if (
        s.consumed > len || s.consumed % 8 !== 0 ||
        (s.stop === "end") !== (s.consumed === len) ||
        s.malformed !== s.shortRecords + s.longRecords + s.pastEnd
      ) bad = true;
      if (bad) {
        assert.fail(
          `seed ${SEED} iteration ${it}: WASM and reference disagree on ${len} bytes ${
            hex(input)
          }\nwasm: ${Deno.inspect(got)}\nref:  ${Deno.inspect(s)}`,
        );
      }
      totals.inputs++;
      addCounts(totals, s);
      if (s.stop === "busy") totals.busy++;
      if (s.stop === "batch-full") totals.batchFull++;
      if (s.stop === "tables-full") totals.tablesFull++;
      // Cut when full (as a reader does), and now and then anyway.
      if (s.stop === "tables-full" || rng.below(32) === 0) {
        p.cutTables();
        model.held = undefined;
      }
    }

    console.log(`seed ${SEED}: ${JSON.stringify(totals)}`);
    assert.equal(totals.inputs, COUNT);
    // The generator reached every case, most inputs sat flush at the end.
    if (COUNT >= 100_000) {
      for (const [k, v] of Object.entries(totals)) {
        assert.ok(v >= COUNT / 200, `only ${v} x ${k}`);
      }
      assert.ok(totals.flush >= COUNT / 2, `only ${totals.flush} flush`);
    }
    // The memory never moved under all that.
    for (const { p, end, mem } of parsers) {
      assert.equal(p.memory.buffer.byteLength, end);
      assert.equal(mem.byteLength, end);
    }
  },
});
