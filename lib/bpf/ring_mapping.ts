/**
 * Maps a BPF ring buffer straight into the parser's WebAssembly memory, so
 * the WASM record walker reads the kernel's pages with no copy at all.
 *
 * A BPF ring buffer map is mmap'ed in two parts (kernel/bpf/ringbuf.c,
 * ringbuf_map_mmap): the consumer page at offset 0, read-write, and the
 * producer page followed by the data area at offset `pageSize`, read-only
 * (PROT_WRITE there gives EPERM, MAP_PRIVATE gives EINVAL). The kernel maps
 * the data pages twice back to back, so a record that wraps around the end
 * is still contiguous: the walker never has to split one.
 *
 * The parser reserves a page-aligned span of its linear memory for this
 * (`ParserOptions.mapBytes`). We mmap over that span with MAP_FIXED; on
 * unmap we put fresh anonymous read-write memory back, so the WebAssembly
 * memory stays whole for V8 and for any later instance use.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root and a loaded ring map (tests/kernel/session_test.ts maps real rings).
 * const mapping = RingMapping.map(parser, ringFd, 8 << 20);
 * console.log(mapping.producerPosition() - mapping.consumerPosition);
 * mapping.unmap();
 * ```
 * @module
 */
import type { ProfileParser } from "../parser/wasm_parser.ts";
import {
  libc,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  SysError,
} from "./libc.ts";

/** Bytes of parser memory a ring of `ringBytes` needs mapped. */
export function mappingBytes(ringBytes: number, pageSize: number): number {
  return 2 * pageSize + 2 * ringBytes;
}

/** A live mapping of one BPF ring buffer inside a parser's memory. */
export class RingMapping {
  /** Size of the data area in bytes (a power of two). */
  readonly size: number;
  /** Byte offset of the data area in the parser's memory. */
  readonly dataOffset: number;
  readonly #base: bigint;
  readonly #length: number;
  readonly #consumer: BigUint64Array;
  readonly #producer: BigUint64Array;
  #consumerPos: number;
  #mapped = true;

  /**
   * Maps ring `fd` (a BPF_MAP_TYPE_RINGBUF map of `size` bytes) into the
   * span the parser reserved. Throws, with nothing left mapped, on failure.
   */
  static map(parser: ProfileParser, fd: number, size: number): RingMapping {
    const l = libc();
    const page = l.pageSize;
    const need = mappingBytes(size, page);
    const mem = parser.memory;
    const offset = parser.mapOffset;
    if (offset === 0 || offset % page !== 0) {
      throw new Error(
        "the parser has no page-aligned mapping area: create it with mapBytes and mapAlign",
      );
    }
    if (offset + need > mem.buffer.byteLength) {
      throw new RangeError(
        `ring of ${size} bytes needs ${need} bytes of mapping area; the parser has ${
          mem.buffer.byteLength - offset
        }`,
      );
    }
    const base = Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem.buffer)) +
      BigInt(offset);
    const consumer = l.symbols.mmap(
      Deno.UnsafePointer.create(base),
      BigInt(page),
      PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_FIXED,
      fd,
      0n,
    );
    if (Deno.UnsafePointer.value(consumer) !== base) {
      const errno = l.errno();
      restoreAnonymous(base, need);
      throw new SysError("mmap of the ring buffer's consumer page", errno);
    }
    const producer = l.symbols.mmap(
      Deno.UnsafePointer.create(base + BigInt(page)),
      BigInt(page + 2 * size),
      PROT_READ,
      MAP_SHARED | MAP_FIXED,
      fd,
      BigInt(page),
    );
    if (Deno.UnsafePointer.value(producer) !== base + BigInt(page)) {
      const errno = l.errno();
      restoreAnonymous(base, need);
      throw new SysError("mmap of the ring buffer's data pages", errno);
    }
    return new RingMapping(mem, base, offset, need, size, page);
  }

  private constructor(
    mem: WebAssembly.Memory,
    base: bigint,
    offset: number,
    length: number,
    size: number,
    page: number,
  ) {
    this.#base = base;
    this.#length = length;
    this.size = size;
    this.dataOffset = offset + 2 * page;
    this.#consumer = new BigUint64Array(mem.buffer, offset, 1);
    this.#producer = new BigUint64Array(mem.buffer, offset + page, 1);
    // We are the only consumer: cache our position, the kernel only reads it.
    this.#consumerPos = Number(Atomics.load(this.#consumer, 0));
  }

  /** Where we have consumed up to (bytes since the ring was created). */
  get consumerPosition(): number {
    return this.#consumerPos;
  }

  /**
   * The producer position, read with acquire semantics (a sequentially
   * consistent Atomics.load): it pairs with the kernel's smp_store_release
   * of producer_pos in __bpf_ringbuf_reserve, so every header up to it has
   * been written (BUSY or committed).
   */
  producerPosition(): number {
    return Number(Atomics.load(this.#producer, 0));
  }

  /**
   * Publishes a new consumer position (release store: the kernel may reuse
   * the space once it sees it, so all our reads of it must come first).
   */
  advance(to: number): void {
    this.#consumerPos = to;
    Atomics.store(this.#consumer, 0, BigInt(to));
  }

  /** Whether the mapping is still live. */
  get mapped(): boolean {
    return this.#mapped;
  }

  /**
   * Unmaps the ring, putting anonymous memory back in the parser's span.
   * Idempotent. Views of the ring must not be used afterwards.
   */
  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    restoreAnonymous(this.#base, this.#length);
  }
}

function restoreAnonymous(base: bigint, length: number): void {
  const l = libc();
  const p = l.symbols.mmap(
    Deno.UnsafePointer.create(base),
    BigInt(length),
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
    -1,
    0n,
  );
  if (Deno.UnsafePointer.value(p) !== base) {
    // Nothing sane is left to do: the WASM memory has a hole in it.
    throw new SysError(
      "restoring the parser memory after unmapping the ring",
      l.errno(),
    );
  }
}
