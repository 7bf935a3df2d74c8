/**
 * elfutils' libdw / libdwfl through Deno FFI: source lines and inlined
 * frames from DWARF (`dwfl_module_getsrc`, `dwarf_getscopes`), and
 * `dwfl_module_addrinfo` (used only by the benchmark and tests, to compare
 * with the hand-written ELF symbol reader).
 *
 * Each file gets its own Dwfl session, reported with `dwfl_report_elf` at
 * base 0, so the addresses asked for are the file's own ELF virtual
 * addresses: the caller has already removed the load bias. The caller also
 * chooses the file (the binary, or its separate debug file), so libdwfl's
 * find_elf / find_debuginfo callbacks are stubs that find nothing: libdwfl
 * never searches the disk or asks a debuginfod server by itself.
 *
 * @module
 */
import { LibdwError } from "./errors.ts";
import { closeFd, dupFd, openFd } from "./raw_fd.ts";

// Deno.dlopen's format, an entry per C function: like libbpf.ts's in shape.
const LIBDW = {
  dwfl_begin: { parameters: ["buffer"], result: "pointer" },
  dwfl_end: { parameters: ["pointer"], result: "void" },
  dwfl_errno: { parameters: [], result: "i32" },
  dwfl_errmsg: { parameters: ["i32"], result: "pointer" },
  dwfl_report_begin: { parameters: ["pointer"], result: "void" },
  dwfl_report_elf: {
    parameters: ["pointer", "buffer", "buffer", "i32", "u64", "bool"],
    result: "pointer",
  },
  dwfl_report_end: {
    parameters: ["pointer", "pointer", "pointer"],
    result: "i32",
  },
  dwfl_module_addrinfo: {
    parameters: [
      "pointer",
      "u64",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "pointer",
  },
  dwfl_module_getsrc: { parameters: ["pointer", "u64"], result: "pointer" },
  dwfl_lineinfo: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "pointer",
  },
  dwfl_module_addrdie: {
    parameters: ["pointer", "u64", "buffer"],
    result: "pointer",
  },
  dwfl_module_getdwarf: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  dwarf_getscopes: {
    parameters: ["pointer", "u64", "buffer"],
    result: "i32",
  },
  dwarf_getscopes_die: { parameters: ["pointer", "buffer"], result: "i32" },
  dwarf_dieoffset: { parameters: ["pointer"], result: "u64" },
  dwarf_offdie: {
    parameters: ["pointer", "u64", "buffer"],
    result: "pointer",
  },
  dwarf_tag: { parameters: ["pointer"], result: "i32" },
  dwarf_diename: { parameters: ["pointer"], result: "pointer" },
  dwarf_attr: {
    parameters: ["pointer", "u32", "buffer"],
    result: "pointer",
  },
  dwarf_formudata: { parameters: ["pointer", "buffer"], result: "i32" },
  dwarf_getsrcfiles: {
    parameters: ["pointer", "buffer", "pointer"],
    result: "i32",
  },
  dwarf_filesrc: {
    parameters: ["pointer", "u64", "pointer", "pointer"],
    result: "pointer",
  },
} as const;

const LIBC = {
  free: { parameters: ["pointer"], result: "void" },
} as const;

const DW_TAG_inlined_subroutine = 0x1d;
const DW_TAG_subprogram = 0x2e;
const DW_AT_call_file = 0x58;
const DW_AT_call_line = 0x59;
const DIE_SIZE = 32; // sizeof(Dwarf_Die) on 64-bit
const MEMO_MAX = 65536; // remembered chains per file
const ATTR_SIZE = 24; // sizeof(Dwarf_Attribute) on 64-bit

type Callback = Deno.UnsafeCallback<{
  readonly parameters: readonly [
    "pointer",
    "pointer",
    "pointer",
    "u64",
    "pointer",
    "pointer",
  ];
  readonly result: "i32";
}>;

interface Lib {
  dw: Deno.DynamicLibrary<typeof LIBDW>["symbols"];
  libc: Deno.DynamicLibrary<typeof LIBC>["symbols"];
  callbacks: Uint8Array;
  keep: Callback[];
}

