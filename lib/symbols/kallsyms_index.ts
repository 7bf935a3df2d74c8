/**
 * The core-kernel section of /proc/kallsyms, searched in place.
 *
 * Parsing all of kallsyms (122k lines, 5.4 MB here) into a table was the
 * largest piece of `profile`'s own CPU time: ~60 ms of cold JavaScript for a
 * profile that names a few hundred kernel addresses. The core section needs no
 * table, because the kernel prints it in address order: scripts/kallsyms sorts
 * the core symbols by address when the kernel is built (`sort_symbols`), and
 * kernel/kallsyms.c prints them first, in that order, before the symbols of
 * modules, ftrace, BPF and kprobes, each of which carries a `\t[name]` suffix.
 * So a lookup is a binary search over the bytes themselves: it parses about
 * 17 lines, each found from a byte offset by the next newline.
 *
 * Nothing is trusted blindly. `build` parses a thousand evenly spaced lines
 * and refuses a section that is not well formed and in order there; a lookup
 * that meets a malformed line or lines out of order, or must walk past many
 * lines that are not functions, answers GIVE_UP, and the caller parses everything instead
 * (kernel_symbols.ts). Either way the answer is the full parse's answer.
 *
 * @module
 */

/** A lookup that cannot answer from the index: parse the whole text. */
export const GIVE_UP = -2;

/** 2^32: offsets are (hi - baseHi) * TWO32 + lo. */
export const TWO32 = 4294967296;
/** Lines a lookup walks over (non-function lines) before it gives up. */
const MAX_WALK = 256;
/** Lines `build` walks back over from the end to the highest function. */
const MAX_BUILD_WALK = 1 << 17;
/** Lines `build` checks for form and order. */
const PROBES = 1024;
/** Below this many bytes a search range is scanned line by line. */
const SCAN_BYTES = 512;

/**
 * The end of the page holding offset `off`: where a kallsyms symbol stops
 * when no symbol of its own module follows it (offsets are from a multiple
 * of 2^32, so pages line up).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pageEnd } from "./kallsyms_index.ts";
 * assert.strictEqual(pageEnd(0x81000108), 0x81001000);
 * assert.strictEqual(pageEnd(0x81001000), 0x81002000);
 * ```
 */
export function pageEnd(off: number): number {
  return Math.floor(off / 4096) * 4096 + 4096;
}

/** t/T (text) and w/W (weak): the lines kept, as in the full parse. */
export function isFunction(type: number): boolean {
  const t = type | 32;
  return t === 116 || t === 119;
}

/** The hex number in `b[from, to)`, or NaN if a byte is not a hex digit. */
export function hexValue(b: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = b[i];
    const d = c <= 57 ? c - 48 : (c | 32) - 87;
    if (d < 0 || d > 15) return NaN;
    v = v * 16 + d;
  }
  return v;
}

/**
 * Binary search of the address-ordered core section of kallsyms.
 *
 * Addresses are offsets from `baseHi * 2^32` (kernel addresses exceed 2^53;
 * the offsets are exact), as in KernelSymbols.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { KallsymsIndex } from "./kallsyms_index.ts";
 * const text = new TextEncoder().encode(
 *   "ffffffff81000000 T _text\n" +
 *     "ffffffff81000100 d some_data\n" +
 *     "ffffffff81000200 t do_thing\n",
 * );
 * const ix = KallsymsIndex.build(text, text.length)!;
 * assert.strictEqual(ix.baseHi, 0xffffffff);
 * const line = ix.floor(0x81000150); // in some_data: _text reaches do_thing
 * assert.strictEqual(ix.name(line), "_text");
 * assert.strictEqual(ix.end(line), 0x81000200);
 * assert.strictEqual(ix.name(ix.floor(0x81000210)), "do_thing");
 * assert.strictEqual(ix.floor(0x80000000), -1); // below every function
 * ```
 */
