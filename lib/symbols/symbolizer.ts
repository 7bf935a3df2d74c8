/**
 * The Symbolizer: sampled stack addresses to the function names perf shows.
 *
 * `observe(pid)` is called the first time a pid is seen, while the process
 * still runs. It reads /proc/PID/maps and NSpid, and opens an fd on
 * /proc/PID/map_files/START-END for each executable file mapping whose file
 * it does not know yet (files are shared by identity across processes), an
 * fd on the process's root directory if it lives in another mount namespace,
 * and an fd on its perf map if there is one. Nothing is parsed then: ELF
 * tables are read on the first lookup that needs them, through those fds, so
 * a process that exits (or whose binary is deleted or replaced) right after
 * `observe()` is still symbolized from what it really ran.
 *
 * Lookups (`user`, `kernel`) never throw for bad input: each frame that
 * cannot be named says why (`reason`), and `stats()` counts it.
 *
 * @module
 */
import { cacheDir } from "../common/cache_dir.ts";
import { ByteLru, type Evictable } from "./byte_lru.ts";
import { bytesSource } from "./byte_source.ts";
import type { DebugSearch } from "./debug_file.ts";
import {
  type Frame,
  type MappingInfo,
  unnamed,
  type UnresolvedReason,
} from "./frame.ts";
import {
  KernelSymbols,
  type KernelSymbolState,
  type KernelSymbolWarning,
} from "./kernel_symbols.ts";
import { type DebugCounters, MappedFile } from "./mapped_file.ts";
import { PerfMap, type PerfMapOptions } from "./perf_map.ts";
import { findMapping, type MapEntry, parseProcMaps } from "./proc_maps.ts";
import { closeFd, openFd, tryOpenFd } from "./raw_fd.ts";
import { FileReadError, ProcessGoneError } from "./errors.ts";
import { readVdsoImage } from "./vdso_image.ts";

/** Options of a Symbolizer. */
export interface SymbolizerOptions {
  /** Also resolve source file/line and inlined frames (libdw). */
  lines?: boolean;
  /** Bound on parsed symbol tables, DWARF and perf maps (default 64 MiB). */
  maxCacheBytes?: number;
  /** Where /proc is (tests); default "/proc". */
  procRoot?: string;
  /** Debug directories for build-id and debuglink look-ups. */
  debugDirs?: string[];
  /** kallsyms path (default `${procRoot}/kallsyms`). */
  kallsymsPath?: string;
  /**
   * Where the core kernel's symbols are saved per boot and read back
   * (kallsyms_cache.ts), or null for none. Default: `cacheDir("kallsyms")`
   * for the real /proc/kallsyms, none for any other path.
   */
  kallsymsCacheDir?: string | null;
  /**
   * Where built ELF symbol tables are saved by build id and mapped back
   * (symbol_cache.ts), or null for none. Default: `cacheDir("symbols")`
   * when `procRoot` is "/proc", none otherwise.
   */
  symbolCacheDir?: string | null;
  /** Where perf maps are written (default "/tmp"). */
  perfMapDir?: string;
  /** Bounds of each perf map. */
  perfMap?: PerfMapOptions;
  /** Processes remembered at most; the least recently used are forgotten. */
  maxProcesses?: number;
  /** Least time between two re-reads of one process's maps on a miss. */
  mapsReloadMs?: number;
}

/** Options of one `user()` or `kernel()` call. */
export interface LookupOptions {
  /**
   * The first address is the sampled instruction pointer (looked up as is);
   * the others are return addresses, looked up at `addr - 1` so that a call
   * ending a function is not attributed to the next one. Default true.
   */
  leafIsExact?: boolean;
}

