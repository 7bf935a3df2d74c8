import assert from "node:assert";
import { foldedStacks, parseFolded } from "../profile/folded.ts";
import { samplingPeriodNs } from "./pprof.ts";
import { speedscopeStacks, toSpeedscope } from "./speedscope.ts";
import { exampleProfile, syntheticProfile } from "./test_profile.ts";

Deno.test("speedscope: one sampled profile per thread, in time order, on one time axis", () => {
  const p = exampleProfile();
  const period = samplingPeriodNs(99);
  // A second thread, sampled once, late.
  p.samples.push({
    pid: 100,
    tid: 101,
    cpu: 0,
    comm: "app",
    thread: "io worker",
    count: 1,
    stack: [3, 1, 2],
  });
  p.totalSamples++;
  p.timeline!.push({
    offsetNs: 10 * period + 5,
    pid: 100,
    tid: 101,
    stack: [3, 1, 2],
  });
  const doc = toSpeedscope(p);
  assert.deepEqual(doc.profiles.map((x) => x.name), [
    "app (pid 100, tid 100)",
    "io worker (pid 100, tid 101)",
  ]);
  const late = doc.profiles[1];
  assert.equal(late.type, "sampled");
  assert.equal(late.unit, "nanoseconds");
  assert.equal(late.startValue, 0);
  // The gap up to its sample, then the sample: root first.
  assert.deepEqual(late.samples, [[], [2, 1, 3]]);
  assert.deepEqual(late.weights, [10 * period + 5, period]);
  assert.equal(late.endValue, 11 * period + 5);
  for (const x of doc.profiles) {
    assert.equal(x.samples.length, x.weights.length);
    assert.equal(
      x.weights.reduce((a, b) => a + b, 0),
      x.endValue - x.startValue,
    );
  }
  assert.deepEqual(doc.shared.frames[4], {
    name: "ksys_write_[k]",
    file: "[kernel.kallsyms]",
  });
  const back = speedscopeStacks(JSON.parse(JSON.stringify(doc)));
  assert.deepEqual(back, parseFolded(foldedStacks(p)));
});

Deno.test("speedscope: out-of-order timeline entries are sorted; lines give file and line", () => {
  const p = exampleProfile();
  p.timeline!.reverse();
  p.frames[0] = { ...p.frames[0], file: "app.c", line: 40 };
  const doc = toSpeedscope(p);
  assert.deepEqual(doc.shared.frames[0], {
    name: "spin",
    file: "app.c",
    line: 40,
  });
  assert.deepEqual(doc.profiles[0].samples.map((s) => s.length), [3, 4, 0, 3]);
});

Deno.test("speedscope: without a timeline, the aggregated stacks, the same totals", () => {
  const p = syntheticProfile({ stacks: 500 });
  delete p.timeline;
  const doc = toSpeedscope(p);
  assert.match(doc.name, /aggregated: no timeline/);
  assert.deepEqual(speedscopeStacks(doc), parseFolded(foldedStacks(p)));
});
