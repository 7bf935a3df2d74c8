import assert from "node:assert/strict";
import {
  loadOrder,
  modinfo,
  moduleName,
  resolveKernelModules,
} from "./kmod.ts";

/** A minimal ELF64 LE with a `.modinfo` section (and the section name table). */
function fakeModule(info: string[]): Uint8Array {
  const enc = new TextEncoder();
  const modinfoBytes = enc.encode(info.map((s) => s + "\0").join(""));
  const shstr = enc.encode("\0.modinfo\0.shstrtab\0");
  const dataOff = 64;
  const strOff = dataOff + modinfoBytes.length;
  const shoff = (strOff + shstr.length + 7) & ~7;
  const buf = new Uint8Array(shoff + 3 * 64);
  const dv = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setBigUint64(0x28, BigInt(shoff), true);
  dv.setUint16(0x3a, 64, true);
  dv.setUint16(0x3c, 3, true);
  dv.setUint16(0x3e, 2, true);
  buf.set(modinfoBytes, dataOff);
  buf.set(shstr, strOff);
  const sec = (i: number, name: number, off: number, size: number) => {
    const o = shoff + i * 64;
    dv.setUint32(o, name, true);
    dv.setBigUint64(o + 0x18, BigInt(off), true);
    dv.setBigUint64(o + 0x20, BigInt(size), true);
  };
  sec(0, 0, 0, 0);
  sec(1, 1, dataOff, modinfoBytes.length);
  sec(2, 10, strOff, shstr.length);
  return buf;
}

Deno.test("modinfo reads key=value strings of .modinfo", () => {
  const m = modinfo(
    fakeModule([
      "license=GPL",
      "depends=netfs,9pnet",
      "alias=fs-9p",
      "alias=9p",
      "name=9p",
    ]),
  );
  assert.deepEqual(m.depends, ["netfs,9pnet"]);
  assert.deepEqual(m.alias, ["fs-9p", "9p"]);
  assert.deepEqual(m.name, ["9p"]);
  assert.throws(() => modinfo(new Uint8Array(100)), /not an ELF/);
});

Deno.test("moduleName strips extensions and maps - to _", () => {
  assert.equal(
    moduleName("kernel/drivers/char/hw_random/virtio-rng.ko.xz"),
    "virtio_rng",
  );
  assert.equal(moduleName("9pnet_virtio.ko.zst"), "9pnet_virtio");
  assert.equal(moduleName("overlay.ko"), "overlay");
});

Deno.test("loadOrder puts dependencies first, once, and reports built-ins and unknowns", () => {
  const deps: Record<string, string[]> = {
    "9p": ["netfs", "9pnet"],
    "9pnet_virtio": ["9pnet", "virtio", "virtio_ring"],
    "9pnet": [],
    netfs: ["fscache"],
    fscache: [],
    virtio_ring: [],
  };
  const r = loadOrder(
    ["9p", "9pnet_virtio", "virtio_pci", "nosuch"],
    (m) => deps[m] ?? [],
    (m) => m in deps,
    (m) => m === "virtio" || m === "virtio_pci",
  );
  assert.deepEqual(r.order, [
    "fscache",
    "netfs",
    "9pnet",
    "9p",
    "virtio_ring",
    "9pnet_virtio",
  ]);
  assert.deepEqual(r.builtin, ["virtio_pci"]);
  assert.deepEqual(r.missing, ["nosuch"]);
});

Deno.test("loadOrder rejects dependency cycles", () => {
  const deps: Record<string, string[]> = { a: ["b"], b: ["a"] };
  assert.throws(
    () => loadOrder(["a"], (m) => deps[m], () => true, () => false),
    /cycle/,
  );
});

Deno.test("resolveKernelModules walks a module tree, reads deps, decompresses .xz", async () => {
  const root = await Deno.makeTempDir();
  try {
    const mods = `${root}/lib/modules/6.1.0-test`;
    await Deno.mkdir(`${mods}/kernel/fs/9p`, { recursive: true });
    await Deno.mkdir(`${mods}/kernel/net/9p`, { recursive: true });
    await Deno.writeFile(
      `${mods}/kernel/fs/9p/9p.ko`,
      fakeModule(["depends=9pnet", "name=9p"]),
    );
    const pnet = fakeModule(["depends=", "name=9pnet"]);
    await Deno.writeFile(`${mods}/kernel/net/9p/9pnet.ko`, pnet);
    let xz = true;
    try {
      const out = await new Deno.Command("xz", {
        args: ["-z", `${mods}/kernel/net/9p/9pnet.ko`],
      }).output();
      xz = out.code === 0;
    } catch {
      xz = false;
    }
    await Deno.writeTextFile(
      `${mods}/modules.builtin`,
      "kernel/drivers/virtio/virtio_pci.ko\n",
    );
    const r = await resolveKernelModules(mods, ["9p", "virtio_pci", "overlay"]);
    assert.deepEqual(r.modules.map((m) => m.name), ["9pnet", "9p"]);
    assert.deepEqual(
      r.modules[0].data,
      pnet,
      xz ? "decompressed from .ko.xz" : "plain .ko",
    );
    assert.deepEqual(r.builtin, ["virtio_pci"]);
    assert.deepEqual(r.missing, ["overlay"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
