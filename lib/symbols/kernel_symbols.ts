/**
 * Kernel symbols from /proc/kallsyms, core kernel and modules (`name
 * [module]`, as perf prints them), with the kptr_restrict state.
 *
 * kallsyms has no sizes: a symbol extends to the next one, except that a
 * symbol followed by one of another module stops at the end of its page
 * (modules sit in separate allocations; without this the last function of
 * the core kernel would swallow the hundreds of MiB up to the first module).
 *
 * Two forms answer the same lookups. The full parse reads every line into a
 * table. The indexed form, used when it can be, leaves the core kernel's
 * section (in address order, most of the file) in place and binary-searches
 * its bytes (kallsyms_index.ts), and parses only the modules' lines after it:
 * a profile names a few hundred kernel addresses and the full parse of 122k
 * lines was the largest piece of its CPU time. The indexed form hands over to
 * the full parse whenever it cannot answer as the full parse would.
 *
 * Kernel addresses exceed 2^53, so they are stored as offsets from a base
 * (the lowest kept address rounded down to 2^32): exact as numbers, and
 * lookups split each 64-bit address into two 32-bit halves, never a BigInt
 * operation on the fast path (a BigUint64Array is read as 32-bit words).
 *
 * @module
 */
import { readCachedCore, saveCachedCore } from "./kallsyms_cache.ts";
import {
  GIVE_UP,
  hexValue,
  isFunction,
  KallsymsIndex,
  pageEnd,
  TWO32,
} from "./kallsyms_index.ts";
import { SymbolTable } from "./symbol_table.ts";

/** Why kernel frames cannot be named, or "ok". */
export type KernelSymbolState =
  | "ok"
  /** kallsyms lists only zero addresses: kptr_restrict (or no CAP_SYSLOG). */
  | "restricted"
  /** /proc/kallsyms could not be read at all. */
  | "unreadable"
  /** It was read but had no text symbols. */
  | "empty";

/** The warning the symbolizer reports for a state other than "ok". */
export interface KernelSymbolWarning {
  state: Exclude<KernelSymbolState, "ok">;
  /** /proc/sys/kernel/kptr_restrict at load time (-1 if unreadable). */
  kptrRestrict: number;
  message: string;
}

/** What a kernel lookup found. */
export interface KernelHit {
  name: string;
  /** "[kernel.kallsyms]" or the module in brackets, e.g. "[nf_tables]". */
  module: string;
  /** Offset of the address from the symbol's start. */
  offset: number;
}

const KERNEL = "[kernel.kallsyms]";
/** Lookups the indexed form answers before the full parse takes over. */
export const INDEX_LOOKUPS = 8192;

function readKptrRestrict(path: string): number {
  try {
    return Number(Deno.readTextFileSync(path).trim());
  } catch {
    return -1;
  }
}

/** What a parse found: the state, and the table when "ok". */
interface Parsed {
  state: KernelSymbolState;
  table?: FullTable;
  malformed: number;
}

/**
 * Every text line of kallsyms in one table (the full parse).
 */
class FullTable {
  private readonly names: (string | undefined)[] = [];
  private readonly modules: (string | undefined)[] = [];

  constructor(
    readonly table: SymbolTable,
    readonly baseHi: number,
    /** Text symbols kept. */
    readonly count: number,
  ) {}

