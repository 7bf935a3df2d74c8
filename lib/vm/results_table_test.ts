import assert from "node:assert/strict";
import {
  columnLabel,
  flattenJson,
  renderResultsTable,
  resultsTable,
} from "./results_table.ts";

Deno.test("flattenJson: dotted paths, lists of objects by id key, scalar lists joined", () => {
  const f = flattenJson({
    tool: "streamprof validate",
    environment: { arch: "aarch64", cpus: 2 },
    rows: [
      { requestedHz: 1000, dropped: 0, achieved: 929.2912, problems: [] },
      { requestedHz: 10000, dropped: 0, achieved: 3308.048 },
    ],
    runs: [{ x: 1 }, { x: 2 }],
    tags: ["a", "b"],
    pass: true,
    nothing: null,
  });
  assert.deepEqual([...f], [
    ["tool", "streamprof validate"],
    ["environment.arch", "aarch64"],
    ["environment.cpus", "2"],
    ["rows[1000].requestedHz", "1000"],
    ["rows[1000].dropped", "0"],
    ["rows[1000].achieved", "929.291"],
    ["rows[1000].problems", ""],
    ["rows[10000].requestedHz", "10000"],
    ["rows[10000].dropped", "0"],
    ["rows[10000].achieved", "3308.048"],
    ["runs[0].x", "1"],
    ["runs[1].x", "2"],
    ["tags", "a, b"],
    ["pass", "true"],
    ["nothing", "null"],
  ]);
  assert.deepEqual([...flattenJson(42)], [["value", "42"]]);
});

Deno.test("resultsTable: facts first, then every metric present, '-' where missing", () => {
  const t = resultsTable([
    {
      vm: "default",
      arch: "arm64",
      kernel: "6.12.117",
      facts: { result: "PASS", "boot (s)": 2.5 },
      json: { ringbuf: 1, rows: [{ name: "a", v: 1 }] },
    },
    {
      vm: "old",
      arch: "arm64",
      kernel: "5.10.0",
      facts: { result: "FAIL: timeout" },
    },
    {
      vm: "host",
      arch: "x86_64",
      kernel: "6.18.44",
      facts: { result: "PASS", extra: true },
      json: { ringbuf: 1, other: "x" },
    },
  ]);
  assert.deepEqual(t.header, [
    "metric",
    "default (arm64 / 6.12.117)",
    "old (arm64 / 5.10.0)",
    "host (x86_64 / 6.18.44)",
  ]);
  assert.deepEqual(t.rows, [
    ["result", "PASS", "FAIL: timeout", "PASS"],
    ["boot (s)", "2.5", "-", "-"],
    ["extra", "-", "-", "true"],
    ["ringbuf", "1", "-", "1"],
    ["rows[a].name", "a", "-", "-"],
    ["rows[a].v", "1", "-", "-"],
    ["other", "-", "-", "x"],
  ]);
});

Deno.test("renderResultsTable aligns columns and cuts long cells", () => {
  const text = renderResultsTable({
    header: ["metric", "a", "b"],
    rows: [["x", "1", "22"], ["long", "x".repeat(10), "3"]],
  }, 6);
  assert.equal(
    text,
    [
      "metric | a      | b",
      "-------|--------|---",
      "x      | 1      | 22",
      "long   | xxxxx… | 3",
    ].join("\n"),
  );
  assert.equal(columnLabel({ vm: "v", arch: "a", kernel: "k" }), "v (a / k)");
});
