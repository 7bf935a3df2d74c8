import assert from "node:assert/strict";
import type { ProfilerCounters } from "../bpf/profiler_object.ts";
import { reconcile } from "./reconcile.ts";

function counters(p: Partial<ProfilerCounters>): ProfilerCounters {
  return {
    samplesSeen: 0,
    eventsSubmitted: 0,
    reserveFailed: 0,
    idleSkipped: 0,
    filtered: 0,
    userStackTruncated: 0,
    kernelStackTruncated: 0,
    stackCollisions: 0,
    userStackErrors: 0,
    kernelStackErrors: 0,
    ...p,
  };
}
const clean = { events: 90, discarded: 0, malformed: 0 };

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
  assert.deepEqual([r.produced, r.consumed, r.dropped], [90, 90, 0]);
  assert.match(r.line, /^reconciled: produced 90 = consumed 90 \+ dropped 0/);
});

Deno.test("reconcile: drops balance but are not ok", () => {
  const r = reconcile(
    counters({ samplesSeen: 100, eventsSubmitted: 90, reserveFailed: 10 }),
    clean,
  );
  assert.equal(r.balanced, true);
  assert.equal(r.ok, false);
  assert.equal(r.dropped, 10);
  assert.match(r.line, /^NOT RECONCILED: .*10 events dropped/);
});

Deno.test("reconcile: a consumed/submitted mismatch is an error, either way", () => {
  for (const events of [89, 91]) {
    const r = reconcile(counters({ samplesSeen: 90, eventsSubmitted: 90 }), {
      ...clean,
      events,
    });
    assert.equal(r.balanced, false);
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
