import assert from "node:assert";
import { assertGoPprofAgrees } from "./go_pprof.ts";
import { goPprofGate } from "./go_pprof_gate.ts";
import {
  decodePprof,
  encodePprof,
  KERNEL_ADDRESS_START,
  pprofStacks,
  toPprof,
} from "./pprof.ts";
import { exampleProfile, syntheticProfile } from "./test_profile.ts";
import { foldedStacks, parseFolded } from "../profile/folded.ts";

const goIgnore = (await goPprofGate("the go tool pprof tests")).skip;

Deno.test("pprof: sample types, period, times, labels, mappings, locations", () => {
  const p = exampleProfile();
  const x = toPprof(p);
  const s = (i: number | bigint) => x.stringTable.strings[Number(i)];
  assert.deepEqual(
    x.sampleType.map((t) => [s(t.type), s(t.unit)]),
    [["samples", "count"], ["cpu", "nanoseconds"]],
  );
  assert.deepEqual([s(x.periodType!.type), s(x.periodType!.unit)], [
    "cpu",
    "nanoseconds",
  ]);
  assert.equal(x.period, 10101010);
  assert.equal(x.timeNanos, 1_764_000_000_000_000_000n);
  assert.equal(x.durationNanos, p.meta.durationNs);
  assert.equal(s(x.defaultSampleType), "cpu");
  // Mappings: the two user files with their build ids, one kernel image.
  assert.deepEqual(
    x.mapping.map((m) => [
      Number(m.id),
      BigInt(m.memoryStart),
      BigInt(m.memoryLimit),
      s(m.filename),
      s(m.buildId),
    ]),
    [
      [1, 0x400000n, 0x402000n, "/usr/bin/app", "0123456789abcdef"],
      [2, 0x7f0000000000n, 0x7f0000100000n, "/usr/lib/libc.so.6", ""],
      [3, 0xffffffff81234567n, 0xffffffff81234568n, "[kernel.kallsyms]", ""],
    ],
  );
  // Locations: one per frame, with the address and the mapping.
  assert.deepEqual(
    x.location.map((
      l,
    ) => [Number(l.id), BigInt(l.address), Number(l.mappingId)]),
    p.frames.map((f, i) => [i + 1, f.address, [1, 1, 1, 2, 3][i]]),
  );
  assert.ok(BigInt(x.location[4].address) >= KERNEL_ADDRESS_START);
  // Samples leaf first, labels by key.
  assert.deepEqual(x.sample[1].locationId.map(Number), [5, 4, 2, 3]);
  const labels = Object.fromEntries(
    x.sample[1].label.map((
      l,
    ) => [s(l.key), Number(l.str) ? s(l.str) : Number(l.num)]),
  );
  assert.deepEqual(labels, {
    pid: 100,
    tid: 100,
    cpu: "1",
    comm: "app",
    thread: "app",
  });
  assert.deepEqual(x.comment.map(s).slice(1), [
    p.reconciliation.line,
    p.reconciliation.stackLine,
  ]);
});

Deno.test("pprof: inlined frames in order, leaf first, the caller last", () => {
  const p = exampleProfile();
  p.frames[0] = {
    ...p.frames[0],
    file: "app.c",
    line: 40,
    inlined: [{ name: "inner", file: "inner.h", line: 7 }, {
      name: "middle",
      file: "middle.h",
      line: 12,
    }],
  };
  const x = toPprof(p);
  const s = (i: number | bigint) => x.stringTable.strings[Number(i)];
  const fn = new Map(x.function.map((f) => [Number(f.id), f]));
  assert.deepEqual(
    x.location[0].line.map((l) => {
      const f = fn.get(Number(l.functionId))!;
      return [s(f.name), s(f.filename), Number(l.line)];
    }),
    [["inner", "inner.h", 7], ["middle", "middle.h", 12], [
      "spin",
      "app.c",
      40,
    ]],
  );
  assert.ok(x.mapping.every((m) => m.hasInlineFrames && m.hasLineNumbers));
});

Deno.test("pprof: lost stacks are their own frames: totals are the true count", async () => {
  const p = syntheticProfile({ stacks: 200 });
  const back = pprofStacks(await decodePprof(await encodePprof(p)));
  let sum = 0;
  for (const n of back.values()) sum += n;
  assert.equal(sum, p.totalSamples);
  assert.equal(back.get("worker-0;[user stack lost: fault]"), 1);
  // The same stacks as the folded output, sample for sample.
  assert.deepEqual(back, parseFolded(foldedStacks(p)));
});

Deno.test({
  name: "pprof: go tool pprof -top and -traces agree with our tables",
  ignore: goIgnore,
  fn: async () => {
    await assertGoPprofAgrees(exampleProfile());
    await assertGoPprofAgrees(syntheticProfile({ stacks: 300, threads: 3 }));
  },
});
