/**
 * A small ELF64 reader: the file header, program headers (PT_LOAD for the
 * load bias, PT_NOTE for the build id), section headers, `.gnu_debuglink`,
 * and raw section bytes. Only what symbolization needs; every offset and size
 * is checked against the file so a corrupt or truncated file raises an
 * ElfFormatError instead of reading garbage.
 *
 * Values are JS numbers: user-space virtual addresses and file offsets are
 * below 2^53, so they are exact (kernel addresses never come through here).
 *
 * @module
 */
import type { ByteSource } from "./byte_source.ts";
import { ElfFormatError, FileReadError } from "./errors.ts";

/** e_type values. */
export const ET_EXEC = 2;
/** e_type of PIE executables and shared libraries (and the vDSO). */
export const ET_DYN = 3;
/** p_type of a loadable segment. */
export const PT_LOAD = 1;
/** p_type of a note segment. */
export const PT_NOTE = 4;
/** sh_type values used here. */
export const SHT_SYMTAB = 2;
/** sh_type of .dynsym. */
export const SHT_DYNSYM = 11;
/** sh_type of note sections. */
export const SHT_NOTE = 7;
/** sh_type of sections without file bytes (.bss, stripped .text in debug files). */
export const SHT_NOBITS = 8;
/** p_flags bit: executable segment. */
export const PF_X = 1;
/** sh_flags bit: the section holds code. */
export const SHF_EXECINSTR = 4;
/** st_info type of a function symbol. */
export const STT_FUNC = 2;
/** st_info type of a GNU indirect function (the resolver's own code). */
export const STT_GNU_IFUNC = 10;
/** st_info binding of a global symbol. */
export const STB_GLOBAL = 1;
/** st_info binding of a weak symbol. */
export const STB_WEAK = 2;
/** st_shndx from here up is no section (SHN_ABS, SHN_COMMON...). */
export const SHN_LORESERVE = 0xff00;
/** Size of one symbol table entry (Elf64_Sym). */
export const SYM_SIZE = 24;

/** One program header (Elf64_Phdr). */
export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

/** One section header (Elf64_Shdr), with its name resolved. */
export interface SectionHeader {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

/** What `.gnu_debuglink` says: the debug file's base name and its CRC32. */
export interface DebugLink {
  file: string;
  crc: number;
}

const HEADER_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const NT_GNU_BUILD_ID = 3;
// Section tables beyond this many entries are not real files (a corrupt
// e_shnum would otherwise make us allocate gigabytes).
const MAX_SECTIONS = 65536;
const MAX_SEGMENTS = 4096;

/**
 * Reads a little-endian u64 as a number (exact below 2^53).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { u64 } from "./elf_file.ts";
 * const v = new DataView(new BigUint64Array([0x7fff12345678n]).buffer);
 * assert.strictEqual(u64(v, 0), 0x7fff12345678);
 * ```
 */
export function u64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 4294967296;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/**
 * The NUL-terminated string at `at` in `bytes` (empty when out of range).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { cString } from "./elf_file.ts";
 * const strtab = new TextEncoder().encode("\0main\0hot_alpha\0");
 * assert.strictEqual(cString(strtab, 6), "hot_alpha");
 * assert.strictEqual(cString(strtab, 99), "");
 * ```
 */
export function cString(bytes: Uint8Array, at: number): string {
  if (at < 0 || at >= bytes.length) return "";
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  const s = bytes.subarray(at, end);
  // Symbol names are ASCII in practice; latin1 decoding is ~3x faster than
  // UTF-8 and exact for ASCII, so UTF-8 only when a high bit is set.
  for (let i = 0; i < s.length; i++) {
    if (s[i] >= 0x80) return utf8.decode(s);
  }
  return latin1.decode(s);
}

/**
 * A parsed ELF64 little-endian file (x86_64, aarch64, ...).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ElfFile, ET_DYN, PT_LOAD } from "./elf_file.ts";
 * import { fileSource } from "./byte_source.ts";
 * const f = Deno.openSync("/usr/lib/x86_64-linux-gnu/libc.so.6");
 * try {
 *   const elf = ElfFile.parse(fileSource(f, "libc.so.6"));
 *   assert.strictEqual(elf.type, ET_DYN);
 *   assert.ok(elf.segments.some((p) => p.type === PT_LOAD));
 *   assert.match(elf.buildId() ?? "", /^[0-9a-f]{40}$/);
 *   assert.ok(elf.section(".dynsym"));
 * } finally {
 *   f.close();
 * }
 * ```
 */
export class ElfFile {
  /** e_type: ET_EXEC (non-PIE executable) or ET_DYN (PIE, .so, vDSO). */
  readonly type: number;
  /** e_machine (62 = x86_64, 183 = aarch64). */
  readonly machine: number;
  /** The program headers. */
  readonly segments: ProgramHeader[];
  /** The section headers (empty when the section table is stripped). */
  readonly sections: SectionHeader[];