  /** Parses kallsyms text (as bytes: no string per line is made). */
  static parse(b: Uint8Array): Parsed {
    // One pass over the bytes, by hand (a TypedArray indexOf call per field
    // cost more than the scan), into typed arrays sized for the most lines
    // the text can have; names stay in `b`, which the table keeps (no copy:
    // kallsyms is parsed once per profile, cold, and this is its cost).
    let lines = 1;
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
    const his = new Float64Array(lines), los = new Float64Array(lines);
    const nameAt = new Uint32Array(lines);
    const nameEnd = new Uint32Array(lines);
    // Module of each symbol as a small integer (0: core kernel), to tell
    // when the next symbol belongs to another module.
    const mods = new Uint32Array(lines);
    const modIds = new Map<string, number>();
    let lastMod = "", lastModFrom = 0, lastModTo = 0, lastModId = 0;
    const dec = new TextDecoder();
    const bindings = new Uint8Array(lines);
    let kept = 0;
    let malformed = 0, zero = 0;
    let at = 0;
    const n = b.length;
    while (at < n) {
      const line = at;
      // "<up to 16 hex> <type> <name>[\t[module]]\n"
      let c = b[at];
      while (c !== 32 && c !== 10 && at < n) c = b[++at];
      if (at >= n || c === 10) {
        if (at > line) malformed++;
        at++;
        continue;
      }
      const digits = at - line;
      // at: the space after the address.
      if (digits === 0 || digits > 16 || at + 3 > n || b[at + 2] !== 32) {
        malformed++;
        while (at < n && b[at] !== 10) at++;
        at++;
        continue;
      }
      const type = b[at + 1];
      const t = type | 32; // lower case
      let e = at + 3;
      if (!isFunction(type)) {
        // Not text (t/T) or weak (w/W): skip the line.
        while (e < n && b[e] !== 10) e++;
        at = e + 1;
        continue;
      }
      const split = Math.max(line, at - 8);
      const hi = hexValue(b, line, split), lo = hexValue(b, split, at);
      if (Number.isNaN(hi) || Number.isNaN(lo)) {
        malformed++;
        while (e < n && b[e] !== 10) e++;
        at = e + 1;
        continue;
      }
      const nf = at + 3;
      while (e < n && b[e] !== 10 && b[e] !== 9) e++;
      let eol = e;
      let mod = 0;
      if (e < n && b[e] === 9) {
        // "\t[module]": kept in the name ("name\t[module]", split on use).
        const mf = e + 1;
        eol = mf;
        while (eol < n && b[eol] !== 10) eol++;
        // Consecutive lines share a module: compare bytes, decode rarely.
        let same = eol - mf === lastModTo - lastModFrom && lastModId !== 0;
        for (let j = 0; same && j < eol - mf; j++) {
          same = b[mf + j] === b[lastModFrom + j];
        }
        if (!same) {
          lastMod = dec.decode(b.subarray(mf, eol));
          let id = modIds.get(lastMod);
          if (id === undefined) modIds.set(lastMod, id = modIds.size + 1);
          lastModId = id;
        }
        lastModFrom = mf;
        lastModTo = eol;
        mod = lastModId;
      }
      at = eol + 1;
      if (hi === 0 && lo === 0) {
        zero++;
        continue;
      }
      his[kept] = hi;
      los[kept] = lo;
      nameAt[kept] = nf;
      nameEnd[kept] = eol;
      mods[kept] = mod;
      bindings[kept] = type === 84 ? 1 : t === 119 ? 2 : 0; // T global, w weak
      kept++;
    }
    const count = kept;
    if (count === 0) {
      return { state: zero > 0 ? "restricted" : "empty", malformed };
    }
    let baseHi = Infinity;
    for (let i = 0; i < count; i++) baseHi = Math.min(baseHi, his[i]);
    const starts = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      starts[i] = (his[i] - baseHi) * TWO32 + los[i];
    }
    // Sizes: up to the next symbol (by address), or to the end of the page
    // when the next one belongs to another module.
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    let sorted = true;
    for (let i = 1; i < count && sorted; i++) {
      if (starts[i] < starts[i - 1]) sorted = false;
    }
    if (!sorted) {
      // TimSort (Array.prototype.sort): near-linear on kallsyms, which is
      // in address order but for a few entries.
      const idx = Array.from(order);
      idx.sort((x, y) => starts[x] - starts[y] || x - y);
      order.set(idx);
    }
    const sizes = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      const i = order[k];
      let j = k + 1;
      while (j < count && starts[order[j]] === starts[i]) j++;
      if (j > k + 1) {
        // Aliases: perf gives each but the last (in kallsyms order) the
        // size 0, so the last one is the name it shows; do the same.
        sizes[i] = 0;
        continue;
      }
      const page = pageEnd(starts[i]);
      if (j >= count) sizes[i] = page - starts[i];
      else {
        const next = starts[order[j]];
        sizes[i] = mods[order[j]] === mods[i]
          ? next - starts[i]
          : Math.min(next, page) - starts[i];
      }
      if (sizes[i] <= 0) sizes[i] = 1;
    }
    const table = SymbolTable.fromColumns({
      count,
      starts,
      sizes,
      bindings: bindings.subarray(0, count),
      nameAt: nameAt.subarray(0, count),
      nameEnd: nameEnd.subarray(0, count),
      strings: b,
    });
    return {
      state: "ok",
      table: new FullTable(table, baseHi, count),
      malformed,
    };
  }

  indexOfHalves(hi: number, lo: number): number {
    const off = (hi - this.baseHi) * TWO32 + lo;
    return off < 0 ? -1 : this.table.indexOf(off);
  }

  /** Offset of an address from the start of symbol `i`. */
  offset(i: number, hi: number, lo: number): number {
    return (hi - this.baseHi) * TWO32 + lo - this.table.start(i);
  }

  name(i: number): string {
    this.split(i);
    return this.names[i]!;
  }

  module(i: number): string {
    this.split(i);
    return this.modules[i]!;
  }

  private split(i: number): void {
    if (this.names[i] !== undefined) return;
    const full = this.table.name(i);
    const tab = full.indexOf("\t");
    this.names[i] = tab < 0 ? full : full.slice(0, tab);
    this.modules[i] = tab < 0 ? KERNEL : full.slice(tab + 1);
  }

  get bytes(): number {
    return this.table.bytes;
  }

  addressOf(name: string): bigint | undefined {
    for (let i = 0; i < this.table.length; i++) {
      if (this.name(i) === name) {
        return (BigInt(this.baseHi) << 32n) + BigInt(this.table.start(i));
      }
    }
    return undefined;
  }
}

