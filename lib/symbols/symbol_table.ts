/**
 * A sorted, compact table of function symbols with binary-search lookup,
 * built from an ELF `.symtab` (preferred) or `.dynsym`, or from any list of
 * (start, size, name) such as /proc/kallsyms.
 *
 * Layout: three typed arrays (start, end, name offset) plus one byte buffer
 * holding only the kept names; names are decoded on first use and cached.
 * That is ~20 bytes per symbol plus its name, a fraction of what an array of
 * objects costs, and it is what `bytes` reports to the cache.
 *
 * Aliases (several symbols at one address) are reduced to one, chosen the way
 * perf does (non-zero size, then non-weak, then global, then fewer leading
 * underscores, then the longer name), so names match `perf report`'s.
 *
 * @module
 */
import {
  type ElfFile,
  type SectionHeader,
  SHF_EXECINSTR,
  SHN_LORESERVE,
  SHT_DYNSYM,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_WEAK,
  STT_FUNC,
  STT_GNU_IFUNC,
  SYM_SIZE,
  u64,
} from "./elf_file.ts";
import { ElfFormatError } from "./errors.ts";

export type { SymbolColumns };

/** A symbol before it goes into a table. */
export interface RawSymbol {
  start: number;
  size: number;
  name: string;
  /** STB_* binding (used only to choose among aliases). */
  binding?: number;
}

/** What a lookup found. */
export interface SymbolHit {
  name: string;
  start: number;
  end: number;
}

const encoder = new TextEncoder();

/**
 * Symbols as parallel arrays over one byte buffer of names (an ELF string
 * table, unchanged, or kallsyms text): what the table is built from, without
 * a JS string or object per symbol. A name ends at a NUL, or at
 * `nameEnd[i]` when given (kallsyms names end at a newline).
 */
interface SymbolColumns {
  count: number;
  starts: Float64Array;
  sizes: Float64Array;
  bindings: Uint8Array;
  nameAt: Uint32Array;
  nameEnd?: Uint32Array;
  strings: Uint8Array;
}

function cStringEnd(strings: Uint8Array, at: number): number {
  let e = at;
  while (e < strings.length && strings[e] !== 0) e++;
  return e;
}

function nameEndOf(c: SymbolColumns, i: number): number {
  return c.nameEnd ? c.nameEnd[i] : cStringEnd(c.strings, c.nameAt[i]);
}

function underscores(strings: Uint8Array, at: number): number {
  let n = 0;
  while (at + n < strings.length && strings[at + n] === 95) n++;
  return n;
}

/**
 * perf's choose_best_symbol: true if symbol `a` (the later one in the
 * table) should be kept over `b` (the earlier). On a full tie perf keeps the
 * earlier one, e.g. of `clock_gettime@GLIBC_2.2.5` and the equally long
 * `clock_gettime@@GLIBC_2.17`, whichever the symbol table lists first.
 */
function better(c: SymbolColumns, a: number, b: number): boolean {
  if ((c.sizes[a] > 0) !== (c.sizes[b] > 0)) return c.sizes[a] > 0;
  const aw = c.bindings[a] === STB_WEAK, bw = c.bindings[b] === STB_WEAK;
  if (aw !== bw) return !aw;
  const ag = c.bindings[a] === STB_GLOBAL, bg = c.bindings[b] === STB_GLOBAL;
  if (ag !== bg) return ag;
  const au = underscores(c.strings, c.nameAt[a]);
  const bu = underscores(c.strings, c.nameAt[b]);
  if (au !== bu) return au < bu;
  return nameEndOf(c, a) - c.nameAt[a] > nameEndOf(c, b) - c.nameAt[b];
}

/** A built table's arrays (what toBytes saves). */
interface BuiltTable {
  length: number;
  starts: Float64Array;
  ends: Float64Array;
  maxEnds: Float64Array;
  nameFrom: Uint32Array;
  nameTo: Uint32Array;
  nameBytes: Uint8Array;
}

/** "SPST" and the layout's version, at the head of toBytes' bytes. */
const TABLE_MAGIC = 0x54535053;
const TABLE_VERSION = 1;
const HEADER = 16;

/**
 * Sorts `order` (the indices 0..n-1) by `starts[i]`, ties by index. One
 * number per symbol, start * 2^bits + index, is sorted by the engine's
 * native numeric sort: a comparator sort calls back into JavaScript for
 * every comparison, which cold (a table is built once per file) cost ~5 ms
 * for libc's 7,000 symbols. Exact while every key is an integer below 2^53;
 * other tables take the comparator.
 */
