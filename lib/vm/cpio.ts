/**
 * A streaming writer for `newc` cpio archives: the format the Linux kernel
 * unpacks as an initramfs. Uncompressed on purpose: under TCG the guest
 * would spend seconds decompressing.
 *
 * @module
 */

/** Receives archive bytes in order. */
export type Sink = (chunk: Uint8Array) => Promise<void> | void;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * The 110-byte header plus NUL-terminated name, padded to 4 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpioHeader } from "./cpio.ts";
 * const h = cpioHeader({ ino: 1, mode: 0o100644, size: 3, name: "a" });
 * assert.equal(new TextDecoder().decode(h.subarray(0, 6)), "070701");
 * assert.equal(h.length % 4, 0);
 * ```
 */
export function cpioHeader(
  e: { ino: number; mode: number; size: number; name: string; nlink?: number },
): Uint8Array {
  const name = new TextEncoder().encode(e.name + "\0");
  const fields = [
    e.ino,
    e.mode,
    0, // uid
    0, // gid
    e.nlink ?? ((e.mode & 0o170000) === S_IFDIR ? 2 : 1),
    0, // mtime: reproducible archives
    e.size,
    0,
    0,
    0,
    0,
    name.length,
    0,
  ];
  const head = new TextEncoder().encode("070701" + fields.map(hex8).join(""));
  const total = pad4(head.length + name.length);
  const out = new Uint8Array(total);
  out.set(head, 0);
  out.set(name, head.length);
  return out;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Writes entries one after another to a sink; call {@link CpioWriter.finish}
 * at the end. Parent folders must be added before their contents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CpioWriter } from "./cpio.ts";
 * const chunks: Uint8Array[] = [];
 * const w = new CpioWriter((c) => {
 *   chunks.push(c.slice());
 * });
 * await w.dir("bin");
 * await w.file("init", new TextEncoder().encode("#!/bin/sh\n"), 0o755);
 * await w.symlink("bin/sh", "busybox");
 * await w.finish();
 * const archive = new TextDecoder().decode(
 *   new Uint8Array(chunks.flatMap((c) => [...c])),
 * );
 * assert.ok(archive.includes("init\0") && archive.includes("TRAILER!!!"));
 * assert.equal(w.bytes % 4, 0);
 * ```
 */
export class CpioWriter {
  #ino = 1;
  #bytes = 0;
  #sink: Sink;

  constructor(sink: Sink) {
    this.#sink = sink;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  async #put(chunk: Uint8Array) {
    if (chunk.length === 0) return;
    this.#bytes += chunk.length;
    await this.#sink(chunk);
  }

  async #padData(size: number) {
    const p = pad4(size) - size;
    if (p) await this.#put(new Uint8Array(p));
  }

  /** Adds a folder. */
  async dir(path: string, mode = 0o755): Promise<void> {
    await this.#put(
      cpioHeader({
        ino: this.#ino++,
        mode: S_IFDIR | mode,
        size: 0,
        name: path,
      }),
    );
  }

  /** Adds a regular file with the given content. */
  async file(path: string, data: Uint8Array, mode = 0o644): Promise<void> {
    await this.#put(
      cpioHeader({
        ino: this.#ino++,
        mode: S_IFREG | mode,
        size: data.length,
        name: path,
      }),
    );
    await this.#put(data);
    await this.#padData(data.length);
  }

  /** Adds a regular file copied from the host, streamed in chunks. */
  async fileFrom(path: string, hostPath: string, mode?: number): Promise<void> {
    const st = await Deno.stat(hostPath);
    await this.#put(
      cpioHeader({
        ino: this.#ino++,
        mode: S_IFREG | (mode ?? (st.mode ?? 0o644) & 0o7777),
        size: st.size,
        name: path,
      }),
    );
    const f = await Deno.open(hostPath);
    try {
      let left = st.size;
      const buf = new Uint8Array(1 << 20);
      while (left > 0) {
        const n = await f.read(buf);
        if (n === null) throw new Error(`${hostPath} shrank while reading`);
        await this.#put(buf.slice(0, Math.min(n, left)));
        left -= n;
      }
    } finally {
      f.close();
    }
    await this.#padData(st.size);
  }

  /** Adds a symbolic link `path` → `target`. */
  async symlink(path: string, target: string): Promise<void> {
    const t = new TextEncoder().encode(target);
    await this.#put(
      cpioHeader({
        ino: this.#ino++,
        mode: S_IFLNK | 0o777,
        size: t.length,
        name: path,
      }),
    );
    await this.#put(t);
    await this.#padData(t.length);
  }

  /** Writes the trailer entry. */
  async finish(): Promise<void> {
    await this.#put(
      cpioHeader({ ino: 0, mode: 0, size: 0, name: "TRAILER!!!", nlink: 1 }),
    );
  }
}
