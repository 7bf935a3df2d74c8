/**
 * JIT symbols from a perf map file (`/tmp/perf-PID.map`: lines `START SIZE
 * name`, hex, as written by `node --perf-basic-prof` and
 * `deno --v8-flags=--perf-basic-prof`).
 *
 * The file only grows while the process runs, so it is read incrementally:
 * `refresh()` reads from the byte offset where the last read stopped (a line
 * not yet ended waits for the next read) and parses only new lines; the
 * symbolizer calls it on a lookup miss. It is bounded: at most `maxEntries`
 * entries and `maxBytes` of memory are kept, at most `maxReadBytes` read per
 * refresh; lines past the bounds and malformed lines are counted, never
 * fatal. (The buffers grow by doubling, so `bytes` may reach about twice
 * what the entries need; the bound is checked against `bytes`.)
 *
 * When code is freed and its memory reused, a later line covers an earlier
 * one: the newest line containing an address wins, as in perf.
 *
 * @module
 */
import { closeFd, pread, tryOpenFd } from "./raw_fd.ts";

/** Bounds and counts of one perf map. */
export interface PerfMapStats {
  path: string;
  entries: number;
  malformed: number;
  /** Lines not kept because `maxEntries` was reached. */
  dropped: number;
  /** Bytes consumed so far (the offset of the next read). */
  offset: number;
  /** Times the file was found shorter than the offset (rewritten): re-read. */
  resets: number;
  /** Approximate memory held. */
  bytes: number;
  /** The last refresh could not open the file. */
  missing: boolean;
}

/** Options of a PerfMap. */
export interface PerfMapOptions {
  /** Most entries kept (default 1,000,000). */
  maxEntries?: number;
  /** Most memory held (default 32 MiB); lines past it are dropped, counted. */
  maxBytes?: number;
  /** Most bytes read in one refresh (default 64 MiB). */
  maxReadBytes?: number;
  /** Longest line accepted (default 4 KiB); longer lines are malformed. */
  maxLineBytes?: number;
  /**
   * Where to open the file, when not at `path` (e.g. /proc/self/fd/N of an
   * fd kept open so the map stays readable after its process and mount
   * namespace are gone). `path` is then only its name.
   */
  openPath?: string;
}

const CHUNK = 1 << 20;
const dec = new TextDecoder();

