import assert from "node:assert/strict";
import { parseConsole, stageOf, verdict } from "./guest_report.ts";

const ok = [
  "[    0.000000] Booting Linux",
  "@@streamprof boot-to-init 2.00",
  "@@streamprof uname-r 6.12.117+deb13-arm64",
  "@@streamprof uname-m aarch64",
  "@@streamprof nproc 2",
  "@@streamprof start 2.46",
  "validate: 1000 Hz: pass",
  '@@streamprof smoke {"ringbuf":1}',
  "@@streamprof end 3.84",
  "@@streamprof exit 0",
  "@@streamprof done",
  "[    4.007181] reboot: Restarting system",
];

Deno.test("parseConsole reads every mark", () => {
  const r = parseConsole(ok);
  assert.equal(r.bootToInit, 2);
  assert.equal(r.unameR, "6.12.117+deb13-arm64");
  assert.equal(r.unameM, "aarch64");
  assert.equal(r.nproc, 2);
  assert.equal(r.start, 2.46);
  assert.equal(r.end, 3.84);
  assert.equal(r.exitCode, 0);
  assert.equal(r.done, true);
  assert.deepEqual(r.extra, { smoke: '{"ringbuf":1}' });
  assert.equal(r.panic, undefined);
  assert.deepEqual(verdict(r, { code: 0 }), {
    pass: true,
    reason: "guest command exited 0",
  });
});

Deno.test("marks are found after kernel noise on the same line and with CR", () => {
  const r = parseConsole(["[  1.0] x@@streamprof exit 3\r"]);
  assert.equal(r.exitCode, 3);
});

Deno.test("a failed command fails, with the dmesg tail collected", () => {
  const r = parseConsole([
    "@@streamprof boot-to-init 1",
    "@@streamprof start 1.5",
    "@@streamprof exit 3",
    "@@streamprof dmesg-begin",
    "[ 2.0] bpf: prog rejected",
    "@@streamprof dmesg-end",
    "@@streamprof done",
  ]);
  assert.deepEqual(r.dmesg, ["[ 2.0] bpf: prog rejected"]);
  assert.deepEqual(verdict(r, { code: 0 }), {
    pass: false,
    reason: "guest command exited 3",
  });
});

Deno.test("QEMU's exit code 0 does not make a silent guest pass", () => {
  assert.equal(verdict(parseConsole([]), { code: 0 }).pass, false);
  assert.match(
    verdict(parseConsole([]), { code: 0 }).reason,
    /never reached init/,
  );
  assert.match(
    verdict(parseConsole([]), {
      code: 1,
      stderr: "qemu: could not load kernel\n",
    }).reason,
    /QEMU exited 1: qemu: could not load kernel/,
  );
});

Deno.test("kernel panic before and after init", () => {
  const before = parseConsole([
    "[ 0.5] Kernel panic - not syncing: VFS: Unable to mount root fs",
  ]);
  assert.match(
    verdict(before, { code: 0 }).reason,
    /kernel failed before init: Kernel panic/,
  );
  const after = parseConsole([
    "@@streamprof boot-to-init 1",
    "@@streamprof start 1.5",
    "[ 3.0] Unable to handle kernel NULL pointer dereference",
  ]);
  assert.match(
    verdict(after, { code: 0 }).reason,
    /stopped before the command finished \(Unable to handle kernel/,
  );
});

Deno.test("timeouts name the stage; fatal setup errors fail", () => {
  const r = parseConsole(["@@streamprof boot-to-init 1"]);
  assert.equal(stageOf(r), "setting up the guest (modules, 9p mounts)");
  assert.deepEqual(
    verdict(r, { code: null, timedOut: { seconds: 60, stage: stageOf(r) } }),
    {
      pass: false,
      reason:
        "timeout after 60 s while setting up the guest (modules, 9p mounts)",
    },
  );
  assert.equal(stageOf(parseConsole([])), "booting the kernel");
  assert.equal(
    stageOf(
      parseConsole(["@@streamprof boot-to-init 1", "@@streamprof start 2"]),
    ),
    "running the guest command",
  );
  const f = parseConsole([
    "@@streamprof boot-to-init 1",
    "@@streamprof fatal cannot mount the project over 9p",
    "@@streamprof exit 0",
    "@@streamprof done",
  ]);
  assert.match(
    verdict(f, { code: 0 }).reason,
    /guest setup failed: cannot mount the project/,
  );
  assert.equal(
    verdict(parseConsole(ok), { code: 0, interrupted: true }).reason,
    "interrupted",
  );
});