function sortByStart(starts: Float64Array, order: Uint32Array): void {
  const n = order.length;
  const scale = 2 ** Math.ceil(Math.log2(n + 1));
  let packable = true;
  for (let i = 0; i < n && packable; i++) {
    const s = starts[i];
    packable = s >= 0 && Number.isInteger(s) && s * scale < 2 ** 53;
  }
  if (!packable) {
    // Array.prototype.sort is TimSort in V8: near-linear on the nearly
    // sorted tables that are common (typed-array sort is not adaptive).
    const idx = Array.from(order);
    idx.sort((x, y) => starts[x] - starts[y] || x - y);
    order.set(idx);
    return;
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = starts[i] * scale + i;
  keys.sort();
  for (let k = 0; k < n; k++) order[k] = keys[k] % scale;
}

/**
 * Function symbols sorted by address.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { SymbolTable } from "./symbol_table.ts";
 * const t = SymbolTable.fromSymbols([
 *   { start: 0x2000, size: 0x10, name: "b" },
 *   { start: 0x1000, size: 0, name: "a" }, // no size: extends to the next one
 * ]);
 * assert.strictEqual(t.lookup(0x1fff)?.name, "a");
 * assert.strictEqual(t.lookup(0x2008)?.name, "b");
 * assert.strictEqual(t.lookup(0x2010), undefined); // past b's end
 * assert.strictEqual(t.lookup(0x0fff), undefined);
 * ```
 */
export class SymbolTable {
  /** Number of symbols kept. */
  readonly length: number;
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  // maxEnds[i] = max(ends[0..i]): lets a lookup find an enclosing symbol
  // that starts before an unrelated nested one.
  private readonly maxEnds: Float64Array;
  // Names stay where the input had them (no copy): symbol i's name is
  // nameBytes[nameFrom[i], nameTo[i]).
  private readonly nameFrom: Uint32Array;
  private readonly nameTo: Uint32Array;
  private readonly nameBytes: Uint8Array;
  private readonly names: (string | undefined)[];
  private decodedBytes = 0;

  private constructor(c: SymbolColumns | BuiltTable) {
    if ("maxEnds" in c) {
      // A table built before (fromBytes): its arrays as they were.
      this.length = c.length;
      this.starts = c.starts;
      this.ends = c.ends;
      this.maxEnds = c.maxEnds;
      this.nameFrom = c.nameFrom;
      this.nameTo = c.nameTo;
      this.nameBytes = c.nameBytes;
      this.names = new Array(c.length);
      return;
    }
    // Sort by address, then reduce aliases (same start) to the best one.
    const order = new Uint32Array(c.count);
    let sorted = true;
    for (let i = 0; i < c.count; i++) {
      order[i] = i;
      if (i > 0 && c.starts[i] < c.starts[i - 1]) sorted = false;
    }
    // kallsyms and many symbol tables are in address order already: a
    // comparator sort of 100k entries is most of the build time.
    if (!sorted) sortByStart(c.starts, order);
    // Typed arrays, and names left in place: building the table of a
    // 100k-symbol kallsyms or libc debug file is a cold, one-off step whose
    // cost was mostly a JS array push and a subarray copy per symbol.
    const kept = new Uint32Array(c.count);
    let n = 0;
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      if (n > 0 && c.starts[kept[n - 1]] === c.starts[i]) {
        if (better(c, i, kept[n - 1])) kept[n - 1] = i;
      } else kept[n++] = i;
    }
    this.length = n;
    this.starts = new Float64Array(n);
    this.ends = new Float64Array(n);
    this.maxEnds = new Float64Array(n);
    this.nameFrom = new Uint32Array(n);
    this.nameTo = new Uint32Array(n);
    this.nameBytes = c.strings;
    let maxEnd = 0;
    for (let k = 0; k < n; k++) {
      const i = kept[k];
      const start = c.starts[i];
      this.starts[k] = start;
      let end = start + c.sizes[i];
      if (c.sizes[i] === 0) {
        // perf's symbols__fixup_end: a sizeless symbol reaches the next one;
        // the last one reaches the end of the next page.
        end = k + 1 < n
          ? c.starts[kept[k + 1]]
          : Math.floor(start / 4096) * 4096 + 4096;
      }
      this.ends[k] = end;
      maxEnd = Math.max(maxEnd, end);
      this.maxEnds[k] = maxEnd;
      this.nameFrom[k] = c.nameAt[i];
      this.nameTo[k] = nameEndOf(c, i);
    }
    this.names = new Array(n);
  }

  /**
   * A table from raw symbols: sorted, aliases reduced to one, empty names
   * dropped.
   */
  static fromSymbols(symbols: RawSymbol[]): SymbolTable {
    return new SymbolTable(columnsOf(symbols));
  }

  /**
   * The function symbols of an ELF file: `.symtab` if it has any, else
   * `.dynsym` (as perf and libdwfl do). `source` says which was used.
   */
  static fromElf(
    elf: ElfFile,
    extra: RawSymbol[] = [],
  ): { table: SymbolTable; source: "symtab" | "dynsym" | "none" } {
    for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
      const sec = elf.sections.find((s) => s.type === type);
      if (!sec) continue;
      const cols = readFunctionSymbols(elf, sec);
      if (cols.count > 0) {
        return {
          table: new SymbolTable(appendSymbols(cols, extra)),
          source: type === SHT_SYMTAB ? "symtab" : "dynsym",
        };
      }
    }
    return { table: SymbolTable.fromSymbols(extra), source: "none" };
  }

  /** A table from columns (kallsyms builds these directly). */
  static fromColumns(c: SymbolColumns): SymbolTable {
    return new SymbolTable(c);
  }

  /** Index of the symbol containing `addr`, or -1. */
  indexOf(addr: number): number {
    const starts = this.starts;
    let lo = 0, hi = this.length - 1, i = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= addr) {
        i = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Walk back only while some earlier symbol still reaches past addr
    // (nested symbols); for ordinary tables this loop runs once.
    while (i >= 0 && this.maxEnds[i] > addr) {
      if (this.ends[i] > addr) return i;
      i--;
    }
    return -1;
  }

  /** The symbol containing `addr`, if any. */
  lookup(addr: number): SymbolHit | undefined {
    const i = this.indexOf(addr);
    return i < 0
      ? undefined
      : { name: this.name(i), start: this.starts[i], end: this.ends[i] };
  }

  /** Start address of symbol `i`. */
  start(i: number): number {
    return this.starts[i];
  }

  /** End address (exclusive) of symbol `i`. */
  end(i: number): number {
    return this.ends[i];
  }

  /** Name of symbol `i` (decoded once, then cached). */
  name(i: number): string {
    let s = this.names[i];
    if (s === undefined) {
      s = decoder.decode(
        this.nameBytes.subarray(this.nameFrom[i], this.nameTo[i]),
      );
      this.names[i] = s;
      this.decodedBytes += 2 * s.length + 16;
    }
    return s;
  }

  /** The symbol called `name` (a linear scan: for tests and tools). */
  findByName(name: string): SymbolHit | undefined {
    for (let i = 0; i < this.length; i++) {
      if (this.name(i) === name) {
        return { name, start: this.starts[i], end: this.ends[i] };
      }
    }
    return undefined;
  }

  /**
   * The built table as bytes, for {@link SymbolTable.fromBytes}: a header
   * (magic, version, count, name bytes), the five arrays, the names.
   *
   * @example
   * ```ts
   * import assert from "node:assert";
   * import { SymbolTable } from "./symbol_table.ts";
   * const t = SymbolTable.fromSymbols([{ start: 0x1000, size: 0x10, name: "f" }]);
   * const back = SymbolTable.fromBytes(t.toBytes())!;
   * assert.deepStrictEqual(back.lookup(0x1008), t.lookup(0x1008));
   * assert.strictEqual(SymbolTable.fromBytes(new Uint8Array(8)), undefined);
   * ```
   */
  toBytes(): Uint8Array {
    const n = this.length, names = this.nameBytes.length;
    const out = new Uint8Array(HEADER + n * 32 + names);
    const h = new DataView(out.buffer);
    h.setUint32(0, TABLE_MAGIC, true);
    h.setUint32(4, TABLE_VERSION, true);
    h.setUint32(8, n, true);
    h.setUint32(12, names, true);
    let at = HEADER;
    for (const a of [this.starts, this.ends, this.maxEnds]) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, n * 8), at);
      at += n * 8;
    }
    for (const a of [this.nameFrom, this.nameTo]) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, n * 4), at);
      at += n * 4;
    }
    out.set(this.nameBytes, at);
    return out;
  }

  /**
   * A table from {@link SymbolTable.toBytes}' bytes, viewing them (no copy;
   * `b` must start 8-byte aligned in its buffer), or undefined if they are
   * not such bytes.
   */
  static fromBytes(b: Uint8Array): SymbolTable | undefined {
    if (b.length < HEADER || b.byteOffset % 8 !== 0) return undefined;
    const h = new DataView(b.buffer, b.byteOffset, HEADER);
    if (
      h.getUint32(0, true) !== TABLE_MAGIC ||
      h.getUint32(4, true) !== TABLE_VERSION
    ) return undefined;
    const n = h.getUint32(8, true), names = h.getUint32(12, true);
    if (b.length !== HEADER + n * 32 + names) return undefined;
    let at = b.byteOffset + HEADER;
    const f64 = () => {
      const a = new Float64Array(b.buffer, at, n);
      at += n * 8;
      return a;
    };
    const u32 = () => {
      const a = new Uint32Array(b.buffer, at, n);
      at += n * 4;
      return a;
    };
    const starts = f64(), ends = f64(), maxEnds = f64();
    const nameFrom = u32(), nameTo = u32();
    const nameBytes = new Uint8Array(b.buffer, at, names);
    for (let i = 0; i < n; i++) {
      if (nameFrom[i] > nameTo[i] || nameTo[i] > names) return undefined;
    }
    return new SymbolTable({
      length: n,
      starts,
      ends,
      maxEnds,
      nameFrom,
      nameTo,
      nameBytes,
    });
  }

  /** Approximate memory held, in bytes (arrays, names, decoded strings). */
  get bytes(): number {
    return this.length * 32 + this.nameBytes.length + this.decodedBytes + 128;
  }
}

