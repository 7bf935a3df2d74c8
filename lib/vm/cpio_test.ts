import assert from "node:assert/strict";
import { cpioHeader, CpioWriter } from "./cpio.ts";
import { exec } from "./exec.ts";

/** Minimal newc reader for the round trip. */
function readCpio(buf: Uint8Array) {
  const dec = new TextDecoder();
  const out: { name: string; mode: number; data: Uint8Array }[] = [];
  let off = 0;
  for (;;) {
    const head = dec.decode(buf.subarray(off, off + 110));
    assert.equal(head.slice(0, 6), "070701");
    const field = (i: number) =>
      parseInt(head.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = dec.decode(buf.subarray(off + 110, off + 110 + nameSize - 1));
    off = (off + 110 + nameSize + 3) & ~3;
    const data = buf.slice(off, off + size);
    off = (off + size + 3) & ~3;
    if (name === "TRAILER!!!") break;
    out.push({ name, mode, data });
  }
  assert.equal(off, buf.length);
  return out;
}

async function build(fill: (w: CpioWriter) => Promise<void>) {
  const chunks: Uint8Array[] = [];
  const w = new CpioWriter((c) => {
    chunks.push(c.slice());
  });
  await fill(w);
  await w.finish();
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  assert.equal(w.bytes, all.length);
  return all;
}

Deno.test("cpioHeader is 110 bytes + name, padded to 4", () => {
  const h = cpioHeader({ ino: 1, mode: 0o100644, size: 3, name: "ab" });
  assert.equal(h.length, 116); // 110 + "ab\0" = 113 -> 116
  const text = new TextDecoder().decode(h.subarray(0, 110));
  assert.equal(text.slice(0, 6), "070701");
  assert.equal(text.slice(6 + 6 * 8, 14 + 6 * 8), "00000003"); // filesize
  assert.equal(text.slice(6 + 11 * 8, 14 + 11 * 8), "00000003"); // namesize
});

Deno.test("CpioWriter round trip: dirs, files, streamed file, symlink", async () => {
  const tmp = await Deno.makeTempFile();
  const big = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => i % 251);
  await Deno.writeFile(tmp, big);
  try {
    const buf = await build(async (w) => {
      await w.dir("bin");
      await w.file("init", new TextEncoder().encode("#!/bin/sh\n"), 0o755);
      await w.fileFrom("bin/big", tmp, 0o600);
      await w.symlink("bin/sh", "busybox");
      await w.file("empty", new Uint8Array());
    });
    const e = readCpio(buf);
    assert.deepEqual(e.map((x) => x.name), [
      "bin",
      "init",
      "bin/big",
      "bin/sh",
      "empty",
    ]);
    assert.equal(e[0].mode, 0o040755);
    assert.equal(e[1].mode, 0o100755);
    assert.equal(new TextDecoder().decode(e[1].data), "#!/bin/sh\n");
    assert.equal(e[2].mode, 0o100600);
    assert.deepEqual(e[2].data, big);
    assert.equal(e[3].mode, 0o120777);
    assert.equal(new TextDecoder().decode(e[3].data), "busybox");
    assert.equal(e[4].data.length, 0);
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("the host's cpio lists what CpioWriter wrote", async () => {
  let cpio = true;
  try {
    await Deno.stat("/usr/bin/cpio");
  } catch {
    cpio = false;
  }
  if (!cpio) {
    console.log("cpio not installed: cross-check skipped");
    return;
  }
  const buf = await build(async (w) => {
    await w.dir("etc");
    await w.file(
      "etc/passwd",
      new TextEncoder().encode("root:x:0:0::/:/bin/sh\n"),
    );
    await w.symlink("link", "etc/passwd");
  });
  const out = await exec("cpio", ["-t", "--quiet"], {
    stdin: buf,
    allowFail: true,
  });
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.stdout.trim().split("\n"), [
    "etc",
    "etc/passwd",
    "link",
  ]);
});