function hexField(b: Uint8Array, from: number, to: number): number {
  if (to - from > 2 && b[from] === 48 && (b[from + 1] | 32) === 120) from += 2;
  if (to <= from || to - from > 13) return NaN; // > 2^52: not a user address
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = b[i];
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if ((c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
    else return NaN;
    v = v * 16 + d;
  }
  return v;
}

/**
 * One perf map file, read incrementally.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { PerfMap } from "./perf_map.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "1000 10 JS:~foo file.js:1\nnot a line\n20");
 * const map = new PerfMap(path);
 * map.refresh();
 * assert.strictEqual(map.lookup(0x1008)?.name, "JS:~foo file.js:1");
 * assert.strictEqual(map.stats().malformed, 1);
 * // The unfinished last line is parsed once the writer ends it.
 * Deno.writeTextFileSync(path, "00 8 later\n", { append: true });
 * map.refresh();
 * assert.strictEqual(map.lookup(0x2004)?.name, "later");
 * Deno.removeSync(path);
 * ```
 */
export class PerfMap {
  private starts = new Float64Array(1024);
  private ends = new Float64Array(1024);
  // Names as UTF-8 bytes in one growing buffer (a JS string per entry would
  // take twice the bytes plus ~24 per object); decoded on lookup and cached.
  private nameBuf = new Uint8Array(1 << 16);
  private nameEnd = 0;
  private nameAt = new Uint32Array(1025);
  private decoded = new Map<number, string>();
  private count = 0;
  // Lookup index: entry numbers sorted by start, rebuilt after new lines.
  private order = new Uint32Array(0);
  private maxEnds = new Float64Array(0);
  private sortedCount = 0;
  private offset = 0;
  private malformed = 0;
  private dropped = 0;
  private resets = 0;
  private missing = false;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxReadBytes: number;
  private readonly maxLineBytes: number;
  private readonly openPath: string;

  constructor(readonly path: string, options: PerfMapOptions = {}) {
    this.maxEntries = options.maxEntries ?? 1_000_000;
    this.maxBytes = options.maxBytes ?? 32 << 20;
    this.maxReadBytes = options.maxReadBytes ?? 64 << 20;
    this.maxLineBytes = options.maxLineBytes ?? 4096;
    this.openPath = options.openPath ?? path;
  }

  /**
   * Reads and parses what was appended since the last call. Returns the
   * number of new entries. A missing file is not an error (the process may
   * not have written it yet): `stats().missing` says so.
   */
  refresh(): number {
    const fd = tryOpenFd(this.openPath);
    if (fd < 0) {
      this.missing = true;
      return 0;
    }
    this.missing = false;
    const before = this.count;
    try {
      const size = Deno.statSync(`/proc/self/fd/${fd}`).size;
      if (size < this.offset) {
        // Rewritten from scratch (a new process with a reused pid).
        this.resets++;
        this.clear();
      }
      const end = Math.min(size, this.offset + this.maxReadBytes);
      let carry: Uint8Array = new Uint8Array(0);
      let at = this.offset;
      // No bigger than what is new: most refreshes of a live map read a few
      // lines, and a 1 MiB buffer each time is garbage to collect.
      const buf = new Uint8Array(Math.min(CHUNK, Math.max(0, end - at)));
      while (at < end) {
        const n = pread(fd, buf.subarray(0, Math.min(CHUNK, end - at)), at);
        if (n <= 0) break;
        at += n;
        let chunk: Uint8Array = buf.subarray(0, n);
        if (carry.length > 0) {
          const joined = new Uint8Array(carry.length + n);
          joined.set(carry);
          joined.set(chunk, carry.length);
          chunk = joined;
        }
        const used = this.parseLines(chunk);
        carry = chunk.slice(used);
        if (carry.length > this.maxLineBytes) {
          // A "line" longer than any real one: skip up to its end.
          this.malformed++;
          const nl = carry.indexOf(10);
          carry = nl < 0 ? new Uint8Array(0) : carry.slice(nl + 1);
        }
      }
      this.offset = at - carry.length;
    } finally {
      closeFd(fd);
    }
    return this.count - before;
  }

  /** Parses the complete lines of `b`; returns the bytes consumed. */
  private parseLines(b: Uint8Array): number {
    let at = 0;
    for (;;) {
      const nl = b.indexOf(10, at);
      if (nl < 0) return at;
      this.parseLine(b, at, nl);
      at = nl + 1;
    }
  }

  private parseLine(b: Uint8Array, from: number, to: number): void {
    if (to === from) return;
    if (to - from > this.maxLineBytes) {
      this.malformed++;
      return;
    }
    const s1 = b.indexOf(32, from);
    const s2 = s1 < 0 || s1 >= to ? -1 : b.indexOf(32, s1 + 1);
    if (s1 < 0 || s2 < 0 || s2 >= to - 1) {
      this.malformed++;
      return;
    }
    const start = hexField(b, from, s1);
    const size = hexField(b, s1 + 1, s2);
    if (!Number.isFinite(start) || !Number.isFinite(size)) {
      this.malformed++;
      return;
    }
    if (this.count >= this.maxEntries) {
      this.dropped++;
      return;
    }
    let end = to;
    if (b[end - 1] === 13) end--; // CRLF
    const len = end - (s2 + 1);
    // The memory this entry would bring us to, growth by doubling and the
    // lookup index (12 bytes per entry, built later) included.
    const cap = this.count < this.starts.length
      ? this.starts.length
      : this.starts.length * 2;
    const nameCap = this.nameEnd + len <= this.nameBuf.length
      ? this.nameBuf.length
      : Math.max(this.nameBuf.length * 2, this.nameEnd + len);
    const atCap = this.count + 1 < this.nameAt.length
      ? this.nameAt.length
      : this.nameAt.length * 2;
    if (
      cap * 16 + atCap * 4 + nameCap + (this.count + 1) * 12 + 64 +
          this.decoded.size * 64 > this.maxBytes
    ) {
      this.dropped++;
      return;
    }
    if (this.count === this.starts.length) {
      const grow = (a: Float64Array) => {
        const g = new Float64Array(a.length * 2);
        g.set(a);
        return g;
      };
      this.starts = grow(this.starts);
      this.ends = grow(this.ends);
    }
    if (this.nameEnd + len > this.nameBuf.length) {
      const g = new Uint8Array(
        Math.max(this.nameBuf.length * 2, this.nameEnd + len),
      );
      g.set(this.nameBuf.subarray(0, this.nameEnd));
      this.nameBuf = g;
    }
    if (this.count + 1 >= this.nameAt.length) {
      const g = new Uint32Array(this.nameAt.length * 2);
      g.set(this.nameAt);
      this.nameAt = g;
    }
    this.nameBuf.set(b.subarray(s2 + 1, end), this.nameEnd);
    this.nameAt[this.count] = this.nameEnd;
    this.nameEnd += len;
    this.nameAt[this.count + 1] = this.nameEnd;
    this.starts[this.count] = start;
    this.ends[this.count] = start + Math.max(size, 1);
    this.count++;
  }

  private clear(): void {
    this.count = 0;
    this.nameEnd = 0;
    this.decoded.clear();
    this.offset = 0;
    this.sortedCount = 0;
    this.order = new Uint32Array(0);
    this.maxEnds = new Float64Array(0);
  }

  private index(): void {
    if (this.sortedCount === this.count) return;
    const n = this.count;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const starts = this.starts;
    order.sort((x, y) => starts[x] - starts[y] || x - y);
    const maxEnds = new Float64Array(n);
    let m = 0;
    for (let k = 0; k < n; k++) {
      m = Math.max(m, this.ends[order[k]]);
      maxEnds[k] = m;
    }
    this.order = order;
    this.maxEnds = maxEnds;
    this.sortedCount = n;
  }

  /** The newest entry containing `addr` among those read so far. */
  lookup(
    addr: number,
  ): { name: string; start: number; end: number } | undefined {
    this.index();
    const order = this.order, starts = this.starts;
    let lo = 0, hi = this.sortedCount - 1, k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[order[mid]] <= addr) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    let best = -1;
    // Entries that start at or before addr and still reach past it; the
    // prefix maximum of ends stops the walk as soon as none can.
    // Bounded, so one huge bogus entry cannot make every lookup linear.
    for (
      let steps = 0;
      k >= 0 && this.maxEnds[k] > addr && steps < 256;
      k--, steps++
    ) {
      const i = order[k];
      if (this.ends[i] > addr && i > best) best = i;
    }
    return best < 0 ? undefined : {
      name: this.name(best),
      start: this.starts[best],
      end: this.ends[best],
    };
  }

  private name(i: number): string {
    let s = this.decoded.get(i);
    if (s === undefined) {
      s = dec.decode(this.nameBuf.subarray(this.nameAt[i], this.nameAt[i + 1]));
      // Only names that were looked up are kept decoded; bounded anyway.
      if (this.decoded.size < 65536) this.decoded.set(i, s);
    }
    return s;
  }

  /** Counts and memory. */
  stats(): PerfMapStats {
    return {
      path: this.path,
      entries: this.count,
      malformed: this.malformed,
      dropped: this.dropped,
      offset: this.offset,
      resets: this.resets,
      bytes: this.bytes,
      missing: this.missing,
    };
  }

  /** Approximate memory held, in bytes. */
  get bytes(): number {
    return this.starts.length * 16 + this.nameAt.length * 4 +
      Math.max(this.order.length, this.count) * 12 + this.nameBuf.length +
      this.decoded.size * 64 + 64;
  }
}