const decoder = new TextDecoder();

function columnsOf(symbols: RawSymbol[]): SymbolColumns {
  const list = symbols.filter((s) => s.name !== "" && Number.isFinite(s.start));
  const n = list.length;
  const encoded = list.map((s) => encoder.encode(s.name + "\0"));
  let total = 0;
  for (const e of encoded) total += e.length;
  const c: SymbolColumns = {
    count: n,
    starts: new Float64Array(n),
    sizes: new Float64Array(n),
    bindings: new Uint8Array(n),
    nameAt: new Uint32Array(n),
    strings: new Uint8Array(total),
  };
  let at = 0;
  for (let i = 0; i < n; i++) {
    c.starts[i] = list[i].start;
    c.sizes[i] = list[i].size;
    c.bindings[i] = list[i].binding ?? STB_GLOBAL;
    c.nameAt[i] = at;
    c.strings.set(encoded[i], at);
    at += encoded[i].length;
  }
  return c;
}

/** `cols` plus `extra` (PLT entries), with one merged string buffer. */
function appendSymbols(cols: SymbolColumns, extra: RawSymbol[]): SymbolColumns {
  if (extra.length === 0) return cols;
  const e = columnsOf(extra);
  const n = cols.count + e.count;
  const cat = (a: Float64Array, b: Float64Array) => {
    const out = new Float64Array(n);
    out.set(a.subarray(0, cols.count));
    out.set(b.subarray(0, e.count), cols.count);
    return out;
  };
  const bindings = new Uint8Array(n);
  bindings.set(cols.bindings.subarray(0, cols.count));
  bindings.set(e.bindings, cols.count);
  const strings = new Uint8Array(cols.strings.length + e.strings.length);
  strings.set(cols.strings);
  strings.set(e.strings, cols.strings.length);
  const nameAt = new Uint32Array(n);
  nameAt.set(cols.nameAt.subarray(0, cols.count));
  for (let i = 0; i < e.count; i++) {
    nameAt[cols.count + i] = e.nameAt[i] + cols.strings.length;
  }
  return {
    count: n,
    starts: cat(cols.starts, e.starts),
    sizes: cat(cols.sizes, e.sizes),
    bindings,
    nameAt,
    strings,
  };
}