/** What `observe()` captured. */
export interface ObserveResult {
  ok: boolean;
  pid: number;
  /** The pid inside its own pid namespace (innermost NSpid). */
  nspid: number;
  /** Executable mappings kept. */
  mappings: number;
  /** Files opened for the first time by this call. */
  newFiles: number;
  /** The process lives in another mount namespace. */
  foreignMountNamespace: boolean;
  /** Why it failed (ok false): ProcessGoneError when /proc has no such pid. */
  error?: ProcessGoneError | FileReadError;
}

/** Counters and memory, for logs and tests. */
export interface SymbolizerStats {
  processes: number;
  observed: number;
  observeFailures: number;
  mapsReloads: number;
  files: number;
  filesOpen: number;
  filesParsed: number;
  symbols: number;
  cacheBytes: number;
  maxCacheBytes: number;
  evictions: number;
  kernel: {
    state: KernelSymbolState | "not-loaded";
    /** How kallsyms is held: parsed in full, or its core indexed in place. */
    form: "full" | "indexed" | "none" | "not-loaded";
    /** The core's symbols came from the per-boot cache, not /proc/kallsyms. */
    fromCache: boolean;
    /** Symbols parsed into a table (indexed: the modules' only). */
    symbols: number;
    bytes: number;
  };
  perfMaps: {
    count: number;
    entries: number;
    malformed: number;
    dropped: number;
    bytes: number;
  };
  debugFiles: {
    buildId: number;
    debugLink: number;
    rejectedCrc: number;
    rejectedBuildId: number;
  };
  frames: {
    resolved: number;
    unresolved: Record<UnresolvedReason, number>;
  };
}

interface ProcessState {
  pid: number;
  /** Field 22 of /proc/PID/stat: tells a reused pid from the same process. */
  startTime: string;
  nspid: number;
  maps: MapEntry[];
  files: (MappedFile | undefined)[];
  infos: (MappingInfo | undefined)[];
  rootFd: number;
  rootPrefix: string;
  perfMapPath: string;
  perfMapFd: number;
  perfMap?: CachedPerfMap;
  /** The pass (see Symbolizer.pass) in which the perf map was last read. */
  perfMapPass: number;
  /** The perf map read new lines since it was last touched in the LRU. */
  perfMapGrew: boolean;
  lastReload: number;
  gone: boolean;
}

/** A perf map in the LRU: evicting it drops its entries (re-read later). */
class CachedPerfMap implements Evictable {
  map: PerfMap;
  constructor(private readonly make: () => PerfMap) {
    this.map = make();
  }
  get bytes(): number {
    return this.map.bytes;
  }
  evict(): void {
    this.map = this.make();
  }
}

const TWO32 = 4294967296;
const KERNEL = "[kernel.kallsyms]";
const REASONS: UnresolvedReason[] = [
  "no-mapping",
  "no-symbol",
  "unreadable-file",
  "bad-elf",
  "process-gone",
  "no-jit-symbol",
  "kernel-restricted",
];

/** The start time field of /proc/PID/stat ("" if unreadable). */
function readStartTime(base: string): string {
  try {
    const stat = Deno.readTextFileSync(`${base}/stat`);
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19] ?? "";
  } catch {
    return "";
  }
}

function isAnonymousExec(m: MapEntry): boolean {
  return m.inode === 0 && m.path !== "[vdso]" && m.path !== "[vsyscall]";
}

/**
 * The symbolizer.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { Symbolizer } from "./symbolizer.ts";
 * import { parseProcMaps } from "./proc_maps.ts";
 * const sym = new Symbolizer();
 * // Symbolize an address of this very process: libc's malloc.
 * const maps = parseProcMaps(Deno.readTextFileSync("/proc/self/maps")).entries;
 * assert.ok(sym.observe(Deno.pid).ok);
 * const libc = sym.mappings(Deno.pid).find((m) => m.file.endsWith("/libc.so.6"))!;
 * const frames = sym.user(Deno.pid, [libc.start + 16n]);
 * assert.strictEqual(frames[0].module, libc.file);
 * assert.strictEqual(frames[0].kind, "user");
 * assert.ok(maps.length > 0);
 * sym.close();
 * ```
 */