  private constructor(
    readonly source: ByteSource,
    type: number,
    machine: number,
    segments: ProgramHeader[],
    sections: SectionHeader[],
  ) {
    this.type = type;
    this.machine = machine;
    this.segments = segments;
    this.sections = sections;
  }

  /** Parses the headers of `src`; throws ElfFormatError if it is not usable. */
  static parse(src: ByteSource): ElfFile {
    const bad = (offset: number, reason: string) =>
      new ElfFormatError(src.name, offset, reason);
    const read = (offset: number, length: number, what: string) => {
      if (offset < 0 || length < 0 || offset + length > src.size) {
        throw bad(
          offset,
          `${what} (${length} bytes) lies outside the file (${src.size} bytes)`,
        );
      }
      try {
        return src.read(offset, length);
      } catch (err) {
        if (err instanceof FileReadError) throw bad(offset, err.message);
        throw err;
      }
    };
    if (src.size < HEADER_SIZE) throw bad(0, `file too small (${src.size})`);
    const h = read(0, HEADER_SIZE, "ELF header");
    if (h[0] !== 0x7f || h[1] !== 0x45 || h[2] !== 0x4c || h[3] !== 0x46) {
      throw bad(0, "bad magic");
    }
    if (h[4] !== 2) throw bad(4, `ELF class ${h[4]} (only ELF64 is read)`);
    if (h[5] !== 1) throw bad(5, "big-endian ELF is not supported");
    const hv = new DataView(h.buffer, h.byteOffset, h.length);
    const type = hv.getUint16(16, true);
    const machine = hv.getUint16(18, true);
    const phoff = u64(hv, 32);
    const shoff = u64(hv, 40);
    const phentsize = hv.getUint16(54, true);
    const phnum = hv.getUint16(56, true);
    const shentsize = hv.getUint16(58, true);
    let shnum = hv.getUint16(60, true);
    let shstrndx = hv.getUint16(62, true);

    const segments: ProgramHeader[] = [];
    if (phnum > 0) {
      if (phentsize < PHDR_SIZE) throw bad(54, `e_phentsize ${phentsize}`);
      if (phnum > MAX_SEGMENTS) throw bad(56, `e_phnum ${phnum}`);
      const ph = read(phoff, phnum * phentsize, "program header table");
      const pv = new DataView(ph.buffer, ph.byteOffset, ph.length);
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        segments.push({
          type: pv.getUint32(o, true),
          flags: pv.getUint32(o + 4, true),
          offset: u64(pv, o + 8),
          vaddr: u64(pv, o + 16),
          filesz: u64(pv, o + 32),
          memsz: u64(pv, o + 40),
          align: u64(pv, o + 48),
        });
      }
    }