const R_X86_64_JUMP_SLOT = 7;
const R_AARCH64_JUMP_SLOT = 1026;

/**
 * The PLT entries of an ELF file as `name@plt` symbols, as perf synthesizes
 * them (x86_64 layout: 16-byte entries in .plt.sec, or in .plt after the
 * 16-byte PLT0; one per JUMP_SLOT relocation of .rela.plt, in order). Without
 * them, samples in a PLT stub fall to the zero-sized `_init` before it.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pltSymbols } from "./symbol_table.ts";
 * import { ElfFile } from "./elf_file.ts";
 * import { closeFd, fdSource, openFd } from "./raw_fd.ts";
 * const fd = openFd("/bin/true");
 * const plt = pltSymbols(ElfFile.parse(fdSource(fd, "/bin/true")));
 * closeFd(fd);
 * assert.ok(plt.length > 0 && plt.every((s) => s.name.endsWith("@plt")));
 * ```
 */
export function pltSymbols(elf: ElfFile): RawSymbol[] {
  if (elf.machine !== 62) return []; // x86_64 only: other layouts differ
  const rela = elf.section(".rela.plt");
  const plt = elf.section(".plt.sec") ?? elf.section(".plt");
  if (!rela || !plt || rela.type === 8 || plt.type === 8) return [];
  const dynsym = elf.sections[rela.link];
  if (!dynsym || dynsym.type !== SHT_DYNSYM) return [];
  const dynstr = elf.sections[dynsym.link];
  if (!dynstr) return [];
  const r = elf.sectionData(rela);
  const syms = elf.sectionData(dynsym);
  const strs = elf.sectionData(dynstr);
  const rv = new DataView(r.buffer, r.byteOffset, r.length);
  const sv = new DataView(syms.buffer, syms.byteOffset, syms.length);
  const first = plt.name === ".plt.sec" ? plt.addr : plt.addr + 16;
  const out: RawSymbol[] = [];
  const dec = new TextDecoder();
  for (let i = 0; (i + 1) * 24 <= r.length; i++) {
    const type = rv.getUint32(i * 24 + 8, true);
    const symIndex = rv.getUint32(i * 24 + 12, true);
    if (type !== R_X86_64_JUMP_SLOT && type !== R_AARCH64_JUMP_SLOT) continue;
    if ((symIndex + 1) * SYM_SIZE > syms.length) continue;
    const nameAt = sv.getUint32(symIndex * SYM_SIZE, true);
    let end = nameAt;
    while (end < strs.length && strs[end] !== 0) end++;
    if (end === nameAt) continue;
    out.push({
      start: first + 16 * i,
      size: 16,
      name: dec.decode(strs.subarray(nameAt, end)) + "@plt",
      binding: STB_GLOBAL,
    });
  }
  return out;
}

