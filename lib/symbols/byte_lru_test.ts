import assert from "node:assert";
import { ByteLru } from "./byte_lru.ts";

/** An item whose size the test sets, recording its evictions. */
function item(id: string, bytes: number, dropped: string[]) {
  return {
    id,
    bytes,
    evict() {
      dropped.push(id);
      this.bytes = 0;
    },
  };
}

Deno.test("ByteLru: growth is counted when the grown item is touched, then the least recent go", () => {
  const dropped: string[] = [];
  const lru = new ByteLru(100);
  const a = item("a", 40, dropped), b = item("b", 40, dropped);
  lru.touch(a);
  lru.touch(b);
  b.bytes = 70; // b read more while in use; its owner touches it after
  lru.touch(b);
  assert.deepStrictEqual(dropped, ["a"]);
  assert.strictEqual(lru.bytes, 70);
  assert.strictEqual(lru.size, 1);
});

Deno.test("ByteLru: enforce() counts every item as it is now, untouched growth too", () => {
  const dropped: string[] = [];
  const lru = new ByteLru(100);
  const a = item("a", 30, dropped), b = item("b", 30, dropped);
  const c = item("c", 30, dropped);
  lru.touch(a);
  lru.touch(b);
  lru.touch(c);
  a.bytes = 60; // grew without a touch: 120 in all
  lru.enforce();
  assert.deepStrictEqual(dropped, ["a"]);
  // The running count is exact again: one more 20-byte item fits.
  lru.touch(item("d", 20, dropped));
  assert.deepStrictEqual(dropped, ["a"]);
  assert.strictEqual(lru.bytes, 80);
});

Deno.test("ByteLru: remove() forgets an item and its bytes; the touched item is never evicted by its own touch", () => {
  const dropped: string[] = [];
  const lru = new ByteLru(100);
  const a = item("a", 90, dropped), b = item("b", 50, dropped);
  lru.touch(a);
  lru.remove(a);
  lru.touch(b); // 50: fits, since a's 90 went with it
  assert.deepStrictEqual(dropped, []);
  const big = item("big", 500, dropped);
  lru.touch(big); // larger than the budget: b goes, big stays alone
  assert.deepStrictEqual(dropped, ["b"]);
  assert.strictEqual(lru.size, 1);
  lru.remove(item("never-added", 10, dropped)); // a no-op
  assert.strictEqual(lru.bytes, 500);
});
