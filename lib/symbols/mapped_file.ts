/**
 * One ELF file mapped by one or more processes: how to reach its bytes (an
 * fd kept open from the moment a process was observed), its load segments
 * and build id (read once, small), and, parsed lazily and evictable, its
 * symbol table and DWARF session.
 *
 * Why an fd: a process may exit, or its binary be deleted or replaced,
 * between `observe()` and symbolization. The fd is opened at observe time on
 * /proc/PID/map_files/START-END, which names the very file the process maps
 * (deleted, replaced, or in another mount namespace alike), so what is read
 * later is what ran. Files are shared across processes by (device, inode,
 * size, mtime), so 500 processes mapping libc keep one fd and one table.
 *
 * @module
 */
import { type DebugSearch, findDebugFile } from "./debug_file.ts";
import { ElfFile, PT_LOAD, SHT_SYMTAB } from "./elf_file.ts";
import { ElfFormatError } from "./errors.ts";
import { DwarfFile, libdwAvailable } from "./libdw.ts";
import { closeFd, fdSource } from "./raw_fd.ts";
import { loadTable, saveTable } from "./symbol_cache.ts";
import { pltSymbols, SymbolTable } from "./symbol_table.ts";
import type { Evictable } from "./byte_lru.ts";
import type { ByteSource } from "./byte_source.ts";

/** How a MappedFile's symbols were found. */
export type SymbolSource =
  | "symtab"
  | "dynsym"
  | "debug-build-id"
  | "debug-debuglink"
  | "none";

/** Counters the symbolizer sums into its stats. */
export interface DebugCounters {
  buildId: number;
  debugLink: number;
  rejected: { crc: number; buildId: number };
}

/** Why a file cannot be used, from what reading it threw. */
function whyUnusable(err: unknown): NonNullable<MappedFile["error"]> {
  return {
    reason: err instanceof ElfFormatError ? "bad-elf" : "unreadable-file",
    message: (err as Error).message,
  };
}

/**
 * A mapped ELF file.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { MappedFile } from "./mapped_file.ts";
 * import { openFd } from "./raw_fd.ts";
 * const path = "/usr/lib/x86_64-linux-gnu/libc.so.6";
 * const f = MappedFile.fromFd("libc", path, openFd(path), { debugDirs: [], roots: [""] });
 * const malloc = f.symbols()!.findByName("malloc")!;
 * assert.strictEqual(f.lookup(malloc.start + 4)?.name, "malloc");
 * f.close();
 * ```
 */
export class MappedFile implements Evictable {
  /** Processes (observed and not forgotten) that map this file. */
  refs = 0;
  /** Why the file cannot be used, once known. */
  error?: { reason: "unreadable-file" | "bad-elf"; message: string };
  /** Where its symbols came from (after the first parse). */
  symbolSource?: SymbolSource;
  /** The debug file used, if any. */
  debugPath?: string;
  /** Times its tables were parsed (1 unless evicted and re-parsed). */
  parses = 0;
  /** Per-call stamp, so the LRU is touched once per call, not per frame. */
  stamp = 0;

  private elf?: ElfFile;
  private loads: { offset: number; vaddr: number; filesz: number }[] = [];
  private table?: SymbolTable;
  private dwarf?: DwarfFile | null;
  private dwarfBytes = 0;
  private debugFd = -1;
  private debugElf?: ElfFile;
  private debugSearched = false;
  private debugVia?: "build-id" | "debuglink";
  private debugCounted = false;
  private buildIdValue?: string;

  private constructor(
    /** Identity key: "dev:inode:size:mtime" or a label. */
    readonly key: string,
    /** The path as the (first) process sees it. */
    readonly path: string,
    private fd: number,
    private readonly source: ByteSource | undefined,
    private readonly search: DebugSearch,
    private readonly counters?: DebugCounters,
    /** Where built tables are saved by build id (symbol_cache.ts). */
    private readonly tableCache?: string,
  ) {}

