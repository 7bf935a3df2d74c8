import assert from "node:assert/strict";
import type { ValidationReport, ValidationRow } from "./run_validation.ts";
import {
  formatHz,
  validationJUnit,
  validationTable,
} from "./validation_report.ts";

function row(hz: number, dropped: number, memory: number): ValidationRow {
  const produced = 1000 * hz / 100;
  return {
    requestedHz: hz,
    durationS: 10,
    cpus: 2,
    achievedPerCpuSecond: hz * 0.99,
    produced,
    consumed: produced - dropped,
    dropped,
    eventsPer10s: produced - dropped,
    consumerCpuPercent: 0.5,
    consumerCpuNsPerEvent: 250,
    v8HeapBytes: 5e6,
    wasmBytes: 0.85e6,
    ringBytes: 8 << 20,
    consumerMemoryBytes: memory,
    rssBytes: 80e6,
    counters: {} as ValidationRow["counters"],
    reconciliation: {
      ok: dropped === 0,
      balanced: true,
      produced,
      consumed: produced - dropped,
      dropped,
      lossless: dropped === 0,
      stacks: null,
      problems: dropped ? [`${dropped} events dropped`] : [],
      line: "reconciled",
      stackLine: "",
    },
    pass: dropped === 0 && memory < 20e6,
    problems: dropped ? [`${dropped} events dropped`] : [],
  };
}

function report(rows: ValidationRow[]): ValidationReport {
  return {
    tool: "streamprof validate",
    environment: {
      arch: "x86_64",
      kernel: "6.18.44",
      hostname: "h",
      onlineCpus: 2,
      label: "x86_64 / 6.18.44",
    },
    startedAt: "2026-11-25T00:00:00Z",
    memoryBoundBytes: 20e6,
    rows,
    interrupted: false,
    pass: rows.every((r) => r.pass),
  };
}

Deno.test("formatHz", () => {
  assert.equal(formatHz(100), "100 Hz");
  assert.equal(formatHz(1000), "1 kHz");
  assert.equal(formatHz(10000), "10 kHz");
  assert.equal(formatHz(1500), "1500 Hz");
});

Deno.test("validationTable: metric rows x environment columns, failures and missing runs shown", () => {
  const t = validationTable([
    {
      label: "host",
      report: report([row(1000, 0, 15e6), row(10000, 3, 15e6)]),
    },
    { label: "vm", error: "boot timed out" },
  ]);
  const lines = t.split("\n");
  assert.match(lines[0], /^metric\s+\| host\s+\| vm$/);
  assert.match(
    t,
    /1 kHz sampling: no drops\s+\| PASS \(0 dropped of 10,000\)\s+\| not run: boot timed out/,
  );
  assert.match(
    t,
    /10 kHz sampling: no drops\s+\| FAIL \(3 dropped of 100,000\)/,
  );
  assert.match(t, /10 kHz: achieved rate\s+\| 9,900\/CPU-s/);
  assert.match(
    t,
    /memory: heap\+WASM\+ring < 20 MB\s+\| PASS 15\.0 MB \(RSS 80\.0 MB\)/,
  );
  assert.match(
    t,
    /reconciliation: exact \(events and stacks\)\s+\| PASS \(every row\)/,
  );
});

Deno.test("validationTable: memory over the bound fails", () => {
  const t = validationTable([{
    label: "host",
    report: report([row(1000, 0, 21e6)]),
  }]);
  assert.match(t, /memory: heap\+WASM\+ring < 20 MB\s+\| FAIL 21\.0 MB/);
});

Deno.test("validationJUnit: a case per rate and memory; failures carry the problems", () => {
  const xml = validationJUnit("suite", [
    {
      label: "host",
      report: report([row(1000, 0, 15e6), row(10000, 3, 15e6)]),
    },
    { label: "vm", error: "boot timed out" },
  ]);
  assert.match(xml, /tests="4" failures="2"/);
  assert.match(xml, /<failure message="3 events dropped">/);
  assert.match(xml, /<failure message="boot timed out">/);
  assert.match(xml, /name="host: memory heap\+WASM\+ring under 20 MB"/);
});