/**
 * The core section searched in place, and the modules' lines after it in a
 * FullTable. Only built when the two do not interleave (no module symbol
 * within the core's range), so that each lookup has one place to look.
 */
class IndexedTable {
  private readonly coreNames = new Map<number, string>();

  private constructor(
    readonly core: KallsymsIndex,
    readonly tail: FullTable | undefined,
    /** (tail.baseHi - core.baseHi) * 2^32: tail offsets to core offsets. */
    private readonly shift: number,
    /** Bytes of the core section (the text before the first module line). */
    readonly coreBytes: number,
    /** The text is a saved core only: lookups outside it need the live file. */
    private readonly tailUnknown: boolean,
  ) {}

  /**
   * The indexed form of `b`, or undefined where only the full parse does.
   * `saved`: `b` is a saved core section (kallsyms_cache.ts), whose modules
   * are unknown.
   */
  static build(b: Uint8Array, saved = false): IndexedTable | undefined {
    // Module, ftrace, BPF and kprobe lines carry "\t[name]"; the kernel
    // prints them all after the core symbols.
    // (A saved core has none, being cut before the first; it is searched
    // all the same, so the index may take every line before a tab as core.)
    const tab = b.indexOf(9);
    const limit = tab < 0 ? b.length : b.lastIndexOf(10, tab) + 1;
    if (saved && limit !== b.length) return undefined;
    const core = KallsymsIndex.build(b, limit);
    if (!core) return undefined;
    const rest = FullTable.parse(b.subarray(limit));
    const tail = rest.table;
    let shift = 0;
    if (tail) {
      shift = (tail.baseHi - core.baseHi) * TWO32;
      for (let i = 0; i < tail.table.length; i++) {
        const s = tail.table.start(i) + shift;
        if (s >= core.first && s < core.last) return undefined;
      }
    }
    return new IndexedTable(core, tail, shift, limit, saved);
  }

  /** Tail symbols first, then core lines at tail.length + byte offset. */
  private get tailLength(): number {
    return this.tail?.table.length ?? 0;
  }

  indexOfHalves(hi: number, lo: number): number {
    const core = this.core;
    const off = (hi - core.baseHi) * TWO32 + lo;
    if (off >= core.first && off < core.last) {
      const at = core.floor(off);
      // A saved section's last function: where it ends depends on what
      // follows it in the live file (and a file cut short ends early).
      if (at === core.lastLine && this.tailUnknown) return GIVE_UP;
      return at < 0 ? at : this.tailLength + at;
    }
    if (this.tailUnknown) return GIVE_UP;
    const tail = this.tail;
    if (!tail) return -1;
    const i = tail.indexOfHalves(hi, lo);
    if (i < 0) return -1;
    // A module symbol below the core that reached past the core's start
    // (its next symbol by address is another module's, above the core)
    // stops at the end of its page, as the full parse would stop it.
    const start = tail.table.start(i) + this.shift;
    const end = tail.table.end(i) + this.shift;
    if (start < core.first && end > core.first) {
      if (off >= Math.min(core.first, pageEnd(start))) return -1;
    }
    return i;
  }

  offset(i: number, hi: number, lo: number): number {
    const n = this.tailLength;
    if (i < n) return this.tail!.offset(i, hi, lo);
    return (hi - this.core.baseHi) * TWO32 + lo - this.core.start(i - n);
  }