export class Symbolizer {
  private readonly lines: boolean;
  private readonly procRoot: string;
  private readonly debugDirs: string[];
  private readonly kallsymsPath: string;
  private readonly kallsymsCacheDir: string | null;
  private readonly tableCacheDir: string | null;
  private readonly perfMapDir: string;
  private readonly perfMapOptions: PerfMapOptions;
  private readonly maxProcesses: number;
  private readonly mapsReloadMs: number;
  private readonly lru: ByteLru;
  private readonly procs = new Map<number, ProcessState>();
  private readonly files = new Map<string, MappedFile>();
  private vdso?: MappedFile;
  private kernelSyms?: KernelSymbols;
  private selfMountNs?: string;
  private stamp = 0;
  /** The current pass's number; 0 outside pass() (every miss may re-read). */
  private passNo = 0;
  private passes = 0;
  private observed = 0;
  private observeFailures = 0;
  private mapsReloads = 0;
  private resolved = 0;
  private readonly unresolved = Object.fromEntries(
    REASONS.map((r) => [r, 0]),
  ) as Record<UnresolvedReason, number>;
  private readonly debug: DebugCounters = {
    buildId: 0,
    debugLink: 0,
    rejected: { crc: 0, buildId: 0 },
  };

  constructor(options: SymbolizerOptions = {}) {
    this.lines = options.lines ?? false;
    this.procRoot = options.procRoot ?? "/proc";
    this.debugDirs = options.debugDirs ?? ["/usr/lib/debug"];
    this.kallsymsPath = options.kallsymsPath ?? `${this.procRoot}/kallsyms`;
    this.kallsymsCacheDir = options.kallsymsCacheDir !== undefined
      ? options.kallsymsCacheDir
      : this.kallsymsPath === "/proc/kallsyms"
      ? cacheDir("kallsyms")
      : null;
    this.tableCacheDir = options.symbolCacheDir !== undefined
      ? options.symbolCacheDir
      : this.procRoot === "/proc"
      ? cacheDir("symbols")
      : null;
    this.perfMapDir = options.perfMapDir ?? "/tmp";
    this.perfMapOptions = options.perfMap ?? {};
    this.maxProcesses = options.maxProcesses ?? 4096;
    this.mapsReloadMs = options.mapsReloadMs ?? 1000;
    this.lru = new ByteLru(options.maxCacheBytes ?? 64 << 20);
  }

  // ---------------------------------------------------------------- observe

