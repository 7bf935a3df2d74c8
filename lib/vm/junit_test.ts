import assert from "node:assert/strict";
import { guestSuites, vmJUnit } from "./junit.ts";
import { xmlEscape } from "../report/junit.ts";

Deno.test("xmlEscape escapes markup and drops forbidden control characters", () => {
  assert.equal(
    xmlEscape(`<a href="x">&'\x01\x1b[0m</a>`),
    "&lt;a href=&quot;x&quot;&gt;&amp;&apos;[0m&lt;/a&gt;",
  );
});

Deno.test("vmJUnit: one case per run, failures with reason and output", () => {
  const xml = vmJUnit([
    {
      vm: "default",
      arch: "arm64",
      kernel: "6.12",
      pass: true,
      reason: "guest command exited 0",
      timeSeconds: 9.5,
    },
    {
      vm: "old",
      arch: "arm64",
      kernel: "5.10",
      pass: false,
      reason: "timeout after 60 s while booting the kernel",
      timeSeconds: 60,
      output: "last <line>",
    },
  ]);
  assert.ok(
    xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'),
  );
  assert.ok(
    xml.includes(
      '<testsuite name="streamprof-vm" tests="2" failures="1" errors="0" skipped="0" time="69.500">',
    ),
  );
  assert.ok(
    xml.includes(
      '<testcase name="default (arm64 / 6.12)" classname="streamprof-vm.default" time="9.500"/>',
    ),
  );
  assert.ok(
    xml.includes(
      '<failure message="timeout after 60 s while booting the kernel">',
    ),
  );
  assert.ok(xml.includes("<system-out>last &lt;line&gt;</system-out>"));
  assert.equal((xml.match(/<testcase /g) ?? []).length, 2);
  assert.ok(xml.trimEnd().endsWith("</testsuites>"));
});

Deno.test("guest suites are carried over with the VM name in front", () => {
  const guest =
    `<?xml version="1.0"?>\n<testsuites>\n<testsuite name="streamprof validate" tests="1"><testcase name="1 kHz"/></testsuite>\n<testsuite name="b" tests="0"/>\n</testsuites>`;
  assert.deepEqual(guestSuites(guest, "default"), [
    '<testsuite name="default: streamprof validate" tests="1"><testcase name="1 kHz"/></testsuite>',
    '<testsuite name="default: b" tests="0"/>',
  ]);
  const xml = vmJUnit([{
    vm: "default",
    arch: "arm64",
    kernel: "6.12",
    pass: true,
    reason: "",
    timeSeconds: 1,
    guestXml: guest,
  }]);
  assert.ok(xml.includes('<testsuite name="default: streamprof validate"'));
  assert.equal((xml.match(/<testsuites>/g) ?? []).length, 1);
});
