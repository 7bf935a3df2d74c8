import assert from "node:assert/strict";
import {
  buildState,
  cachedBuild,
  initScript,
  MARK,
  shellQuote,
} from "./initramfs.ts";
import { sha256Hex } from "./sha256.ts";
import { damage } from "../../tests/vm/fake_cache.ts";

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

async function writeBuild(
  root: string,
  name: string,
  paths: "relative" | "absolute",
) {
  const dir = `${root}/build/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/kernel`, "kernel image");
  await Deno.writeTextFile(`${dir}/initramfs.cpio`, "initramfs");
  const base = paths === "relative" ? `build/${name}` : dir;
  await Deno.writeTextFile(
    `${dir}/build.json`,
    JSON.stringify({
      kernel: `${base}/kernel`,
      kernelKind: "Image",
      initramfs: `${base}/initramfs.cpio`,
      kernelRelease: "6.12.1",
      modules: [],
      builtinModules: [],
      missingModules: [],
      sha256: {
        kernel: sha256Hex("kernel image"),
        initramfs: sha256Hex("initramfs"),
      },
      key: "inputs",
    }),
  );
}

Deno.test("build.json paths are relative to the cache root: a copied cache uses, and checks, its own boot files", async () => {
  const original = await Deno.makeTempDir();
  const copy = await Deno.makeTempDir();
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  try {
    await writeBuild(original, "vm", "relative");
    await new Deno.Command("cp", { args: ["-a", `${original}/build`, copy] })
      .output();
    const mine = await cachedBuild(copy, "vm", "inputs", log);
    assert.equal(mine?.kernel, `${copy}/build/vm/kernel`);
    assert.equal(mine?.initramfs, `${copy}/build/vm/initramfs.cpio`);
    // Damage in the copy is the copy's problem: rebuilt there, the original is fine.
    await damage(`${copy}/build/vm/initramfs.cpio`);
    assert.equal(await cachedBuild(copy, "vm", "inputs", log), undefined);
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `vm: the cached initramfs ${copy}/build/vm/initramfs.cpio has sha256 .*: rebuilding`,
      ),
    );
    assert.equal(
      (await cachedBuild(original, "vm", "inputs", log))?.kernel,
      `${original}/build/vm/kernel`,
    );
  } finally {
    await Deno.remove(original, { recursive: true });
    await Deno.remove(copy, { recursive: true });
  }
});

Deno.test("a build record with absolute paths or garbage is rebuilt, with the reason", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeBuild(root, "old", "absolute");
    assert.match(
      (await buildState(root, "old")).problem!,
      /does not record boot files relative to the cache root/,
    );
    await Deno.mkdir(`${root}/build/bad`, { recursive: true });
    await Deno.writeTextFile(`${root}/build/bad/build.json`, "[not json");
    assert.match(
      (await buildState(root, "bad")).problem!,
      /build\.json is not valid JSON/,
    );
    assert.deepEqual(await buildState(root, "never"), { bytes: 0 });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
