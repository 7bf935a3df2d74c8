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