let lib: Lib | null | undefined;
let loadError = "";

/** The libdw.so.1 path tried, for messages. */
export const LIBDW_NAME = "libdw.so.1";

function load(): Lib | null {
  if (lib !== undefined) return lib;
  try {
    const dw = Deno.dlopen(LIBDW_NAME, LIBDW).symbols;
    const libc = Deno.dlopen("libc.so.6", LIBC).symbols;
    // find_elf and find_debuginfo: both "not found" (-1). We always hand
    // libdwfl an open fd of the file to use, so neither is needed, and with
    // these stubs libdwfl never looks anywhere else by itself.
    const none = (): Callback =>
      new Deno.UnsafeCallback(
        {
          parameters: [
            "pointer",
            "pointer",
            "pointer",
            "u64",
            "pointer",
            "pointer",
          ],
          result: "i32",
        } as const,
        () => -1,
      );
    const findElf = none(), findDebuginfo = none();
    const callbacks = new Uint8Array(32); // Dwfl_Callbacks: 4 pointers
    const v = new BigUint64Array(callbacks.buffer);
    v[0] = BigInt(Deno.UnsafePointer.value(findElf.pointer));
    v[1] = BigInt(Deno.UnsafePointer.value(findDebuginfo.pointer));
    lib = { dw, libc, callbacks, keep: [findElf, findDebuginfo] };
  } catch (err) {
    loadError = (err as Error).message;
    lib = null;
  }
  return lib;
}

/**
 * Whether libdw.so.1 can be loaded here (and why not, if not).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { libdwAvailable } from "./libdw.ts";
 * const { ok, reason } = libdwAvailable();
 * assert.ok(ok || reason.length > 0);
 * ```
 */
export function libdwAvailable(): { ok: boolean; reason: string } {
  return load() ? { ok: true, reason: "" } : { ok: false, reason: loadError };
}

function cstr(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0");
}

function readCString(p: Deno.PointerValue): string | undefined {
  return p === null ? undefined : Deno.UnsafePointerView.getCString(p);
}

/** One frame of an inline chain: a function and where it stands in the source. */
export interface SourceFrame {
  name: string;
  file?: string;
  line?: number;
}

/**
 * One ELF file opened with libdwfl, queried by ELF virtual address.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { DwarfFile } from "./libdw.ts";
 * import { ElfFile } from "./elf_file.ts";
 * import { SymbolTable } from "./symbol_table.ts";
 * import { closeFd, fdSource, openFd } from "./raw_fd.ts";
 * const path = "/usr/lib/x86_64-linux-gnu/libc.so.6";
 * const fd = openFd(path);
 * const { table } = SymbolTable.fromElf(ElfFile.parse(fdSource(fd, path)));
 * const malloc = table.findByName("malloc")!;
 * const f = DwarfFile.open(path, fd);
 * closeFd(fd); // libdwfl has its own dup
 * try {
 *   assert.strictEqual(f.addrName(malloc.start + 1), "malloc");
 * } finally {
 *   f.close();
 * }
 * ```
 */
export class DwarfFile {
  private readonly out8 = new BigUint64Array(1);
  private readonly outSym = new Uint8Array(24);
  private readonly outShndx = new Uint32Array(1);
  private readonly outElf = new BigUint64Array(1);
  private readonly outBias = new BigUint64Array(1);
  private readonly outLine = new Int32Array(1);
  private readonly outCol = new Int32Array(1);
  private readonly outScopes = new BigUint64Array(1);
  private readonly die = new Uint8Array(DIE_SIZE);
  private readonly attr = new Uint8Array(ATTR_SIZE);
  private readonly word = new BigUint64Array(1);
  private closed = false;
  private readonly memo = new Map<number, SourceFrame[]>();
  private memoBytes = 0;

  private constructor(
    private readonly lib: Lib,
    private readonly dwfl: Deno.PointerObject,
    private readonly mod: Deno.PointerObject,
    /** The path reported to libdwfl. */
    readonly path: string,
  ) {}

