import assert from "node:assert/strict";
import { type ProfilerCounters, zeroCounters } from "../bpf/profiler_object.ts";
import { type ConsumedCounts, emptyConsumed, reconcile } from "./reconcile.ts";

function counters(p: Partial<ProfilerCounters>): ProfilerCounters {
  return { ...zeroCounters(), ...p };
}
const clean: ConsumedCounts = { ...emptyConsumed(), events: 90, noFrames: 90 };

Deno.test("reconcile: exact books with no drops are ok", () => {
  const r = reconcile(
    counters({
      samplesSeen: 100,
      eventsSubmitted: 90,
      idleSkipped: 7,
      filtered: 3,
    }),
    clean,
  );
  assert.equal(r.ok, true);
  assert.equal(r.balanced, true);
  assert.equal(r.lossless, true);
  assert.deepEqual([r.produced, r.consumed, r.dropped], [90, 90, 0]);
  assert.match(
    r.line,
    /^reconciled: produced 90 = consumed 90 \+ dropped 0; .*\(exact, nothing lost\)$/,
  );
  assert.equal(r.stacks, null);
  assert.equal(r.stackLine, "");
});

Deno.test("reconcile: drops that balance are 'balanced but LOSSY', never 'NOT RECONCILED'", () => {
  const r = reconcile(
    counters({ samplesSeen: 100, eventsSubmitted: 90, reserveFailed: 10 }),
    clean,
  );
  assert.equal(r.balanced, true);
  assert.equal(r.lossless, false);
  assert.equal(r.ok, false);
  assert.equal(r.dropped, 10);
  assert.match(
    r.line,
    /^balanced but LOSSY: produced 100 = consumed 90 \+ dropped 10; .*\(exact; 10 events dropped: the ring buffer was full\)$/,
  );
  assert.doesNotMatch(r.line, /NOT RECONCILED/);
});

Deno.test("reconcile: a consumed/submitted mismatch is an error, either way", () => {
  for (const events of [89, 91]) {
    const r = reconcile(counters({ samplesSeen: 90, eventsSubmitted: 90 }), {
      ...clean,
      events,
      noFrames: events,
    });
    assert.equal(r.balanced, false);
    assert.match(r.line, /^NOT RECONCILED: /);
    assert.match(
      r.problems[0],
      new RegExp(`consumed ${events} events but the kernel submitted 90`),
    );
  }
});

Deno.test("reconcile: kernel counters that do not add up are an error", () => {
  const r = reconcile(
    counters({ samplesSeen: 95, eventsSubmitted: 90 }),
    clean,
  );
  assert.equal(r.balanced, false);
  assert.match(r.problems[0], /kernel samples seen 95 != /);
});

Deno.test("reconcile: discarded or malformed records are errors", () => {
  const k = counters({ samplesSeen: 90, eventsSubmitted: 90 });
  assert.equal(reconcile(k, { ...clean, discarded: 1 }).balanced, false);
  assert.equal(reconcile(k, { ...clean, malformed: 2 }).balanced, false);
});

// 10 samples with frames: user 7 resolved, 1 truncated, 1 kernel thread, 1
// fault; kernel 4 resolved, 6 in user mode.
const stackKernel = counters({
  samplesSeen: 10,
  eventsSubmitted: 10,
  userStackTruncated: 1,
  userStackErrors: 1,
  userStackEmpty: 1,
  kernelStackEmpty: 6,
  userFrames: 170,
  kernelFrames: 40,
});
const stackConsumed: ConsumedCounts = {
  ...emptyConsumed(),
  events: 10,
  userStacks: { resolved: 7, truncated: 1, empty: 1, fault: 1 },
  kernelStacks: { resolved: 4, truncated: 0, empty: 6, fault: 0 },
  userFrames: 170,
  kernelFrames: 40,
};

Deno.test("reconcile: every stack is in one named bucket, and the buckets match the kernel's", () => {
  const r = reconcile(stackKernel, stackConsumed);
  assert.equal(r.ok, true, r.problems.join("; "));
  assert.deepEqual(r.stacks!.user, {
    samples: 10,
    resolved: 7,
    truncated: 1,
    empty: 1,
    fault: 1,
    collision: 0,
    storageFull: 0,
    lost: 1,
  });
  assert.equal(r.stacks!.kernel.empty, 6);
  assert.match(
    r.stackLine,
    /^stacks of 10 samples: user 7 resolved \+ 1 truncated \(kept\) \+ 1 kernel threads \+ 1 faults; kernel 4 resolved \+ 0 truncated \+ 6 in user mode \+ 0 faults; lost 1 /,
  );
});

Deno.test("reconcile: a stack bucket that differs from the kernel's, or buckets that do not add up, are errors", () => {
  const moved = {
    ...stackConsumed,
    userStacks: { resolved: 8, truncated: 0, empty: 1, fault: 1 },
  };
  const r = reconcile(stackKernel, moved);
  assert.equal(r.balanced, false);
  assert.ok(
    r.problems.some((p) =>
      /user stack truncated: consumed 0, the kernel counted 1/.test(p)
    ),
    r.problems.join("; "),
  );
  const short = {
    ...stackConsumed,
    kernelStacks: { resolved: 3, truncated: 0, empty: 6, fault: 0 },
  };
  const r2 = reconcile(stackKernel, short);
  assert.ok(
    r2.problems.some((p) => /kernel stacks: .* = 9, but 10 samples/.test(p)),
    r2.problems.join("; "),
  );
  const frames = { ...stackConsumed, kernelFrames: 39 };
  assert.ok(
    reconcile(stackKernel, frames).problems.some((p) =>
      /kernel stack frames: consumed 39, the kernel counted 40/.test(p)
    ),
  );
});