export class KallsymsIndex {
  // The fields of the line last parsed (no object per line); alike
  // elf_file.ts's constants in shape only.
  private key = 0;
  private hi = 0;
  private lo = 0;
  private type = 0;
  private nameAt = 0;
  private nameEnd = 0;
  private next = 0;

  private constructor(
    private readonly b: Uint8Array,
    /** End of the section: the first byte of the first module line. */
    private readonly limit: number,
    /** High 32 bits of the first function's address. */
    readonly baseHi: number,
    /** Offset of the first function with a non-zero address. */
    readonly first: number,
    /** Offset just past the last function's end (its page's end). */
    readonly last: number,
    /** Byte offset of the last function's line. */
    readonly lastLine: number,
  ) {}

  /**
   * An index of `b[0, limit)` (whole lines), or undefined if the sampled
   * lines are not well formed and in address order, or no function has a
   * non-zero address (kptr_restrict: the full parse reports that state).
   */
  static build(b: Uint8Array, limit: number): KallsymsIndex | undefined {
    if (limit === 0 || b[limit - 1] !== 10) return undefined;
    const probe = new KallsymsIndex(b, limit, 0, 0, 0, 0);
    // The first function with a non-zero address: the base of the offsets.
    // (With CONFIG_KALLSYMS_ALL, per-CPU data at small addresses comes
    // first; with kptr_restrict every address is zero and none is found.)
    let baseHi = -1, firstAt = 0;
    for (let at = 0; at < limit; at = probe.next) {
      if (!probe.parse(at)) return undefined;
      if (isFunction(probe.type) && (probe.hi !== 0 || probe.lo !== 0)) {
        baseHi = probe.hi;
        firstAt = at;
        break;
      }
    }
    if (baseHi < 0) return undefined;
    const ix = new KallsymsIndex(b, limit, baseHi, 0, 0, 0);
    ix.parse(firstAt);
    const first = ix.key;
    let prev = -Infinity;
    for (let p = 0; p < PROBES; p++) {
      const at = ix.lineAtOrAfter(Math.floor((limit * p) / PROBES));
      if (at >= limit) break;
      if (!ix.parse(at) || ix.key < prev) return undefined;
      prev = ix.key;
    }
    // The highest function: the section's end is its page's end. With
    // CONFIG_KALLSYMS_ALL (Debian's kernels) thousands of .data and .bss
    // lines follow it; walked once, here.
    let at = ix.lineBefore(limit);
    if (!ix.parse(at) || ix.key < prev) return undefined;
    for (let n = 0; !isFunction(ix.type); n++) {
      if (at === 0 || n === MAX_BUILD_WALK) return undefined;
      at = ix.lineBefore(at);
      if (!ix.parse(at)) return undefined;
    }
    // Offsets are exact only below 2^53: a section spanning more is left
    // to the full parse.
    if (ix.key - first > 2 ** 52) return undefined;
    const last = pageEnd(ix.key);
    return new KallsymsIndex(b, limit, baseHi, first, last, at);
  }

  /**
   * Byte offset of the line of the function containing `off` by the full
   * parse's rule (the last function line at or below it, which reaches the
   * next function or, the last one, its page's end), -1 if none does, or
   * GIVE_UP.
   */
  floor(off: number): number {
    if (off < this.first || off >= this.last) return -1;
    // Invariant: the line at `lo` has an address <= off; every line
    // starting at or after `hi` has one > off.
    let lo = 0, hi = this.limit;
    if (!this.parse(0)) return GIVE_UP;
    if (this.key > off) return -1;
    while (hi - lo > SCAN_BYTES) {
      const at = this.lineAtOrAfter((lo + hi) >>> 1);
      if (at >= hi) break;
      if (!this.parse(at)) return GIVE_UP;
      if (this.key <= off) lo = at;
      else hi = at;
    }
    // The last line at or below off, by a scan of what is left (which
    // checks, for free, that these lines are in order too).
    let found = lo, prev = -Infinity;
    for (let at = lo; at < hi; at = this.next) {
      if (!this.parse(at) || this.key < prev) return GIVE_UP;
      if (this.key > off) break;
      found = at;
      prev = this.key;
    }
    // Back to the nearest function line (data lines are skipped, as the
    // full parse skips them).
    for (let n = 0; n < MAX_WALK; n++) {
      if (!this.parse(found)) return GIVE_UP;
      if (isFunction(this.type)) {
        const end = this.end(found);
        return end === GIVE_UP ? GIVE_UP : off < end ? found : -1;
      }
      if (found === 0) return -1;
      found = this.lineBefore(found);
    }
    return GIVE_UP;
  }

