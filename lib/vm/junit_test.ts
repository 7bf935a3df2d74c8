import assert from "node:assert/strict";
import { guestSuites } from "./junit.ts";
import { matrixJUnit } from "./suite_report.ts";
import { xmlEscape } from "../report/junit.ts";

Deno.test("xmlEscape escapes markup and drops forbidden control characters", () => {
  assert.equal(
    xmlEscape(`<a href="x">&'\x01\x1b[0m</a>`),
    "&lt;a href=&quot;x&quot;&gt;&amp;&apos;[0m&lt;/a&gt;",
  );
});

Deno.test("matrixJUnit: a suite per run, a case per check; failures carry output and the kernel log, pending is skipped", () => {
  const xml = matrixJUnit([
    {
      vm: "default",
      arch: "arm64",
      kernel: "6.12",
      pass: false,
      reason: "guest command exited 1",
      timeSeconds: 69.5,
      lastLines: ["last <line>"],
      dmesg: ["[ 1.0] BUG: oops"],
      guestXml: [
        '<testsuites><testsuite name="validate" tests="1"></testsuite></testsuites>',
      ],
      suite: {
        tool: "streamprof guest suite",
        kernel: "6.12",
        arch: "aarch64",
        duration: "5s",
        pass: false,
        checks: [
          {
            id: "validate",
            status: "fail",
            summary: "3 dropped",
            seconds: 12,
            outputTail: ["drop!"],
          },
          {
            id: "profile",
            status: "pending",
            summary: "no functions",
            seconds: 4,
          },
        ],
      },
    },
  ]);
  assert.ok(
    xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'),
  );
  assert.match(
    xml,
    /<testsuite name="default \(arm64 \/ 6\.12\)" tests="3" failures="2" errors="0" skipped="1" time="85\.500">/,
  );
  assert.match(
    xml,
    /<testcase name="run" classname="streamprof-vm.default" time="69.500"><failure message="guest command exited 1">/,
  );
  assert.match(
    xml,
    /<failure message="3 dropped">3 dropped<\/failure><system-out>drop!\n\[ 1\.0\] BUG: oops<\/system-out>/,
  );
  assert.match(xml, /<skipped message="no functions"\/>/);
  assert.match(xml, /<testsuite name="default: validate" tests="1">/);
});

Deno.test("guest suites are carried over with the VM name in front", () => {
  const guest =
    `<?xml version="1.0"?>\n<testsuites>\n<testsuite name="streamprof validate" tests="1"><testcase name="1 kHz"/></testsuite>\n<testsuite name="b" tests="0"/>\n</testsuites>`;
  assert.deepEqual(guestSuites(guest, "default"), [
    '<testsuite name="default: streamprof validate" tests="1"><testcase name="1 kHz"/></testsuite>',
    '<testsuite name="default: b" tests="0"/>',
  ]);
  const xml = matrixJUnit([{
    vm: "default",
    arch: "arm64",
    kernel: "6.12",
    pass: true,
    reason: "",
    timeSeconds: 1,
    lastLines: [],
    dmesg: [],
    guestXml: [guest],
  }]);
  assert.ok(xml.includes('<testsuite name="default: streamprof validate"'));
  assert.equal((xml.match(/<testsuites>/g) ?? []).length, 1);
});
