import assert from "node:assert/strict";
import { type IntervalMeta, Spool } from "./spool.ts";

const meta = (i: number): IntervalMeta => ({
  name: "svc",
  labels: { hostname: "h" },
  fromMs: 1000 * i,
  untilMs: 1000 * (i + 1),
  samples: i,
});

Deno.test("spool: memory overflow moves the oldest to disk, disk overflow drops the oldest, counted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = new Spool({ memoryBytes: 250, diskBytes: 300, dir });
    for (let i = 0; i < 8; i++) s.push(meta(i), new Uint8Array(100).fill(i));
    await s.spill();
    // 800 bytes: memory keeps 200 (2 entries), disk 300 (3), 3 dropped.
    assert.deepEqual(s.depth(), {
      entries: 5,
      memoryBytes: 200,
      diskBytes: 300,
    });
    assert.equal(s.counters.queued, 8);
    assert.equal(s.counters.spooledToDisk, 6);
    assert.equal(s.counters.dropped, 3);
    // Oldest first: the disk entries, then memory.
    const seen: number[] = [];
    for (let e = await s.oldest(); e; e = await s.oldest()) {
      assert.equal(
        e.body[0],
        e.entry.meta.samples,
        "the body is the entry's own",
      );
      seen.push(e.entry.meta.samples);
      await s.remove(e.entry);
    }
    assert.deepEqual(seen, [3, 4, 5, 6, 7]);
    assert.equal(
      [...Deno.readDirSync(dir)].length,
      0,
      "delivered entries leave no file",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spool: what one run leaves on disk, the next loads and sends first; torn writes are cleaned", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = new Spool({ dir });
    for (let i = 0; i < 3; i++) a.push(meta(i), new Uint8Array([i]));
    await a.spill(true);
    // A write cut short: a body without its metadata, and garbage metadata.
    await Deno.writeFile(`${dir}/77.pprof.gz`, new Uint8Array([1]));
    await Deno.writeTextFile(`${dir}/78.json`, "{not json");
    await Deno.writeFile(`${dir}/78.pprof.gz`, new Uint8Array([1]));
    const b = new Spool({ dir });
    assert.equal(await b.load(), 3);
    assert.equal(b.counters.recovered, 3);
    assert.equal(
      b.counters.dropped,
      1,
      "the damaged entry is counted, not sent",
    );
    const e = b.push(meta(9), new Uint8Array([9]));
    assert.ok(e.seq > 2, "new entries are numbered after the recovered ones");
    const first = await b.oldest();
    assert.equal(first!.entry.meta.fromMs, 0);
    const names = [...Deno.readDirSync(dir)].map((x) => x.name).sort();
    assert.deepEqual(names, [
      "0.json",
      "0.pprof.gz",
      "1.json",
      "1.pprof.gz",
      "2.json",
      "2.pprof.gz",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spool: acknowledged entries wait for their read-back and are not handed out again", async () => {
  const s = new Spool();
  const a = s.push(meta(1), new Uint8Array(1));
  s.push(meta(2), new Uint8Array(1));
  a.pushedAt = 0;
  assert.equal((await s.next())!.entry.meta.samples, 2);
  assert.deepEqual(s.acknowledged().map((e) => e.meta.samples), [1]);
});
