/**
 * A least-recently-used set of cached items bounded by the bytes they hold.
 *
 * Items report their own size (`bytes`, which may grow while cached, e.g. a
 * perf map that reads more lines) and know how to drop what they hold
 * (`evict`); the LRU only decides who goes. The item just used is never
 * evicted by its own touch, so one item larger than the whole budget still
 * works (alone).
 *
 * @module
 */

/** Something the cache can account for and evict. */
export interface Evictable {
  /** Memory held now, in bytes. */
  readonly bytes: number;
  /** Drop what is held (it may be rebuilt later). */
  evict(): void;
}

/**
 * The LRU.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ByteLru } from "./byte_lru.ts";
 * const dropped: string[] = [];
 * const item = (id: string, bytes: number) => ({ bytes, evict: () => dropped.push(id) });
 * const lru = new ByteLru(100);
 * const a = item("a", 60), b = item("b", 30), c = item("c", 30);
 * lru.touch(a);
 * lru.touch(b);
 * lru.touch(a); // a is now the most recent
 * lru.touch(c); // 120 > 100: b, the least recent, goes
 * assert.deepStrictEqual(dropped, ["b"]);
 * assert.strictEqual(lru.bytes, 90);
 * assert.strictEqual(lru.evictions, 1);
 * ```
 */
export class ByteLru<T extends Evictable = Evictable> {
  /** Each item, least recent first, with its size when last counted. */
  private readonly items = new Map<T, number>();
  /** The sum of those sizes. */
  private counted = 0;
  /** Items evicted so far. */
  evictions = 0;

  constructor(readonly maxBytes: number) {}

  /**
   * Marks `item` most recently used (adding it), then enforces the bound.
   * Only the touched item is measured again here, not every item: a
   * profile's resolution touches a file per stack, and summing a few dozen
   * sizes each time cost ~10 ms of a 10 s profile at 10 kHz (measured). An
   * item that grew since it was last counted is counted again when it is
   * touched, and every item is before anything is evicted.
   */
  touch(item: T): void {
    const was = this.items.get(item);
    if (was !== undefined) {
      this.items.delete(item);
      this.counted -= was;
    }
    const now = item.bytes;
    this.items.set(item, now);
    this.counted += now;
    if (this.counted > this.maxBytes) this.enforce(item);
  }

  /** Forgets `item` without evicting it (its owner dropped it). */
  remove(item: T): void {
    const was = this.items.get(item);
    if (was === undefined) return;
    this.items.delete(item);
    this.counted -= was;
  }

  /** Evicts least recently used items until the total fits (keeps `keep`). */
  enforce(keep?: T): void {
    // Sizes may have grown since they were counted: count them all now
    // (setting an existing key keeps its place in the order).
    let total = 0;
    for (const it of this.items.keys()) {
      const b = it.bytes;
      this.items.set(it, b);
      total += b;
    }
    for (const it of this.items.keys()) {
      if (total <= this.maxBytes) break;
      if (it === keep) continue;
      total -= it.bytes;
      this.items.delete(it);
      it.evict();
      this.evictions++;
    }
    this.counted = total;
  }

  /** Bytes held by all cached items, measured now. */
  get bytes(): number {
    let total = 0;
    for (const it of this.items.keys()) total += it.bytes;
    return total;
  }

  /** Number of cached items. */
  get size(): number {
    return this.items.size;
  }
}
