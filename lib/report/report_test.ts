import assert from "node:assert/strict";
import { junitXml, xmlEscape } from "./junit.ts";
import { formatTable } from "./table.ts";

Deno.test("formatTable pads columns and draws a rule", () => {
  const t = formatTable(["metric", "host"], [["drops", "0"], [
    "achieved rate",
    "1,000/CPU-s",
  ]]);
  assert.equal(
    t,
    [
      "metric        | host",
      "--------------|------------",
      "drops         | 0",
      "achieved rate | 1,000/CPU-s",
    ].join("\n"),
  );
});

Deno.test("junitXml counts failures and skips and escapes text", () => {
  const xml = junitXml("suite", [
    { name: "a <ok>", timeSeconds: 1.5 },
    { name: "b", failure: 'drops "3" & more' },
    { name: "c", skipped: "no VM" },
  ]);
  assert.match(
    xml,
    /<testsuite name="suite" tests="3" failures="1" errors="0" skipped="1" time="1.500">/,
  );
  assert.match(
    xml,
    /<testcase name="a &lt;ok&gt;" classname="suite" time="1.500"\/>/,
  );
  assert.match(xml, /<failure message="drops &quot;3&quot; &amp; more">/);
  assert.match(xml, /<skipped message="no VM"\/>/);
});

Deno.test("xmlEscape drops control characters XML cannot hold", () => {
  assert.equal(xmlEscape("a\x01b\tc"), "ab\tc");
});