  name(i: number): string {
    const n = this.tailLength;
    if (i < n) return this.tail!.name(i);
    let name = this.coreNames.get(i);
    if (name === undefined) {
      this.coreNames.set(i, name = this.core.name(i - n));
    }
    return name;
  }

  module(i: number): string {
    return i < this.tailLength ? this.tail!.module(i) : KERNEL;
  }

  addressOf(name: string): bigint | undefined {
    const at = this.core.find(name);
    if (at >= 0) {
      return (BigInt(this.core.baseHi) << 32n) + BigInt(this.core.start(at));
    }
    return this.tail?.addressOf(name);
  }

  get bytes(): number {
    let names = 0;
    for (const s of this.coreNames.values()) names += s.length * 2 + 32;
    return this.core.bytes + names + (this.tail?.table.bytes ?? 0);
  }
}

/**
 * The kernel's symbol table.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { KernelSymbols } from "./kernel_symbols.ts";
 * const ks = KernelSymbols.parse(new TextEncoder().encode(
 *   "ffffffff81000000 T _text\n" +
 *     "ffffffff81000100 t do_thing\n" +
 *     "ffffffffc0001000 t nft_do_chain\t[nf_tables]\n",
 * ));
 * assert.strictEqual(ks.state, "ok");
 * assert.strictEqual(ks.form, "indexed"); // the core section, in place
 * assert.deepStrictEqual(ks.lookup(0xffffffff81000108n), {
 *   name: "do_thing", module: "[kernel.kallsyms]", offset: 8,
 * });
 * assert.strictEqual(ks.lookup(0xffffffffc0001010n)?.module, "[nf_tables]");
 * // Restricted: every address is zero, nothing is named.
 * const r = KernelSymbols.parse(new TextEncoder().encode("0000000000000000 T _text\n"));
 * assert.strictEqual(r.state, "restricted");
 * assert.strictEqual(r.lookup(0xffffffff81000108n), undefined);
 * ```
 */
export class KernelSymbols {
  private indexLookups = 0;

  private constructor(
    /** "ok", or why nothing can be named. */
    readonly state: KernelSymbolState,
    private table: FullTable | IndexedTable | undefined,
    /** The text, for the full parse the indexed form may hand over to. */
    private text: Uint8Array,
    private fullMalformed: number | undefined,
    /** Reads the live file, while `text` is a saved core section. */
    private live?: () => Uint8Array | undefined,
  ) {}

  /**
   * Reads /proc/kallsyms (or `path`); an unreadable file gives "unreadable".
   * With `cache`, the core section is saved per boot and read back from
   * there on later loads (kallsyms_cache.ts); the live file is then read
   * only if a lookup falls outside the core kernel.
   */
  static load(
    path = "/proc/kallsyms",
    options: { cache?: { dir: string; bootId?: string } } = {},
  ): KernelSymbols {
    const readFile = (): Uint8Array | undefined => {
      try {
        return Deno.readFileSync(path);
      } catch {
        return undefined;
      }
    };
    const cache = options.cache && {
      dir: options.cache.dir,
      kallsyms: path,
      bootId: options.cache.bootId ?? "/proc/sys/kernel/random/boot_id",
    };
    if (cache) {
      const saved = readCachedCore(cache);
      const table = saved && IndexedTable.build(saved, true);
      if (table) {
        return new KernelSymbols("ok", table, saved, undefined, readFile);
      }
    }
    const bytes = readFile();
    if (!bytes) {
      return new KernelSymbols("unreadable", undefined, new Uint8Array(), 0);
    }
    const ks = KernelSymbols.parse(bytes);
    if (cache && ks.table instanceof IndexedTable) {
      saveCachedCore(cache, bytes.subarray(0, ks.table.coreBytes));
    }
    return ks;
  }

  /**
   * Parses kallsyms text: the indexed form where it applies, unless
   * `full` (tests compare the two), else the full parse.
   */
  static parse(b: Uint8Array, options: { full?: boolean } = {}): KernelSymbols {
    if (!options.full) {
      const indexed = IndexedTable.build(b);
      if (indexed) return new KernelSymbols("ok", indexed, b, undefined);
    }
    const p = FullTable.parse(b);
    return new KernelSymbols(p.state, p.table, b, p.malformed);
  }

  /** "full" (every line parsed), "indexed" (the core in place), or "none". */
  get form(): "full" | "indexed" | "none" {
    return this.table instanceof IndexedTable
      ? "indexed"
      : this.table
      ? "full"
      : "none";
  }

