/**
 * The agent's bounded spool: intervals waiting to be delivered, oldest
 * first, in memory and then on disk, never more than the stated bounds.
 *
 * - New intervals go to memory. When memory holds more than its bound, the
 *   oldest memory entries move to the spool folder (if there is one); when
 *   the folder holds more than its bound, or there is no folder, the oldest
 *   entry is dropped and counted. Nothing is ever dropped silently.
 * - On disk an entry is two files written atomically: `<seq>.pprof.gz`
 *   then `<seq>.json` (its metadata, the commit marker), so a crash leaves
 *   either a whole entry or an orphan body, which the next start removes.
 * - A new agent loads what a previous one left in the folder and sends it
 *   first: Ctrl-C with a non-empty spool loses nothing that reached disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { Spool } from "./spool.ts";
 * const spool = new Spool({ memoryBytes: 10 });
 * spool.push({ name: "a", labels: {}, fromMs: 0, untilMs: 1, samples: 1 }, new Uint8Array(6));
 * spool.push({ name: "a", labels: {}, fromMs: 1, untilMs: 2, samples: 1 }, new Uint8Array(6));
 * // 12 bytes > 10 and no folder: the oldest is dropped, and counted.
 * assert.equal(spool.depth().entries, 1);
 * assert.equal(spool.counters.dropped, 1);
 * assert.equal((await spool.oldest())!.entry.meta.fromMs, 1);
 * ```
 * @module
 */
import { writeFileAtomic } from "../common/output_file.ts";

/** What an interval is, for the push and for the record. */
export interface IntervalMeta {
  /** The application name (Pyroscope's service_name). */
  name: string;
  /** Series labels (hostname, arch, kernel, ...). */
  labels: Record<string, string>;
  /** Interval start, ms since the epoch. */
  fromMs: number;
  /** Interval end, ms since the epoch. */
  untilMs: number;
  /** Samples in the profile. */
  samples: number;
}

/** One queued interval. */
export interface SpoolEntry {
  /** Monotonic sequence number: the order of delivery. */
  seq: number;
  meta: IntervalMeta;
  /** Body bytes (the gzipped pprof). */
  bytes: number;
  /** Delivery attempts so far. */
  attempts: number;
  /** Where it is. */
  where: "memory" | "disk";
  /**
   * When the server acknowledged it (ms, performance.now()): it stays in the
   * spool until the server is seen to hold it (see delivery.ts).
   */
  pushedAt?: number;
  /** Times the server was asked for it after the acknowledgement. */
  confirmChecks?: number;
}

/** Bounds and place of the spool. */
export interface SpoolOptions {
  /** Bytes of bodies held in memory (default 16 MiB). */
  memoryBytes?: number;
  /** Folder for the overflow and for what is left at exit (none: no disk). */
  dir?: string;
  /** Bytes of bodies held in the folder (default 256 MiB). */
  diskBytes?: number;
}

/** Exact counts of what the spool did. */
export interface SpoolCounters {
  /** Intervals queued. */
  queued: number;
  /** Intervals moved from memory to disk. */
  spooledToDisk: number;
  /** Intervals dropped because a bound was hit (oldest first). */
  dropped: number;
  /** Intervals loaded from the folder at start (left by an earlier run). */
  recovered: number;
  /** Intervals removed after delivery (or rejection). */
  removed: number;
}

interface MemoryEntry extends SpoolEntry {
  body: Uint8Array;
}

/** The spool. */
export class Spool {
  readonly #memoryBound: number;
  readonly #diskBound: number;
  readonly #dir?: string;
  // Oldest first, disk entries always older than memory entries.
  readonly #disk: SpoolEntry[] = [];
  readonly #memory: MemoryEntry[] = [];
  #memoryUsed = 0;
  #diskUsed = 0;
  #seq = 0;
  /** Exact counters. */
  readonly counters: SpoolCounters = {
    queued: 0,
    spooledToDisk: 0,
    dropped: 0,
    recovered: 0,
    removed: 0,
  };

  constructor(o: SpoolOptions = {}) {
    this.#memoryBound = o.memoryBytes ?? 16 << 20;
    this.#diskBound = o.diskBytes ?? 256 << 20;
    this.#dir = o.dir;
  }

  /** Loads what an earlier run left in the folder (call once, at start). */
  async load(): Promise<number> {
    const dir = this.#dir;
    if (!dir) return 0;
    await Deno.mkdir(dir, { recursive: true });
    const metas: number[] = [];
    const bodies = new Set<number>();
    for await (const e of Deno.readDir(dir)) {
      const m = /^(\d+)\.(json|pprof\.gz)$/.exec(e.name);
      if (!m) continue;
      if (m[2] === "json") metas.push(Number(m[1]));
      else bodies.add(Number(m[1]));
    }
    metas.sort((a, b) => a - b);
    for (const seq of metas) {
      if (!bodies.has(seq)) {
        await Deno.remove(`${dir}/${seq}.json`).catch(() => {});
        continue;
      }
      bodies.delete(seq);
      try {
        const meta = JSON.parse(await Deno.readTextFile(`${dir}/${seq}.json`));
        const bytes = (await Deno.stat(`${dir}/${seq}.pprof.gz`)).size;
        this.#disk.push({ seq, meta, bytes, attempts: 0, where: "disk" });
        this.#diskUsed += bytes;
        this.#seq = Math.max(this.#seq, seq + 1);
        this.counters.recovered++;
      } catch {
        // A damaged entry: not deliverable; say so by counting it dropped.
        this.counters.dropped++;
        await this.#removeFiles(seq);
      }
    }
    // Bodies without metadata: a write cut short. Not an interval yet.
    for (const seq of bodies) {
      await Deno.remove(`${dir}/${seq}.pprof.gz`).catch(() => {});
    }
    return this.#disk.length;
  }