  /** Start of the function at line `at` (a `floor` answer). */
  start(at: number): number {
    this.parse(at);
    return this.key;
  }

  /**
   * End of the function at line `at`: the next function's start, or its
   * page's end after the last one; GIVE_UP after too many other lines.
   */
  end(at: number): number {
    this.parse(at);
    const start = this.key;
    for (let n = 0; n < MAX_WALK; n++) {
      if (this.next >= this.limit) return pageEnd(start);
      if (!this.parse(this.next)) return GIVE_UP;
      if (isFunction(this.type) && this.key > start) return this.key;
    }
    return GIVE_UP;
  }

  /** Name of the function at line `at`. */
  name(at: number): string {
    this.parse(at);
    return decoder.decode(this.b.subarray(this.nameAt, this.nameEnd));
  }

  /** The line of the first function named `name`, or -1 (a scan: tests). */
  find(name: string): number {
    const want = new TextEncoder().encode(name);
    for (let at = 0; at < this.limit; at = this.next) {
      if (!this.parse(at)) return -1;
      if (
        isFunction(this.type) && this.key >= this.first &&
        this.nameEnd - this.nameAt === want.length &&
        want.every((c, j) => this.b[this.nameAt + j] === c)
      ) return at;
    }
    return -1;
  }

  /** Bytes of text searched (held by the caller's buffer). */
  get bytes(): number {
    return this.limit;
  }

  /** The offset of the first line starting at or after byte `p`. */
  private lineAtOrAfter(p: number): number {
    if (p === 0) return 0;
    const nl = this.b.indexOf(10, p - 1);
    return nl < 0 || nl >= this.limit ? this.limit : nl + 1;
  }

  /** The offset of the line before the one at `at` (at > 0). */
  private lineBefore(at: number): number {
    return this.b.lastIndexOf(10, at - 2) + 1;
  }

  /**
   * Parses "<hex address> <type> <name>\n" at `at` into the fields; false
   * if malformed.
   */
  private parse(at: number): boolean {
    const b = this.b, limit = this.limit;
    let sp = at;
    const most = Math.min(limit, at + 17);
    while (sp < most && b[sp] !== 32 && b[sp] !== 10) sp++;
    const digits = sp - at;
    if (digits === 0 || digits > 16 || sp + 3 > limit || b[sp + 2] !== 32) {
      return false;
    }
    const split = Math.max(at, sp - 8);
    const hi = hexValue(b, at, split), lo = hexValue(b, split, sp);
    if (Number.isNaN(hi) || Number.isNaN(lo)) return false;
    // The name runs to the newline, found by the engine (a lookup parses
    // ~20 lines; scanning their names in JS was most of its cost). No core
    // line has a module's tab: the section ends before the first one.
    const e = b.indexOf(10, sp + 3);
    if (e < 0 || e >= limit) return false;
    this.hi = hi;
    this.lo = lo;
    this.key = (hi - this.baseHi) * TWO32 + lo;
    this.type = b[sp + 1];
    this.nameAt = sp + 3;
    this.nameEnd = e;
    this.next = e + 1;
    return true;
  }
}

const decoder = new TextDecoder();
