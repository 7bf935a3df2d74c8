/**
 * BPF objects that go wrong in known ways, made from the real one, for the
 * error-path tests on the host and in VM guests.
 *
 * @module
 */
import { withTempDir } from "../temp_dir.ts";
import { ROOT } from "./require_bpf.ts";

/** The real profiler object built by `make build-ebpf`. */
export const BPF_OBJECT = `${ROOT}ebpf/build/profiler.bpf.o`;

/** Finds a section's file offset in a 64-bit little-endian ELF. */
export function elfSection(
  elf: Uint8Array,
  name: string,
): { offset: number; size: number } {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const sh = (i: number) => shoff + i * shentsize;
  const strOff = Number(v.getBigUint64(sh(shstrndx) + 0x18, true));
  for (let i = 0; i < shnum; i++) {
    const nameOff = v.getUint32(sh(i), true);
    let end = strOff + nameOff;
    while (elf[end] !== 0) end++;
    if (
      new TextDecoder().decode(elf.subarray(strOff + nameOff, end)) === name
    ) {
      return {
        offset: Number(v.getBigUint64(sh(i) + 0x18, true)),
        size: Number(v.getBigUint64(sh(i) + 0x20, true)),
      };
    }
  }
  throw new Error(`no section ${name}`);
}

/**
 * Writes `dir/profiler.bpf.o`: the real object with the program's first
 * instruction replaced by an opcode that does not exist. A valid ELF that
 * libbpf opens and every kernel's verifier refuses at load time.
 */
export async function writeRejectedObject(dir: string): Promise<void> {
  const elf = await Deno.readFile(BPF_OBJECT);
  const prog = elfSection(elf, "perf_event");
  if (prog.size < 8) throw new Error("program section is empty");
  elf[prog.offset] = 0xff;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/profiler.bpf.o`, elf);
}

/**
 * Runs `fn` with a temporary folder holding the verifier-rejected
 * `profiler.bpf.o` of {@link writeRejectedObject}; removes it afterwards.
 */
export function withRejectedObject<T>(
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  return withTempDir(async (dir) => {
    await writeRejectedObject(dir);
    return await fn(dir);
  });
}