  /**
   * Captures what is needed to symbolize `pid` later, even after it exits.
   * Cheap: one read of maps and status, one stat per executable mapping, one
   * open per file not seen before. Calling it again refreshes the maps.
   */
  observe(pid: number): ObserveResult {
    const base = `${this.procRoot}/${pid}`;
    let text: string;
    try {
      text = Deno.readTextFileSync(`${base}/maps`);
    } catch (err) {
      this.observeFailures++;
      return {
        ok: false,
        pid,
        nspid: pid,
        mappings: 0,
        newFiles: 0,
        foreignMountNamespace: false,
        error: err instanceof Deno.errors.NotFound
          ? new ProcessGoneError(pid, `${base}/maps`, err)
          : new FileReadError(`${base}/maps`, "read", err),
      };
    }
    let old = this.procs.get(pid);
    const startTime = readStartTime(base);
    if (old && old.startTime !== startTime) {
      // The pid was reused by another process: nothing of the old one
      // (its root, its perf map) carries over.
      this.forget(pid);
      old = undefined;
    }
    const nspid = this.readNsPid(base) ?? pid;
    const foreign = this.foreignMountNamespace(base);
    let rootFd = old?.rootFd ?? -1;
    if (foreign && rootFd < 0) {
      try {
        rootFd = openFd(`${base}/root`);
      } catch {
        rootFd = -1;
      }
    }
    // While the process lives, /proc/PID/root reaches its files; the fd on
    // the root directory keeps reaching them after it exits.
    const rootPrefix = !foreign
      ? ""
      : rootFd >= 0
      ? `/proc/self/fd/${rootFd}`
      : `${base}/root`;
    const { entries } = parseProcMaps(text);
    const maps = entries.filter((e) => e.perms[2] === "x");
    const files: (MappedFile | undefined)[] = [];
    let newFiles = 0;
    for (const m of maps) {
      if (m.path === "[vdso]") {
        files.push(this.vdsoFile());
      } else if (m.inode === 0 || m.path === "" || m.path.startsWith("[")) {
        files.push(undefined);
      } else {
        const got = this.fileFor(base, m, rootPrefix, foreign);
        if (got.isNew) newFiles++;
        files.push(got.file);
      }
    }
    for (const f of files) if (f) f.refs++;
    if (old) this.release(old, false);
    let perfMapFd = old?.perfMapFd ?? -1;
    const perfMapPath = `${rootPrefix}${this.perfMapDir}/perf-${
      foreign ? nspid : pid
    }.map`;
    if (
      perfMapFd < 0 &&
      maps.some((m) => isAnonymousExec(m) || m.path.startsWith("/memfd:"))
    ) {
      // Keep the perf map reachable too (a container's /tmp vanishes with
      // it); a process that has none yet gets it by path later.
      perfMapFd = tryOpenFd(perfMapPath);
    }
    const state: ProcessState = {
      pid,
      startTime,
      nspid,
      maps,
      files,
      infos: new Array(maps.length),
      rootFd,
      rootPrefix,
      perfMapPath,
      perfMapFd,
      perfMap: old?.perfMap,
      perfMapPass: old?.perfMapPass ?? 0,
      perfMapGrew: old?.perfMapGrew ?? false,
      lastReload: performance.now(),
      gone: false,
    };
    this.procs.delete(pid);
    this.procs.set(pid, state);
    this.observed++;
    while (this.procs.size > this.maxProcesses) {
      const oldest = this.procs.keys().next().value as number;
      this.forget(oldest);
    }
    return {
      ok: true,
      pid,
      nspid,
      mappings: maps.length,
      newFiles,
      foreignMountNamespace: foreign,
    };
  }

  private readNsPid(base: string): number | undefined {
    try {
      const status = Deno.readTextFileSync(`${base}/status`);
      const m = /^NSpid:\s*([\d\s]+)$/m.exec(status);
      if (!m) return undefined;
      const ids = m[1].trim().split(/\s+/).map(Number);
      return ids[ids.length - 1];
    } catch {
      return undefined;
    }
  }

  private foreignMountNamespace(base: string): boolean {
    try {
      this.selfMountNs ??= Deno.readLinkSync(`${this.procRoot}/self/ns/mnt`);
      return Deno.readLinkSync(`${base}/ns/mnt`) !== this.selfMountNs;
    } catch {
      return false;
    }
  }

