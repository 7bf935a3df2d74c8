import assert from "node:assert/strict";
import { samplingAttr } from "./perf_event.ts";

Deno.test("samplingAttr: software cpu-clock in frequency mode", () => {
  const a = new DataView(samplingAttr({ frequency: 997 }).buffer);
  assert.equal(a.byteLength, 128);
  assert.equal(a.getUint32(0, true), 1, "PERF_TYPE_SOFTWARE");
  assert.equal(a.getUint32(4, true), 128, "size");
  assert.equal(a.getBigUint64(8, true), 0n, "PERF_COUNT_SW_CPU_CLOCK");
  assert.equal(a.getBigUint64(16, true), 997n, "sample_freq");
  assert.equal(a.getBigUint64(40, true), 1n | (1n << 10n), "disabled | freq");
});

Deno.test("samplingAttr: hardware cycles with a period", () => {
  const a = new DataView(
    samplingAttr({ period: 1_000_000, hardwareEvents: true }).buffer,
  );
  assert.equal(a.getUint32(0, true), 0, "PERF_TYPE_HARDWARE");
  assert.equal(a.getBigUint64(8, true), 0n, "PERF_COUNT_HW_CPU_CYCLES");
  assert.equal(a.getBigUint64(16, true), 1_000_000n);
  assert.equal(a.getBigUint64(40, true), 1n, "disabled, no freq bit");
});

Deno.test("samplingAttr: rejects nonsense rates", () => {
  assert.throws(() => samplingAttr({ frequency: 0 }), RangeError);
  assert.throws(() => samplingAttr({ frequency: NaN }), RangeError);
  assert.throws(() => samplingAttr({ period: 0 }), RangeError);
});