  /** A file reachable through `fd` (owned from now on: close() closes it). */
  static fromFd(
    key: string,
    path: string,
    fd: number,
    search: DebugSearch,
    counters?: DebugCounters,
    tableCache?: string,
  ): MappedFile {
    return new MappedFile(
      key,
      path,
      fd,
      undefined,
      search,
      counters,
      tableCache,
    );
  }

  /** An in-memory image (the vDSO). */
  static fromSource(key: string, path: string, source: ByteSource): MappedFile {
    return new MappedFile(key, path, -1, source, { debugDirs: [], roots: [] });
  }

  /** A file that could not be opened: every lookup reports `reason`. */
  static failed(
    key: string,
    path: string,
    reason: "unreadable-file" | "bad-elf",
    message: string,
  ): MappedFile {
    const f = new MappedFile(key, path, -1, undefined, {
      debugDirs: [],
      roots: [],
    });
    f.error = { reason, message };
    return f;
  }

  /** Parses the headers (once); false (and `error` set) if unusable. */
  private headers(): boolean {
    if (this.elf) return true;
    if (this.error) return false;
    try {
      const src = this.source ?? fdSource(this.fd, this.path);
      this.elf = ElfFile.parse(src);
      this.loads = this.elf.segments.filter((p) => p.type === PT_LOAD).map((
        p,
      ) => ({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz }));
      this.buildIdValue = this.elf.buildId();
      return true;
    } catch (err) {
      this.error = whyUnusable(err);
      return false;
    }
  }

  /** The GNU build id, if the file has one. */
  buildId(): string | undefined {
    this.headers();
    return this.buildIdValue;
  }

  /**
   * The ELF virtual address of a file offset: through the PT_LOAD segment
   * holding that offset (vaddr = offset - p_offset + p_vaddr). This one rule
   * covers non-PIE executables, PIE executables, shared libraries and the
   * vDSO; the load bias is then `address - vaddr`.
   */
  vaddrOf(fileOffset: number): number | undefined {
    if (!this.headers()) return undefined;
    for (const p of this.loads) {
      if (fileOffset >= p.offset && fileOffset < p.offset + p.filesz) {
        return fileOffset - p.offset + p.vaddr;
      }
    }
    return undefined;
  }

  private findDebug(): void {
    if (this.debugSearched || !this.elf) return;
    this.debugSearched = true;
    const search = {
      ...this.search,
      rejected: this.counters?.rejected ?? { crc: 0, buildId: 0 },
    };
    const found = findDebugFile(this.elf, this.path, search);
    if (found) {
      this.debugFd = found.fd;
      this.debugElf = found.elf;
      this.debugPath = found.path;
      this.debugVia = found.via;
      this.countDebug(found.via);
    }
  }

  /** Counts the debug file found, once per file (search or saved table). */
  private countDebug(via: "build-id" | "debuglink"): void {
    if (!this.counters || this.debugCounted) return;
    this.debugCounted = true;
    if (via === "build-id") this.counters.buildId++;
    else this.counters.debugLink++;
  }

