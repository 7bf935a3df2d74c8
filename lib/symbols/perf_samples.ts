/**
 * Test support: samples a running process with `perf record -g` and reads
 * back, per sample, the raw addresses of its call chain with the names perf
 * gave them, so the symbolizer's answers can be checked against perf's for
 * the very same addresses.
 *
 * perf script prints call-chain addresses map-relative (`ip - start +
 * pgoff` of the mapping, for files); raw addresses are recovered from the
 * mmap events perf itself recorded (`--show-mmap-events`), so the check
 * does not rely on the symbolizer's own reading of /proc/PID/maps. Kernel
 * addresses and JIT addresses (dso /tmp/perf-PID.map) are printed as they
 * are.
 *
 * @module
 */

/** One frame of a perf sample. */
export interface PerfFrame {
  /** The raw address (as bpf_get_stack would capture it). */
  address: bigint;
  /** perf's symbol, "[unknown]" when it had none. */
  sym: string;
  /** perf's dso: a path, "[kernel.kallsyms]", "[vdso]"... */
  dso: string;
  /** The address as perf printed it (map-relative for files). */
  printed: bigint;
}

interface Mmap {
  start: bigint;
  len: bigint;
  pgoff: bigint;
  file: string;
}

const MMAP =
  /PERF_RECORD_MMAP2? (\d+)\/\d+: \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ (0x[0-9a-f]+|0)[^\]]*\]: \S+ (.*)$/;
const FRAME = /^\s+([0-9a-f]+) (.*) \((.*)\)$/;

/**
 * Parses `perf script -F ip,sym,dso --show-mmap-events` output into samples
 * (each a list of frames, sampled IP first).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parsePerfScript } from "./perf_samples.ts";
 * const text = [
 *   "PERF_RECORD_MMAP2 7/7: [0x5000(0x1000) @ 0x1000 fe:00 1 2]: r-xp /bin/x",
 *   "",
 *   "\t            1410 hot (/bin/x)",
 *   "\tffffffff81000010 do_x ([kernel.kallsyms])",
 *   "",
 * ].join("\n");
 * const [sample] = parsePerfScript(text);
 * assert.strictEqual(sample[0].address, 0x5410n);
 * assert.strictEqual(sample[1].address, 0xffffffff81000010n);
 * ```
 */
export function parsePerfScript(text: string): PerfFrame[][] {
  const mmaps: Mmap[] = [];
  const samples: PerfFrame[][] = [];
  let cur: PerfFrame[] = [];
  const flush = () => {
    if (cur.length) samples.push(cur);
    cur = [];
  };
  for (const line of text.split("\n")) {
    const mm = MMAP.exec(line);
    if (mm) {
      mmaps.push({
        start: BigInt("0x" + mm[2]),
        len: BigInt("0x" + mm[3]),
        pgoff: BigInt(mm[4]),
        file: mm[5].trim(),
      });
      continue;
    }
    const fm = FRAME.exec(line);
    if (!fm) {
      if (line.trim() === "") flush();
      continue;
    }
    const rel = BigInt("0x" + fm[1]);
    const dso = fm[3];
    let address = rel;
    // Files and the vDSO are printed map-relative; the kernel, its modules
    // and "[unknown]" are printed as they are.
    const asIs = (/^\[.*\]$/.test(dso) && dso !== "[vdso]") ||
      /\/perf-\d+\.map$/.test(dso); // JIT code: perf maps it 1:1
    if (!asIs) {
      const m = mmaps.findLast((m) =>
        m.file === dso && rel >= m.pgoff && rel < m.pgoff + m.len
      );
      if (m) address = m.start + rel - m.pgoff;
      else continue; // no mmap event names it: cannot place it, skip
    }
    cur.push({ address, sym: fm[2], dso, printed: rel });
  }
  flush();
  return samples;
}

async function processAlive(pid: number): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Records `pid` for `seconds` with `perf record -e cpu-clock -F freq -g`
 * and returns its samples.
 *
 * @example
 * ```ts ignore
 * // ignore: needs perf, root and a running process.
 * const samples = await perfSamples(pid, 1);
 * ```
 */
export async function perfSamples(
  pid: number,
  seconds: number,
  freq = 999,
): Promise<PerfFrame[][]> {
  const data = Deno.makeTempFileSync({ suffix: ".perf.data" });
  try {
    // One perf record at a time (tests may run in parallel workers, and
    // concurrent sessions run out of perf's locked buffer memory: ENOMEM).
    const record = () =>
      new Deno.Command("flock", {
        args: [
          "/tmp/streamprof-perf-record.lock",
          "perf",
          "record",
          "-q",
          "-e",
          "cpu-clock",
          "-F",
          String(freq),
          "-g",
          "-p",
          String(pid),
          "-o",
          data,
          "--",
          "sleep",
          String(seconds),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    // On a busy shared machine a recording is now and then cut short (seen:
    // exit 143, SIGTERM from outside): one more try before failing.
    let rec = await record();
    if (!rec.success && (await processAlive(pid))) rec = await record();
    if (!rec.success) {
      throw new Error(
        `perf record -p ${pid} failed (exit ${rec.code}): ${
          new TextDecoder().decode(rec.stderr)
        }${new TextDecoder().decode(rec.stdout)}`,
      );
    }
    const script = await new Deno.Command("perf", {
      args: [
        "script",
        "-i",
        data,
        "-F",
        "ip,sym,dso",
        "--show-mmap-events",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!script.success) {
      throw new Error(
        `perf script failed: ${new TextDecoder().decode(script.stderr)}`,
      );
    }
    return parsePerfScript(new TextDecoder().decode(script.stdout));
  } finally {
    Deno.removeSync(data);
  }
}

/**
 * perfSamples for 1 s, repeated (up to `maxSeconds` in all) until at least
 * `min` samples were taken: a loaded machine gives a process fewer.
 *
 * @example
 * ```ts ignore
 * // ignore: needs perf, root and a running process.
 * const samples = await perfSamplesAtLeast(pid, 500);
 * ```
 */
export async function perfSamplesAtLeast(
  pid: number,
  min: number,
  maxSeconds = 5,
): Promise<PerfFrame[][]> {
  const samples = await perfSamples(pid, 1);
  for (let s = 1; s < maxSeconds && samples.length < min; s++) {
    samples.push(...await perfSamples(pid, 1));
  }
  return samples;
}