  /** Queues an interval (synchronous: spilling to disk happens later). */
  push(meta: IntervalMeta, body: Uint8Array): SpoolEntry {
    const e: MemoryEntry = {
      seq: this.#seq++,
      meta,
      bytes: body.byteLength,
      attempts: 0,
      where: "memory",
      body,
    };
    this.#memory.push(e);
    this.#memoryUsed += e.bytes;
    this.counters.queued++;
    if (!this.#dir) this.#enforceMemoryWithoutDisk();
    return e;
  }

  #enforceMemoryWithoutDisk(): void {
    while (this.#memoryUsed > this.#memoryBound && this.#memory.length > 1) {
      const old = this.#memory.shift()!;
      this.#memoryUsed -= old.bytes;
      this.counters.dropped++;
    }
  }

  /**
   * Moves memory entries to disk while memory is over its bound (all of
   * them with `all`), then drops the oldest disk entries while the folder
   * is over its bound.
   */
  async spill(all = false): Promise<void> {
    const dir = this.#dir;
    if (!dir) {
      this.#enforceMemoryWithoutDisk();
      return;
    }
    while (
      this.#memory.length > 0 &&
      (all || this.#memoryUsed > this.#memoryBound)
    ) {
      const e = this.#memory.shift()!;
      this.#memoryUsed -= e.bytes;
      try {
        await writeFileAtomic(`${dir}/${e.seq}.pprof.gz`, e.body);
        await writeFileAtomic(
          `${dir}/${e.seq}.json`,
          JSON.stringify(e.meta) + "\n",
        );
      } catch {
        this.counters.dropped++;
        await this.#removeFiles(e.seq);
        continue;
      }
      this.#disk.push({ ...e, body: undefined, where: "disk" } as SpoolEntry);
      this.#diskUsed += e.bytes;
      this.counters.spooledToDisk++;
    }
    while (this.#diskUsed > this.#diskBound && this.#disk.length > 0) {
      const old = this.#disk.shift()!;
      this.#diskUsed -= old.bytes;
      this.counters.dropped++;
      await this.#removeFiles(old.seq);
    }
  }

  async #removeFiles(seq: number): Promise<void> {
    if (!this.#dir) return;
    await Deno.remove(`${this.#dir}/${seq}.json`).catch(() => {});
    await Deno.remove(`${this.#dir}/${seq}.pprof.gz`).catch(() => {});
  }

  /** The oldest entry and its body, or undefined when empty. */
  async oldest(): Promise<{ entry: SpoolEntry; body: Uint8Array } | undefined> {
    const d = this.#disk[0];
    if (d) {
      try {
        return {
          entry: d,
          body: await Deno.readFile(`${this.#dir}/${d.seq}.pprof.gz`),
        };
      } catch {
        this.#disk.shift();
        this.#diskUsed -= d.bytes;
        this.counters.dropped++;
        await this.#removeFiles(d.seq);
        return await this.oldest();
      }
    }
    const m = this.#memory[0];
    return m ? { entry: m, body: m.body } : undefined;
  }

  /** The oldest entry not yet acknowledged by the server, and its body. */
  async next(): Promise<{ entry: SpoolEntry; body: Uint8Array } | undefined> {
    for (const d of [...this.#disk]) {
      if (d.pushedAt !== undefined) continue;
      try {
        return {
          entry: d,
          body: await Deno.readFile(`${this.#dir}/${d.seq}.pprof.gz`),
        };
      } catch {
        await this.remove(d);
        this.counters.removed--;
        this.counters.dropped++;
      }
    }
    const m = this.#memory.find((e) => e.pushedAt === undefined);
    return m ? { entry: m, body: m.body } : undefined;
  }

  /** Entries the server acknowledged but is not yet seen to hold. */
  acknowledged(): SpoolEntry[] {
    return [...this.#disk, ...this.#memory].filter((e) =>
      e.pushedAt !== undefined
    );
  }

  /** Removes an entry (delivered, or rejected for good). */
  async remove(entry: SpoolEntry): Promise<void> {
    const list: SpoolEntry[] = entry.where === "disk"
      ? this.#disk
      : this.#memory;
    const i = list.findIndex((e) => e.seq === entry.seq);
    if (i < 0) return; // dropped meanwhile
    list.splice(i, 1);
    if (entry.where === "disk") {
      this.#diskUsed -= entry.bytes;
      await this.#removeFiles(entry.seq);
    } else this.#memoryUsed -= entry.bytes;
    this.counters.removed++;
  }

  /** What is queued now. */
  depth(): { entries: number; memoryBytes: number; diskBytes: number } {
    return {
      entries: this.#disk.length + this.#memory.length,
      memoryBytes: this.#memoryUsed,
      diskBytes: this.#diskUsed,
    };
  }

  /** Whether a folder backs the spool. */
  get hasDisk(): boolean {
    return this.#dir !== undefined;
  }
}