  /** Whether the table is still the saved core section (no live read yet). */
  get fromCache(): boolean {
    return this.live !== undefined;
  }

  /**
   * Text symbols parsed into a table, without parsing more: with the core
   * indexed in place, the modules' only (`count` counts all).
   */
  get tableSymbols(): number {
    const t = this.table;
    return t instanceof IndexedTable ? t.tail?.count ?? 0 : t?.count ?? 0;
  }

  /** Text symbols (the indexed form parses everything to count them). */
  get count(): number {
    return this.full()?.count ?? 0;
  }

  /** Lines that did not parse (likewise). */
  get malformed(): number {
    this.full();
    return this.fullMalformed!;
  }

  /** Replaces a saved core section with the live text (once). */
  private readLive(): void {
    const live = this.live;
    if (!live) return;
    this.live = undefined;
    const text = live();
    if (text) this.text = text;
  }

  /** The full parse, made now if the indexed form was in use. */
  private full(): FullTable | undefined {
    if (
      this.table instanceof IndexedTable || this.fullMalformed === undefined
    ) {
      this.readLive();
      const p = FullTable.parse(this.text);
      this.table = p.table;
      this.fullMalformed = p.malformed;
    }
    return this.table as FullTable | undefined;
  }

  /** A warning for the symbolizer to report, or undefined when "ok". */
  warning(kptrRestrictPath = "/proc/sys/kernel/kptr_restrict"):
    | KernelSymbolWarning
    | undefined {
    if (this.state === "ok") return undefined;
    const kptrRestrict = readKptrRestrict(kptrRestrictPath);
    const message = this.state === "restricted"
      ? `kernel addresses are hidden (/proc/kallsyms lists only zeros; kernel.kptr_restrict=${kptrRestrict}): kernel frames are shown as ${KERNEL}+0xADDRESS. Set kernel.kptr_restrict=0 (or 1 with CAP_SYSLOG) to name them.`
      : this.state === "unreadable"
      ? "/proc/kallsyms cannot be read: kernel frames are shown unnamed"
      : "/proc/kallsyms has no text symbols: kernel frames are shown unnamed";
    return { state: this.state, kptrRestrict, message };
  }

  /**
   * Index of the symbol containing a 64-bit address given as two 32-bit
   * halves, or -1 (the no-allocation path: read it with name()/module()).
   */
  indexOfHalves(hi: number, lo: number): number {
    const t = this.table;
    if (!t) return -1;
    // An index lookup costs ~4 us (some 20 lines parsed, each found by a
    // native indexOf of ~80 ns), a full table's ~0.3 us after a parse of
    // ~40 ms: past INDEX_LOOKUPS the full parse is the cheaper way on.
    if (t instanceof IndexedTable && ++this.indexLookups > INDEX_LOOKUPS) {
      return this.full()?.indexOfHalves(hi, lo) ?? -1;
    }
    const i = t.indexOfHalves(hi, lo);
    if (i !== GIVE_UP) return i;
    if (this.live) {
      // Outside the saved core: index the live text, modules and all.
      this.readLive();
      const live = IndexedTable.build(this.text);
      if (live) {
        this.table = live;
        return this.indexOfHalves(hi, lo);
      }
    }
    // The index met what it cannot judge: the full parse answers (none, if
    // the live text now hides its addresses).
    return this.full()?.indexOfHalves(hi, lo) ?? -1;
  }

  /** Function name of symbol `i`. */
  name(i: number): string {
    return this.table!.name(i);
  }

  /** "[kernel.kallsyms]" or "[module]" of symbol `i`. */
  module(i: number): string {
    return this.table!.module(i);
  }

  /** The symbol containing a 64-bit address given as two 32-bit halves. */
  lookupHalves(hi: number, lo: number): KernelHit | undefined {
    const i = this.indexOfHalves(hi, lo);
    if (i < 0) return undefined;
    return {
      name: this.name(i),
      module: this.module(i),
      offset: this.table!.offset(i, hi, lo),
    };
  }

  /** The symbol containing `addr`. */
  lookup(addr: bigint): KernelHit | undefined {
    return this.lookupHalves(
      Number(addr >> 32n),
      Number(addr & 0xffffffffn),
    );
  }

  /** Memory held by the table (the indexed form: the text it searches). */
  get bytes(): number {
    return this.table?.bytes ?? 0;
  }

  /** The address of a kernel symbol by name (tests), as bigint. */
  addressOf(name: string): bigint | undefined {
    return this.table?.addressOf(name);
  }
}