    const sections: SectionHeader[] = [];
    if (shoff !== 0) {
      if (shentsize < SHDR_SIZE) throw bad(58, `e_shentsize ${shentsize}`);
      // Extended numbering: the real counts live in section header 0.
      if (shnum === 0 || shstrndx === 0xffff) {
        const s0 = read(shoff, SHDR_SIZE, "section header 0");
        const v0 = new DataView(s0.buffer, s0.byteOffset, s0.length);
        if (shnum === 0) shnum = u64(v0, 32);
        if (shstrndx === 0xffff) shstrndx = v0.getUint32(40, true);
      }
      if (shnum > MAX_SECTIONS) throw bad(60, `e_shnum ${shnum}`);
      const sh = read(shoff, shnum * shentsize, "section header table");
      const sv = new DataView(sh.buffer, sh.byteOffset, sh.length);
      const raw: Omit<SectionHeader, "name">[] = [];
      const nameOffsets: number[] = [];
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        nameOffsets.push(sv.getUint32(o, true));
        raw.push({
          index: i,
          type: sv.getUint32(o + 4, true),
          flags: u64(sv, o + 8),
          addr: u64(sv, o + 16),
          offset: u64(sv, o + 24),
          size: u64(sv, o + 32),
          link: sv.getUint32(o + 40, true),
          info: sv.getUint32(o + 44, true),
          entsize: u64(sv, o + 56),
        });
      }
      let names: Uint8Array = new Uint8Array(0);
      if (shstrndx > 0 && shstrndx < shnum) {
        const s = raw[shstrndx];
        if (s.type !== SHT_NOBITS) {
          names = read(s.offset, s.size, "section name table");
        }
      }
      for (let i = 0; i < shnum; i++) {
        sections.push({ ...raw[i], name: cString(names, nameOffsets[i]) });
      }
    }
    return new ElfFile(src, type, machine, segments, sections);
  }

  /** The first section called `name`, if any. */
  section(name: string): SectionHeader | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The file bytes of a section (empty for SHT_NOBITS). */
  sectionData(s: SectionHeader): Uint8Array {
    if (s.type === SHT_NOBITS || s.size === 0) return new Uint8Array(0);
    if (s.offset + s.size > this.source.size) {
      throw new ElfFormatError(
        this.source.name,
        s.offset,
        `section ${s.name || s.index} (${s.size} bytes) lies outside the file`,
      );
    }
    return this.source.read(s.offset, s.size);
  }

  /** The PT_LOAD segments, in file order. */
  loadSegments(): ProgramHeader[] {
    return this.segments.filter((p) => p.type === PT_LOAD);
  }

  /**
   * The GNU build id as lowercase hex, from a PT_NOTE segment or, in files
   * without program headers (some debug files), a note section.
   */
  buildId(): string | undefined {
    const areas: { offset: number; size: number }[] = [];
    for (const p of this.segments) {
      if (p.type === PT_NOTE) areas.push({ offset: p.offset, size: p.filesz });
    }
    for (const s of this.sections) {
      if (s.type === SHT_NOTE) areas.push({ offset: s.offset, size: s.size });
    }
    for (const a of areas) {
      if (a.size === 0 || a.offset + a.size > this.source.size) continue;
      const id = findBuildIdNote(this.source.read(a.offset, a.size));
      if (id) return id;
    }
    return undefined;
  }

  /** The `.gnu_debuglink` section's file name and CRC32, if present. */
  debugLink(): DebugLink | undefined {
    const s = this.section(".gnu_debuglink");
    if (!s || s.type === SHT_NOBITS) return undefined;
    const d = this.sectionData(s);
    const nul = d.indexOf(0);
    if (nul <= 0) return undefined;
    const crcAt = (nul + 4) & ~3;
    if (crcAt + 4 > d.length) return undefined;
    const file = cString(d, 0);
    const crc = new DataView(d.buffer, d.byteOffset, d.length).getUint32(
      crcAt,
      true,
    );
    return { file, crc };
  }
}

/**
 * The NT_GNU_BUILD_ID in a block of ELF notes, as hex.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { findBuildIdNote } from "./elf_file.ts";
 * // namesz 4, descsz 2, type 3, "GNU\0", desc ab cd (padded to 4)
 * const note = new Uint8Array([4, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0,
 *   0x47, 0x4e, 0x55, 0, 0xab, 0xcd, 0, 0]);
 * assert.strictEqual(findBuildIdNote(note), "abcd");
 * ```
 */
export function findBuildIdNote(notes: Uint8Array): string | undefined {
  const v = new DataView(notes.buffer, notes.byteOffset, notes.length);
  let at = 0;
  while (at + 12 <= notes.length) {
    const namesz = v.getUint32(at, true);
    const descsz = v.getUint32(at + 4, true);
    const type = v.getUint32(at + 8, true);
    const nameAt = at + 12;
    const descAt = nameAt + ((namesz + 3) & ~3);
    const next = descAt + ((descsz + 3) & ~3);
    if (next > notes.length || next <= at) return undefined;
    if (
      type === NT_GNU_BUILD_ID && namesz === 4 && notes[nameAt] === 0x47 &&
      notes[nameAt + 1] === 0x4e && notes[nameAt + 2] === 0x55 &&
      notes[nameAt + 3] === 0
    ) {
      let hex = "";
      for (let i = 0; i < descsz; i++) {
        hex += notes[descAt + i].toString(16).padStart(2, "0");
      }
      return hex;
    }
    at = next;
  }
  return undefined;
}
