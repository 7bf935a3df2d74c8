/**
 * Turns a Debian `vmlinuz` into what QEMU boots fastest under TCG:
 * - x86_64: the uncompressed ELF `vmlinux` from inside the bzImage, booted
 *   through its PVH entry point (saves ~2 s of in-guest decompression);
 *   the bzImage itself when the kernel has no PVH note.
 * - arm64: the plain `Image` (gunzipped when the package ships it gzipped).
 *
 * @module
 */

/** Compression formats a bzImage payload can use. */
export type PayloadFormat = "gzip" | "xz" | "zstd" | "lzma" | "lz4" | "bzip2";

/**
 * Detects a compressed stream's format from its first bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compressionOf } from "./kernel_image.ts";
 * assert.equal(compressionOf(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd])), "zstd");
 * assert.equal(compressionOf(new Uint8Array([1, 2, 3, 4])), undefined);
 * ```
 */
export function compressionOf(b: Uint8Array): PayloadFormat | undefined {
  const m = (...x: number[]) => x.every((v, i) => b[i] === v);
  if (m(0x1f, 0x8b)) return "gzip";
  if (m(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (m(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (m(0x5d, 0x00, 0x00)) return "lzma";
  if (m(0x02, 0x21, 0x4c, 0x18)) return "lz4";
  if (m(0x42, 0x5a, 0x68)) return "bzip2";
  return undefined;
}

/**
 * Locates the compressed kernel inside an x86 bzImage (boot protocol ≥ 2.08:
 * `setup_sects` at 0x1f1, `payload_offset`/`payload_length` at 0x248/0x24c).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bzImagePayload } from "./kernel_image.ts";
 * // A minimal header: one setup sector, an 8-byte zstd payload 16 bytes in.
 * const img = new Uint8Array(2048);
 * const dv = new DataView(img.buffer);
 * img[0x1f1] = 1;
 * dv.setUint32(0x202, 0x53726448, true); // "HdrS"
 * dv.setUint16(0x206, 0x20f, true); // boot protocol 2.15
 * dv.setUint32(0x248, 16, true);
 * dv.setUint32(0x24c, 8, true);
 * img.set([0x28, 0xb5, 0x2f, 0xfd], 1024 + 16);
 * assert.deepEqual(bzImagePayload(img), { offset: 1040, length: 8, format: "zstd" });
 * assert.throws(() => bzImagePayload(new Uint8Array(4096)), /not a bzImage/);
 * ```
 */
export function bzImagePayload(
  img: Uint8Array,
): { offset: number; length: number; format: PayloadFormat | undefined } {
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  if (img.length < 0x260 || dv.getUint32(0x202, true) !== 0x53726448) {
    throw new Error("not a bzImage (no HdrS signature)");
  }
  if (dv.getUint16(0x206, true) < 0x208) {
    throw new Error("bzImage boot protocol older than 2.08");
  }
  const setupSects = img[0x1f1] || 4;
  const offset = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
  const length = dv.getUint32(0x24c, true);
  if (offset + length > img.length) {
    throw new Error("bzImage payload truncated");
  }
  return {
    offset,
    length,
    format: compressionOf(img.subarray(offset, offset + 8)),
  };
}

/**
 * True when an ELF64 image carries the Xen PVH entry note
 * (`XEN_ELFNOTE_PHYS32_ENTRY`), which lets QEMU boot the ELF directly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasPvhNote } from "./kernel_image.ts";
 * // Debian's x86_64 vmlinux (from the VM cache) has the note; this is no ELF.
 * assert.equal(hasPvhNote(new Uint8Array(64)), false);
 * ```
 */
export function hasPvhNote(elf: Uint8Array): boolean {
  if (elf[0] !== 0x7f || elf[1] !== 0x45 || elf[4] !== 2) return false;
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(dv.getBigUint64(0x20, true));
  const phentsize = dv.getUint16(0x36, true);
  const phnum = dv.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== 4) continue; // PT_NOTE
    let off = Number(dv.getBigUint64(ph + 8, true));
    const end = off + Number(dv.getBigUint64(ph + 32, true));
    while (off + 12 <= end) {
      const namesz = dv.getUint32(off, true);
      const descsz = dv.getUint32(off + 4, true);
      const type = dv.getUint32(off + 8, true);
      const name = new TextDecoder().decode(
        elf.subarray(off + 12, off + 12 + namesz),
      );
      if (name.startsWith("Xen") && type === 18) return true;
      off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

async function decompress(
  data: Uint8Array,
  format: PayloadFormat,
): Promise<Uint8Array> {
  const tools: Record<PayloadFormat, string[]> = {
    gzip: ["gzip", "-dc"],
    xz: ["xz", "-dc", "--single-stream"],
    zstd: ["zstd", "-dc"],
    lzma: ["xz", "-dc", "--format=lzma"],
    lz4: ["lz4", "-dc"],
    bzip2: ["bzip2", "-dc"],
  };
  const [cmd, ...args] = tools[format];
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = (async () => {
    const w = child.stdin.getWriter();
    try {
      await w.write(data);
      await w.close();
    } catch { /* decompressor stopped early: trailing bytes */ }
  })();
  const out = await child.output();
  await writing;
  // Trailing bytes after the stream (the kernel appends the size) make some
  // tools complain but the output is complete: accept any non-empty output.
  if (out.stdout.length === 0) {
    throw new Error(
      `${cmd} could not decompress the kernel: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return out.stdout;
}

/** What {@link prepareKernelImage} wrote. */
export interface KernelImage {
  path: string;
  /** How QEMU boots it. */
  kind: "vmlinux-pvh" | "bzImage" | "Image";
}

/**
 * Writes the boot image for `arch` from a Debian `vmlinuz` to `outPath`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prepareKernelImage } from "./kernel_image.ts";
 * // An arm64 package ships a gzipped Image; QEMU gets it unpacked. (For an
 * // x86_64 bzImage from the VM cache the result is kind "vmlinux-pvh".)
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/vmlinuz`, "arm64 Image bytes");
 * await new Deno.Command("gzip", { args: [`${dir}/vmlinuz`] }).output();
 * await Deno.rename(`${dir}/vmlinuz.gz`, `${dir}/vmlinuz`);
 * const k = await prepareKernelImage(`${dir}/vmlinuz`, `${dir}/kernel`, "arm64");
 * assert.deepEqual(k, { path: `${dir}/kernel`, kind: "Image" });
 * assert.equal(await Deno.readTextFile(`${dir}/kernel`), "arm64 Image bytes");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function prepareKernelImage(
  vmlinuz: string,
  outPath: string,
  arch: "x86_64" | "arm64",
): Promise<KernelImage> {
  const img = await Deno.readFile(vmlinuz);
  if (arch === "x86_64") {
    try {
      const p = bzImagePayload(img);
      if (p.format) {
        const elf = await decompress(
          img.subarray(p.offset, p.offset + p.length),
          p.format,
        );
        if (hasPvhNote(elf)) {
          await Deno.writeFile(outPath, elf);
          return { path: outPath, kind: "vmlinux-pvh" };
        }
      }
    } catch { /* fall back to the bzImage */ }
    await Deno.writeFile(outPath, img);
    return { path: outPath, kind: "bzImage" };
  }
  const fmt = compressionOf(img);
  await Deno.writeFile(outPath, fmt ? await decompress(img, fmt) : img);
  return { path: outPath, kind: "Image" };
}