  /**
   * Opens `path` with libdwfl, or, when `fd` is given, the file open on that
   * fd (e.g. a /proc/PID/map_files handle of a deleted binary; libdwfl gets a
   * dup of it and the caller's fd stays theirs). Throws LibdwError if libdw
   * is missing or cannot use the file.
   */
  static open(path: string, fd?: number): DwarfFile {
    const l = load();
    if (!l) throw new LibdwError("dlopen", LIBDW_NAME, loadError);
    const err = (call: string) =>
      new LibdwError(
        call,
        path,
        readCString(l.dw.dwfl_errmsg(-1)) ?? "unknown error",
      );
    let own: number;
    try {
      own = fd === undefined ? openFd(path) : dupFd(fd);
    } catch (e) {
      throw new LibdwError("open", path, (e as Error).message);
    }
    const dwfl = l.dw.dwfl_begin(l.callbacks);
    if (dwfl === null) {
      closeFd(own);
      throw err("dwfl_begin");
    }
    l.dw.dwfl_report_begin(dwfl);
    // libdwfl owns `own` from here on: dwfl_end closes it.
    const mod = l.dw.dwfl_report_elf(
      dwfl,
      cstr(path),
      cstr(path),
      own,
      0n,
      false,
    );
    if (mod === null) {
      const e = err("dwfl_report_elf");
      l.dw.dwfl_end(dwfl);
      throw e;
    }
    l.dw.dwfl_report_end(dwfl, null, null);
    return new DwarfFile(l, dwfl, mod, path);
  }

  /** dwfl_module_addrinfo: the symbol name libdwfl gives for `vaddr`. */
  addrName(vaddr: number): string | undefined {
    const p = this.lib.dw.dwfl_module_addrinfo(
      this.mod,
      BigInt(vaddr),
      this.out8,
      this.outSym,
      this.outShndx,
      this.outElf,
      this.outBias,
    );
    return readCString(p);
  }

  /** Source file and line of `vaddr` (dwfl_module_getsrc + dwfl_lineinfo). */
  source(vaddr: number): { file: string; line: number } | undefined {
    const line = this.lib.dw.dwfl_module_getsrc(this.mod, BigInt(vaddr));
    if (line === null) return undefined;
    const file = readCString(
      this.lib.dw.dwfl_lineinfo(
        line,
        this.out8,
        this.outLine,
        this.outCol,
        this.word,
        this.word,
      ),
    );
    if (file === undefined) return undefined;
    return { file, line: this.outLine[0] };
  }

  /**
   * The inline chain at `vaddr`, innermost first: element 0 is the function
   * whose code is at `vaddr` (inlined or not) with the line of `vaddr`; each
   * next one is the function it was inlined into, with the line of the
   * inlined call. The last is the real (out-of-line) function. Empty when
   * there is no DWARF for `vaddr`. This is what `eu-addr2line -f -i` prints.
   */
  inlineChain(vaddr: number): SourceFrame[] {
    // Profiles hit the same addresses again and again, and a cold look-up
    // costs tens of µs (dwarf_getscopes walks the CU's DIEs): remember them.
    let chain = this.memo.get(vaddr);
    if (chain === undefined) {
      if (this.memo.size >= MEMO_MAX) this.memo.clear();
      chain = this.computeChain(vaddr);
      this.memo.set(vaddr, chain);
      this.memoBytes += 64 + chain.length * 96;
    }
    return chain;
  }

  /** Memory held by remembered chains (approximate). */
  get cacheBytes(): number {
    return this.memoBytes;
  }

