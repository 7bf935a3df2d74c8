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
  private readonly items = new Map<T, true>();
  /** Items evicted so far. */
  evictions = 0;

  constructor(readonly maxBytes: number) {}

  /** Marks `item` most recently used (adding it), then enforces the bound. */
  touch(item: T): void {
    this.items.delete(item);
    this.items.set(item, true);
    this.enforce(item);
  }

  /** Forgets `item` without evicting it (its owner dropped it). */
  remove(item: T): void {
    this.items.delete(item);
  }

  /** Evicts least recently used items until the total fits (keeps `keep`). */
  enforce(keep?: T): void {
    let total = this.bytes;
    if (total <= this.maxBytes) return;
    for (const it of this.items.keys()) {
      if (total <= this.maxBytes) break;
      if (it === keep) continue;
      total -= it.bytes;
      this.items.delete(it);
      it.evict();
      this.evictions++;
    }
  }

  /** Bytes held by all cached items. */
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
