import assert from "node:assert/strict";
import { bzImagePayload, compressionOf, hasPvhNote } from "./kernel_image.ts";

Deno.test("compressionOf knows the kernel's compressors", () => {
  assert.equal(compressionOf(new Uint8Array([0x1f, 0x8b, 8])), "gzip");
  assert.equal(
    compressionOf(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])),
    "xz",
  );
  assert.equal(compressionOf(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
  assert.equal(compressionOf(new Uint8Array([0x4d, 0x5a])), undefined); // "MZ": plain arm64 Image
});

Deno.test("bzImagePayload finds the payload from the setup header", () => {
  const img = new Uint8Array(8192);
  const dv = new DataView(img.buffer);
  img[0x1f1] = 3; // setup_sects -> protected-mode code at (3+1)*512
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, 0x020f, true);
  dv.setUint32(0x248, 100, true); // payload_offset
  dv.setUint32(0x24c, 6, true); // payload_length
  img.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 4 * 512 + 100);
  assert.deepEqual(bzImagePayload(img), {
    offset: 2148,
    length: 6,
    format: "xz",
  });
  dv.setUint32(0x202, 0, true);
  assert.throws(() => bzImagePayload(img), /not a bzImage/);
});

function elfWithNote(name: string, type: number): Uint8Array {
  const buf = new Uint8Array(512);
  const dv = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  dv.setBigUint64(0x20, 64n, true); // phoff
  dv.setUint16(0x36, 56, true); // phentsize
  dv.setUint16(0x38, 1, true); // phnum
  const noteOff = 200;
  const nameBytes = new TextEncoder().encode(name + "\0");
  dv.setUint32(64, 4, true); // PT_NOTE
  dv.setBigUint64(64 + 8, BigInt(noteOff), true);
  const size = 12 + ((nameBytes.length + 3) & ~3) + 4;
  dv.setBigUint64(64 + 32, BigInt(size), true);
  dv.setUint32(noteOff, nameBytes.length, true);
  dv.setUint32(noteOff + 4, 4, true);
  dv.setUint32(noteOff + 8, type, true);
  buf.set(nameBytes, noteOff + 12);
  return buf;
}

Deno.test("hasPvhNote looks for Xen's PHYS32_ENTRY note", () => {
  assert.equal(hasPvhNote(elfWithNote("Xen", 18)), true);
  assert.equal(hasPvhNote(elfWithNote("Xen", 5)), false);
  assert.equal(hasPvhNote(elfWithNote("GNU", 18)), false);
  assert.equal(hasPvhNote(new Uint8Array(64)), false);
});
