import assert from "node:assert/strict";
import { initScript, MARK, shellQuote } from "./initramfs.ts";

Deno.test("shellQuote survives a real shell", async () => {
  for (const s of ["plain", "it's", "a b\tc", '$HOME `x` "q" \\ ;|&', ""]) {
    const out = await new Deno.Command("sh", {
      args: ["-c", `printf %s ${shellQuote(s)}`],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), s);
  }
});

Deno.test("initScript mounts what the guest needs and reports with marks", () => {
  const s = initScript({ triplet: "aarch64-linux-gnu" });
  assert.ok(s.startsWith("#!/bin/busybox sh\n"));
  for (
    const want of [
      "mount -t proc proc /proc",
      "mount -t sysfs sys /sys",
      "mount -t debugfs debugfs /sys/kernel/debug",
      "mount -t bpf bpf /sys/fs/bpf",
      "trans=virtio,version=9p2000.L",
      'ro,cache=loose" project /project.ro',
      "results /results",
      "ulimit -l unlimited",
      'insmod "/lib/modules/$m.ko"',
      "LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu",
      ". /results/guest.env",
      'sh -c "$GUEST_CMD"',
      "dmesg | tail -n 60",
      "reboot -f",
    ]
  ) assert.ok(s.includes(want), want);
  for (
    const mark of [
      "boot-to-init",
      "uname-r",
      "uname-m",
      "start",
      "exit",
      "done",
    ]
  ) {
    assert.ok(s.includes(`mark ${mark}`), mark);
  }
  assert.ok(s.includes(`echo "${MARK} $*"`));
});

Deno.test("initScript is valid busybox/POSIX shell syntax", async () => {
  const tmp = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(tmp, initScript({ triplet: "x86_64-linux-gnu" }));
    const out = await new Deno.Command("sh", {
      args: ["-n", tmp],
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(tmp);
  }
});