/** The STT_FUNC / STT_GNU_IFUNC symbols of one symbol table section. */
function readFunctionSymbols(elf: ElfFile, sec: SectionHeader): SymbolColumns {
  if (sec.entsize !== 0 && sec.entsize !== SYM_SIZE) {
    throw new ElfFormatError(
      elf.source.name,
      sec.offset,
      `${sec.name}: entry size ${sec.entsize}`,
    );
  }
  const strSec = elf.sections[sec.link];
  if (!strSec) {
    throw new ElfFormatError(
      elf.source.name,
      sec.offset,
      `${sec.name}: string table index ${sec.link} out of range`,
    );
  }
  const data = elf.sectionData(sec);
  const strings = elf.sectionData(strSec);
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  const total = Math.floor(data.length / SYM_SIZE);
  const c: SymbolColumns = {
    count: 0,
    starts: new Float64Array(total),
    sizes: new Float64Array(total),
    bindings: new Uint8Array(total),
    nameAt: new Uint32Array(total),
    strings,
  };
  const secs = elf.sections;
  let n = 0;
  for (let i = 1; i < total; i++) {
    const o = i * SYM_SIZE;
    const info = data[o + 4];
    const type = info & 0xf;
    if (type !== STT_FUNC && type !== STT_GNU_IFUNC) continue;
    const shndx = v.getUint16(o + 6, true);
    if (shndx === 0 || shndx >= SHN_LORESERVE) continue;
    // Only symbols in code sections, as perf: data mislabelled as FUNC in
    // odd objects would otherwise shadow real functions.
    const s = secs[shndx];
    if (s && (s.flags & SHF_EXECINSTR) === 0) continue;
    const nameAt = v.getUint32(o, true);
    if (nameAt === 0 || nameAt >= strings.length || strings[nameAt] === 0) {
      continue;
    }
    const start = u64(v, o + 8);
    if (start === 0) continue;
    c.starts[n] = start;
    c.sizes[n] = u64(v, o + 16);
    c.bindings[n] = info >> 4;
    c.nameAt[n] = nameAt;
    n++;
  }
  c.count = n;
  return c;
}