  private computeChain(vaddr: number): SourceFrame[] {
    const dw = this.lib.dw;
    // No function scope (e.g. an empty function whose DWARF range is empty)
    // but a line: one frame named by the ELF symbol, as eu-addr2line does.
    const lineOnly = (): SourceFrame[] => {
      const src = this.source(vaddr);
      return src ? [{ name: this.addrName(vaddr) ?? "??", ...src }] : [];
    };
    const cu = dw.dwfl_module_addrdie(this.mod, BigInt(vaddr), this.outBias);
    if (cu === null) return lineOnly();
    const pc = BigInt(vaddr) - this.outBias[0];
    const n = dw.dwarf_getscopes(cu, pc, this.outScopes);
    if (n <= 0) return lineOnly();
    let scopes = Deno.UnsafePointer.create(this.outScopes[0]);
    if (scopes === null) return lineOnly();
    // No inlined instance among the scopes (most addresses): the chain is
    // the one function, and the second walk below is not needed.
    for (let i = 0; i < n; i++) {
      const t = dw.dwarf_tag(Deno.UnsafePointer.offset(scopes, i * DIE_SIZE));
      if (t === DW_TAG_inlined_subroutine) break;
      if (t === DW_TAG_subprogram) {
        const name = readCString(
          dw.dwarf_diename(Deno.UnsafePointer.offset(scopes, i * DIE_SIZE)),
        ) ?? "??";
        this.lib.libc.free(scopes);
        const src = this.source(vaddr);
        return [{ name, ...src }];
      }
    }
    // Inlined code: re-derive the scopes from the innermost DIE with
    // dwarf_getscopes_die, which (unlike dwarf_getscopes) follows the
    // abstract origins of inlined instances: the same two steps eu-addr2line
    // takes.
    const innerOff = dw.dwarf_dieoffset(scopes);
    this.lib.libc.free(scopes);
    const dwarf = dw.dwfl_module_getdwarf(this.mod, this.outBias);
    if (dwarf === null) return [];
    if (dw.dwarf_offdie(dwarf, innerOff, this.die) === null) return [];
    const m = dw.dwarf_getscopes_die(
      Deno.UnsafePointer.of(this.die),
      this.outScopes,
    );
    if (m <= 0) return lineOnly();
    scopes = Deno.UnsafePointer.create(this.outScopes[0]);
    if (scopes === null) return lineOnly();
    try {
      const at = (i: number) =>
        Deno.UnsafePointer.offset(scopes!, i * DIE_SIZE);
      const src = this.source(vaddr);
      // The innermost function: the first scope that is one (scopes[0] may
      // be a lexical block, which has no name).
      let k = 0;
      while (k < m) {
        const t = dw.dwarf_tag(at(k));
        if (t === DW_TAG_subprogram || t === DW_TAG_inlined_subroutine) break;
        k++;
      }
      if (k >= m) return lineOnly();
      const first = readCString(dw.dwarf_diename(at(k))) ?? "??";
      const out: SourceFrame[] = [{ name: first, ...src }];
      const filesOut = new BigUint64Array(1);
      const haveFiles = dw.dwarf_getsrcfiles(cu, filesOut, null) === 0;
      const files = haveFiles ? Deno.UnsafePointer.create(filesOut[0]) : null;
      for (let i = k; i < m - 1; i++) {
        const die = at(i);
        if (dw.dwarf_tag(die) !== DW_TAG_inlined_subroutine) continue;
        // The caller: the next enclosing subprogram or inlined instance
        // (lexical blocks in between have no name).
        let j = i + 1;
        while (j < m) {
          const t = dw.dwarf_tag(at(j));
          if (t === DW_TAG_subprogram || t === DW_TAG_inlined_subroutine) break;
          j++;
        }
        if (j >= m) break;
        const frame: SourceFrame = {
          name: readCString(dw.dwarf_diename(at(j))) ?? "??",
        };
        if (
          files !== null &&
          dw.dwarf_formudata(
              dw.dwarf_attr(die, DW_AT_call_file, this.attr),
              this.word,
            ) === 0
        ) {
          const f = readCString(
            dw.dwarf_filesrc(files, this.word[0], null, null),
          );
          if (f !== undefined) frame.file = f;
        }
        if (
          dw.dwarf_formudata(
            dw.dwarf_attr(die, DW_AT_call_line, this.attr),
            this.word,
          ) === 0
        ) frame.line = Number(this.word[0]);
        out.push(frame);
      }
      return out;
    } finally {
      this.lib.libc.free(scopes);
    }
  }

  /** Ends the libdwfl session (and closes its file). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.lib.dw.dwfl_end(this.dwfl);
  }
}