  /** The symbol table, parsed on first use (undefined if unusable). */
  symbols(): SymbolTable | undefined {
    if (this.table) return this.table;
    if (!this.headers()) return undefined;
    const id = this.buildIdValue;
    const saved = this.tableCache && id
      ? loadTable(this.tableCache, id)
      : undefined;
    if (saved) {
      this.table = saved.table;
      this.symbolSource = saved.info.source;
      if (saved.info.debugPath !== undefined) {
        this.debugPath = saved.info.debugPath;
        this.countDebug(
          saved.info.source === "debug-build-id" ? "build-id" : "debuglink",
        );
      }
      this.parses++;
      return this.table;
    }
    try {
      // PLT stubs live in the file itself (NOBITS in a debug file).
      const plt = pltSymbols(this.elf!);
      let table: SymbolTable | undefined;
      let source: SymbolSource = "none";
      // A stripped file (no .symtab) may have a debug file with one; a
      // .dynsym alone names only exported functions. The debug file is
      // tried first when there is no .symtab: the .dynsym table (2,834
      // symbols in libc) would only be built to be dropped.
      const tryDebug = () => {
        this.findDebug();
        if (!this.debugElf) return;
        const dbg = SymbolTable.fromElf(this.debugElf, plt);
        if (dbg.source !== "symtab") return;
        table = dbg.table;
        source = this.debugVia === "build-id"
          ? "debug-build-id"
          : "debug-debuglink";
      };
      const hasSymtab = this.elf!.sections.some((s) => s.type === SHT_SYMTAB);
      if (!hasSymtab) tryDebug();
      if (!table) {
        const own = SymbolTable.fromElf(this.elf!, plt);
        table = own.table;
        source = own.source;
        // A .symtab with no functions in it: the debug file may have some.
        if (hasSymtab && own.source !== "symtab") tryDebug();
      }
      this.table = table!;
      this.symbolSource = source;
      if (this.tableCache && id) {
        saveTable(this.tableCache, id, table!, {
          source,
          debugPath: this.debugPath,
        });
      }
      this.parses++;
      return table;
    } catch (err) {
      this.error = whyUnusable(err);
      return undefined;
    }
  }

  /** The function containing ELF virtual address `vaddr`. */
  lookup(vaddr: number): { name: string; start: number } | undefined {
    const t = this.symbols();
    if (!t) return undefined;
    const i = t.indexOf(vaddr);
    return i < 0 ? undefined : { name: t.name(i), start: t.start(i) };
  }

  /**
   * The libdw session for source lines: on the debug file if there is one,
   * else on the file itself if it has DWARF; null when neither has any.
   */
  dwarfFile(): DwarfFile | null {
    if (this.dwarf !== undefined) return this.dwarf;
    this.dwarf = null;
    if (!this.headers() || !libdwAvailable().ok) return null;
    this.findDebug();
    const target = this.debugElf
      ? { elf: this.debugElf, fd: this.debugFd, path: this.debugPath! }
      : this.fd >= 0
      ? { elf: this.elf!, fd: this.fd, path: this.path }
      : undefined;
    if (!target) return null;
    const dbg = target.elf.sections.filter((s) => s.name.startsWith(".debug_"));
    if (!dbg.some((s) => s.name === ".debug_info")) return null;
    try {
      this.dwarf = DwarfFile.open(target.path, target.fd);
      // libdw reads the DWARF sections it uses into memory: count them.
      this.dwarfBytes = dbg.reduce((n, s) => n + s.size, 0);
    } catch {
      this.dwarf = null;
    }
    return this.dwarf;
  }

  /** Memory held by the parsed tables (what the LRU counts). */
  get bytes(): number {
    return (this.table?.bytes ?? 0) + this.dwarfBytes +
      (this.dwarf ? this.dwarf.cacheBytes : 0) +
      (this.elf ? 256 + this.elf.sections.length * 96 : 0);
  }

  /** Drops the symbol table and DWARF session (re-parsed on next use). */
  evict(): void {
    this.table = undefined;
    if (this.dwarf) this.dwarf.close();
    this.dwarf = undefined;
    this.dwarfBytes = 0;
  }

  /** Whether the symbol table is parsed (and not evicted). */
  get parsed(): boolean {
    return this.table !== undefined;
  }

  /** Symbols in the parsed table (0 when not parsed). */
  get symbolCount(): number {
    return this.table?.length ?? 0;
  }

  /** Whether an fd is held. */
  get open(): boolean {
    return this.fd >= 0;
  }

  /** Closes the fds (the entry is then dropped by its owner). */
  close(): void {
    this.evict();
    if (this.fd >= 0) closeFd(this.fd);
    if (this.debugFd >= 0) closeFd(this.debugFd);
    this.fd = -1;
    this.debugFd = -1;
  }
}