  /** The shared entry for the file of mapping `m`, opened if new. */
  private fileFor(
    base: string,
    m: MapEntry,
    rootPrefix: string,
    foreign: boolean,
  ): { file: MappedFile; isNew: boolean } {
    const mapFile = `${base}/map_files/${m.range}`;
    let key: string;
    try {
      // stat follows the map_files link to the mapped file itself: its
      // identity, even if the path now names another file or none.
      const st = Deno.statSync(mapFile);
      key = `${st.dev}:${st.ino}:${st.size}:${st.mtime?.getTime() ?? 0}`;
    } catch {
      key = `${m.dev}:${m.inode}:${m.path}`;
    }
    const known = this.files.get(key);
    if (known) return { file: known, isNew: false };
    const search: DebugSearch = {
      debugDirs: this.debugDirs,
      roots: foreign ? [rootPrefix, ""] : [""],
    };
    const candidates = [mapFile, `${base}/root${m.path}`];
    if (!foreign && !m.deleted) candidates.push(m.path);
    let file: MappedFile | undefined;
    let lastError = "";
    for (const c of candidates) {
      try {
        file = MappedFile.fromFd(
          key,
          m.path,
          openFd(c),
          search,
          this.debug,
          this.tableCacheDir ?? undefined,
        );
        break;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    file ??= MappedFile.failed(key, m.path, "unreadable-file", lastError);
    this.files.set(key, file);
    return { file, isNew: true };
  }

  private vdsoFile(): MappedFile {
    if (this.vdso) return this.vdso;
    let image: Uint8Array | undefined;
    let error = "no [vdso] mapping in this process";
    try {
      image = readVdsoImage("self", this.procRoot);
    } catch (err) {
      error = (err as Error).message;
    }
    this.vdso = image
      ? MappedFile.fromSource("[vdso]", "[vdso]", bytesSource(image, "[vdso]"))
      : MappedFile.failed("[vdso]", "[vdso]", "unreadable-file", error);
    this.vdso.refs = 1; // never closed before close()
    return this.vdso;
  }

  /** Drops what is kept for `pid` (its files too, unless others map them). */
  forget(pid: number): void {
    const p = this.procs.get(pid);
    if (!p) return;
    this.procs.delete(pid);
    this.release(p, true);
  }

  private release(p: ProcessState, all: boolean): void {
    for (const f of p.files) {
      if (!f || f === this.vdso) continue;
      f.refs--;
      if (f.refs <= 0) {
        this.lru.remove(f);
        f.close();
        this.files.delete(f.key);
      }
    }
    if (all) {
      if (p.rootFd >= 0) closeFd(p.rootFd);
      if (p.perfMapFd >= 0) closeFd(p.perfMapFd);
      if (p.perfMap) this.lru.remove(p.perfMap);
    }
  }

  // ------------------------------------------------------------------- user

  /**
   * Runs `fn` as one pass over many stacks (a profile's resolution): within
   * it, each process's perf map is re-read at most once, on its first miss.
   * Outside a pass every lookup with a miss re-reads the map's new lines,
   * which is right for one stack at a time but, for a process whose JIT
   * writes no map (streamprof's own Deno, sampled in every profile), costs
   * a failed open per stack: 400 of them, ~30 ms, in a 10 s profile at 10
   * kHz (measured). Code the JIT maps during the pass is named in the next.
   *
   * @example
   * ```ts
   * import assert from "node:assert";
   * import { Symbolizer } from "./symbolizer.ts";
   * const sym = new Symbolizer();
   * const n = sym.pass(() => sym.user(Deno.pid, [1n, 2n]).length);
   * assert.strictEqual(n, 2);
   * sym.close();
   * ```
   */
  pass<T>(fn: () => T): T {
    if (this.passNo !== 0) return fn(); // already in one
    this.passNo = ++this.passes;
    try {
      return fn();
    } finally {
      this.passNo = 0;
    }
  }

  /**
   * Symbolizes one user stack of `pid` (observing it now if it was not).
   * Addresses as captured: the sampled IP first, then return addresses.
   */
  user(
    pid: number,
    addrs: BigUint64Array | readonly bigint[],
    options: LookupOptions = {},
  ): Frame[] {
    const leafIsExact = options.leafIsExact ?? true;
    let p = this.procs.get(pid);
    if (!p) {
      this.observe(pid);
      p = this.procs.get(pid);
    } else {
      // Most recently used last, for maxProcesses.
      this.procs.delete(pid);
      this.procs.set(pid, p);
    }
    const stamp = ++this.stamp;
    const touched: Evictable[] = [];
    const out: Frame[] = new Array(addrs.length);
    let reloaded = false, perfMapRead = false;
    for (let i = 0; i < addrs.length; i++) {
      const address = addrs[i];
      if (!p) {
        out[i] = this.miss(address, "[unknown]", "process-gone", "user");
        continue;
      }
      const a = Number(address);
      const look = i === 0 && leafIsExact ? a : a - 1;
      let idx = findMapping(p.maps, look);
      if (idx < 0 && !reloaded && this.maybeReload(p)) {
        reloaded = true;
        p = this.procs.get(pid)!;
        idx = findMapping(p.maps, look);
      }
      if (idx < 0 || isAnonymousExec(p.maps[idx])) {
        // JIT code: in the perf map (new code may lie outside the maps we
        // saw, so a miss in the maps is tried there too).
        const jit = this.jitLookup(p, look, !perfMapRead);
        perfMapRead = true;
        this.touchPerfMap(p, jit, touched);
        if (jit) {
          this.resolved++;
          out[i] = {
            name: jit,
            module: p.perfMap!.map.path,
            kind: "jit",
            address,
            symbolized: true,
            mapping: idx >= 0 ? this.info(p, idx) : undefined,
          };
          continue;
        }
        if (idx < 0) {
          out[i] = this.miss(address, "[unknown]", "no-mapping", "user");
        } else {
          const m = p.maps[idx];
          const mod = m.path || "[anon]";
          out[i] = this.miss(
            address,
            mod,
            "no-jit-symbol",
            "jit",
            unnamed(mod, address - m.startBig),
          );
          out[i].mapping = this.info(p, idx);
        }
        continue;
      }
      const m = p.maps[idx];
      const f = p.files[idx];
      const fileOff = look - m.start + m.offset;
      const frame: Frame = {
        name: "",
        module: m.path,
        kind: "user",
        address,
        symbolized: false,
        fileOffset: BigInt(a - m.start + m.offset),
        mapping: this.info(p, idx),
      };
      out[i] = frame;
      if (!f) {
        frame.name = unnamed(m.path, fileOff);
        frame.reason = "unreadable-file";
        this.unresolved["unreadable-file"]++;
        continue;
      }
      if (f.stamp !== stamp) {
        f.stamp = stamp;
        touched.push(f);
      }
      const vaddr = f.vaddrOf(fileOff);
      const hit = vaddr === undefined ? undefined : f.lookup(vaddr);
      if (!hit) {
        // Code some JITs write into a file mapping (a memfd, say) is named
        // only by their perf map.
        const jit = m.path.startsWith("/memfd:") && p.perfMapFd >= 0
          ? this.jitLookup(p, look, !perfMapRead)
          : undefined;
        this.touchPerfMap(p, jit, touched);
        if (jit) {
          perfMapRead = true;
          this.resolved++;
          frame.name = jit;
          frame.kind = "jit";
          frame.module = p.perfMap!.map.path;
          frame.symbolized = true;
          continue;
        }
        frame.name = unnamed(m.path, vaddr ?? fileOff);
        frame.reason = f.error?.reason ?? "no-symbol";
        this.unresolved[frame.reason]++;
        continue;
      }
      frame.name = hit.name;
      frame.symbolized = true;
      this.resolved++;
      if (this.lines) this.addLines(frame, f, vaddr!);
    }
    for (const t of touched) this.lru.touch(t);
    return out;
  }

  private addLines(frame: Frame, f: MappedFile, vaddr: number): void {
    const dwarf = f.dwarfFile();
    if (!dwarf) return;
    const chain = dwarf.inlineChain(vaddr);
    if (chain.length === 0) {
      const src = dwarf.source(vaddr);
      if (src) {
        frame.file = src.file;
        frame.line = src.line;
      }
      return;
    }
    const outer = chain[chain.length - 1];
    if (outer.file !== undefined) frame.file = outer.file;
    if (outer.line !== undefined) frame.line = outer.line;
    if (chain.length > 1) frame.inlined = chain.slice(0, -1);
  }

  private maybeReload(p: ProcessState): boolean {
    if (p.gone) return false;
    if (performance.now() - p.lastReload < this.mapsReloadMs) return false;
    this.mapsReloads++;
    const r = this.observe(p.pid);
    if (!r.ok) {
      p.gone = true;
      p.lastReload = performance.now();
      return false;
    }
    return true;
  }

  /**
   * Adds the perf map to this lookup's touched items when it named a frame
   * or read new lines (the LRU counts an item's size when it is touched).
   */
  private touchPerfMap(
    p: ProcessState,
    jit: string | undefined,
    touched: Evictable[],
  ): void {
    const m = p.perfMap;
    if (!m || (!jit && !p.perfMapGrew)) return;
    p.perfMapGrew = false;
    if (touched.indexOf(m) < 0) touched.push(m);
  }

  private jitLookup(
    p: ProcessState,
    addr: number,
    mayRead: boolean,
  ): string | undefined {
    // Within a pass, a map read once is not read again (see pass()).
    if (this.passNo !== 0 && p.perfMapPass === this.passNo) mayRead = false;
    if (!p.perfMap) {
      const path = p.perfMapPath;
      const fd = p.perfMapFd;
      const display = p.rootPrefix
        ? `${this.procRoot}/${p.pid}/root${this.perfMapDir}/perf-${p.nspid}.map`
        : path;
      p.perfMap = new CachedPerfMap(() =>
        new PerfMap(display, {
          // Half the cache at most by default: one runaway JIT process
          // cannot take all of it.
          maxBytes: Math.floor(this.lru.maxBytes / 2),
          ...this.perfMapOptions,
          openPath: fd >= 0 ? `/proc/self/fd/${fd}` : path,
        })
      );
      if (p.perfMap.map.refresh() > 0) p.perfMapGrew = true;
      p.perfMapPass = this.passNo;
      mayRead = false;
    }
    let hit = p.perfMap.map.lookup(addr);
    if (!hit && mayRead) {
      p.perfMapPass = this.passNo;
      if (p.perfMap.map.refresh() > 0) {
        p.perfMapGrew = true;
        hit = p.perfMap.map.lookup(addr);
      }
    }
    return hit?.name;
  }

  private info(p: ProcessState, idx: number): MappingInfo {
    let info = p.infos[idx];
    if (!info) {
      const m = p.maps[idx];
      const f = p.files[idx];
      info = {
        start: m.startBig,
        limit: m.endBig,
        offset: BigInt(m.offset),
        file: m.path || "[anon]",
      };
      const id = f?.buildId();
      if (id) info.buildId = id;
      p.infos[idx] = info;
    }
    return info;
  }

  private miss(
    address: bigint,
    module: string,
    reason: UnresolvedReason,
    kind: Frame["kind"],
    name = unnamed(module, address),
  ): Frame {
    this.unresolved[reason]++;
    return { name, module, kind, address, symbolized: false, reason };
  }

  /** The executable mappings of `pid` as observed (observing it if needed). */
  mappings(pid: number): MappingInfo[] {
    let p = this.procs.get(pid);
    if (!p) {
      this.observe(pid);
      p = this.procs.get(pid);
    }
    if (!p) return [];
    return p.maps.map((_, i) => this.info(p!, i));
  }

  // ----------------------------------------------------------------- kernel

  private kernelTable(): KernelSymbols {
    return this.kernelSyms ??= KernelSymbols.load(this.kallsymsPath, {
      cache: this.kallsymsCacheDir === null ? undefined : {
        dir: this.kallsymsCacheDir,
        bootId: `${this.procRoot}/sys/kernel/random/boot_id`,
      },
    });
  }

  /** Why kernel frames cannot be named, if they cannot. */
  kernelWarning(): KernelSymbolWarning | undefined {
    return this.kernelTable().warning(
      `${this.procRoot}/sys/kernel/kptr_restrict`,
    );
  }

  /** Re-reads /proc/kallsyms (after modules were loaded, say). */
  reloadKernel(): void {
    this.kernelSyms = undefined;
  }

  /** Symbolizes one kernel stack (sampled IP first, then return addresses). */
  kernel(
    addrs: BigUint64Array | readonly bigint[],
    options: LookupOptions = {},
  ): Frame[] {
    const leafIsExact = options.leafIsExact ?? true;
    const ks = this.kernelTable();
    const out: Frame[] = new Array(addrs.length);
    // A BigUint64Array is read as 32-bit halves: no BigInt arithmetic.
    const words = addrs instanceof BigUint64Array
      ? new Uint32Array(addrs.buffer, addrs.byteOffset, addrs.length * 2)
      : undefined;
    for (let i = 0; i < addrs.length; i++) {
      const address = addrs[i];
      let hi: number, lo: number;
      if (words) {
        lo = words[2 * i];
        hi = words[2 * i + 1];
      } else {
        hi = Number(address >> 32n);
        lo = Number(address & 0xffffffffn);
      }
      if (!(i === 0 && leafIsExact)) {
        if (lo === 0) {
          lo = TWO32 - 1;
          hi--;
        } else lo--;
      }
      const k = ks.indexOfHalves(hi, lo);
      if (k >= 0) {
        this.resolved++;
        out[i] = {
          name: ks.name(k),
          module: ks.module(k),
          kind: "kernel",
          address,
          symbolized: true,
        };
      } else {
        out[i] = this.miss(
          address,
          KERNEL,
          ks.state === "ok" ? "no-symbol" : "kernel-restricted",
          "kernel",
        );
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ stats

  /** Counts and memory. */
  stats(): SymbolizerStats {
    let filesOpen = 0, filesParsed = 0, symbols = 0;
    for (const f of this.files.values()) {
      if (f.open) filesOpen++;
      if (f.parsed) filesParsed++;
    }
    for (
      const f of [...this.files.values(), ...(this.vdso ? [this.vdso] : [])]
    ) {
      symbols += f.symbolCount;
    }
    const pm = { count: 0, entries: 0, malformed: 0, dropped: 0, bytes: 0 };
    for (const p of this.procs.values()) {
      if (!p.perfMap) continue;
      const s = p.perfMap.map.stats();
      pm.count++;
      pm.entries += s.entries;
      pm.malformed += s.malformed;
      pm.dropped += s.dropped;
      pm.bytes += s.bytes;
    }
    const k = this.kernelSyms;
    return {
      processes: this.procs.size,
      observed: this.observed,
      observeFailures: this.observeFailures,
      mapsReloads: this.mapsReloads,
      files: this.files.size + (this.vdso ? 1 : 0),
      filesOpen,
      filesParsed,
      symbols,
      cacheBytes: this.lru.bytes + (k?.bytes ?? 0),
      maxCacheBytes: this.lru.maxBytes,
      evictions: this.lru.evictions,
      kernel: {
        state: k?.state ?? "not-loaded",
        form: k?.form ?? "not-loaded",
        fromCache: k?.fromCache ?? false,
        symbols: k?.tableSymbols ?? 0,
        bytes: k?.bytes ?? 0,
      },
      perfMaps: pm,
      debugFiles: {
        buildId: this.debug.buildId,
        debugLink: this.debug.debugLink,
        rejectedCrc: this.debug.rejected.crc,
        rejectedBuildId: this.debug.rejected.buildId,
      },
      frames: { resolved: this.resolved, unresolved: { ...this.unresolved } },
    };
  }

  /** Closes every fd and drops every cache. */
  close(): void {
    for (const pid of [...this.procs.keys()]) this.forget(pid);
    for (const f of this.files.values()) f.close();
    this.files.clear();
    this.vdso?.close();
    this.vdso = undefined;
  }
}
