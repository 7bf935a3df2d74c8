import assert from "node:assert/strict";
import { EventFlags, StackId } from "../parser/layout.ts";
import {
  referenceEncodeRecords,
  referenceEncodeSamples,
} from "../parser/reference_decoder.ts";
import { ProfileParser } from "../parser/wasm_parser.ts";
import { StackProfile } from "./stack_profile.ts";

const event = (userStackId: number, kernelStackId: number, flags = 0) => ({
  timestampNs: 5n,
  pid: 7,
  tid: 8,
  userStackId,
  kernelStackId,
  cpu: 0,
  flags,
});

Deno.test("StackProfile timeline: events without frames have no stacks (not stack 0, not a fault); events with frames keep their ids", async () => {
  const parser = await ProfileParser.create();
  const profile = new StackProfile({ timeline: true });
  // Stacks off (fields 0) and the stress source (-ENOENT): raw kernel values.
  parser.walk(referenceEncodeRecords([event(0, 0), event(-2, -2)]), {
    toBatch: true,
    toAggregate: true,
  });
  profile.recordBatch(parser);
  parser.walk(
    referenceEncodeSamples([{
      event: event(0, 0),
      user: [0x401000n],
      kernel: [],
    }]),
    { toBatch: true, toAggregate: true },
  );
  assert.ok(parser.batchFlags(0) & EventFlags.FRAMES);
  profile.recordBatch(parser);
  profile.absorb(parser);
  const t = profile.timeline!;
  assert.equal(t.length, 3);
  assert.deepEqual([...t.userStacks.subarray(0, 2)], [
    StackId.NOT_COLLECTED,
    StackId.NOT_COLLECTED,
  ]);
  assert.deepEqual([...t.kernelStacks.subarray(0, 2)], [
    StackId.NOT_COLLECTED,
    StackId.NOT_COLLECTED,
  ]);
  assert.ok(t.userStacks[2] >= 0, `a stack id, got ${t.userStacks[2]}`);
  assert.equal(t.kernelStacks[2], StackId.EMPTY);
});

Deno.test("StackProfile: a stack met again in a later interval, or by another parser, is the same stack; other stacks stay apart", async () => {
  const sample = (pid: number, user: bigint[]) => ({
    event: { ...event(0, 0), pid, tid: pid },
    user,
    kernel: [0xffffffff81000010n],
  });
  const a = [0x401000n, 0x402000n], b = [0x401000n, 0x403000n];
  const one = await ProfileParser.create();
  const two = await ProfileParser.create();
  const profile = new StackProfile();
  // Interval 1 in parser one: a in pid 7, b in pid 7, a in pid 9 (another
  // address space: another stack).
  one.walk(referenceEncodeSamples([sample(7, a), sample(7, b), sample(9, a)]), {
    toAggregate: true,
  });
  profile.absorb(one);
  one.cutTables();
  assert.equal(profile.stackCount, 4); // three user stacks, one kernel
  // Interval 2, in a fresh table of parser one, and the same stacks from
  // another parser (which numbered them in another order).
  one.walk(referenceEncodeSamples([sample(9, a), sample(7, a)]), {
    toAggregate: true,
  });
  profile.absorb(one);
  two.walk(referenceEncodeSamples([sample(7, b), sample(7, a)]), {
    toAggregate: true,
  });
  profile.absorb(two);
  assert.equal(profile.stackCount, 4);
  assert.equal(profile.totalSamples, 7);
  const perStack = new Map<string, number>();
  for (const s of profile.samples) {
    const st = profile.stack(s.userStack);
    const key = `${st.pid}:${[...st.frames].join(",")}`;
    perStack.set(key, (perStack.get(key) ?? 0) + s.samples);
  }
  assert.deepEqual(
    Object.fromEntries(perStack),
    {
      [`7:${a.join(",")}`]: 3,
      [`7:${b.join(",")}`]: 2,
      [`9:${a.join(",")}`]: 2,
    },
  );
});
