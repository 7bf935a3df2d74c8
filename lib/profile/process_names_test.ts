import assert from "node:assert";
import { referenceEncodeSamples } from "../parser/reference_decoder.ts";
import { ProfileParser } from "../parser/wasm_parser.ts";
import { ProcessNames } from "./process_names.ts";

/** A fake /proc with a comm file for each (pid, tid) named. */
function fakeProc(threads: [number, number][]): string {
  const root = Deno.makeTempDirSync({ prefix: "names-" });
  for (const [pid, tid] of threads) {
    Deno.mkdirSync(`${root}/${pid}/task/${tid}`, { recursive: true });
    Deno.writeTextFileSync(`${root}/${pid}/comm`, `proc${pid}\n`);
    Deno.writeTextFileSync(`${root}/${pid}/task/${tid}/comm`, `thr${tid}\n`);
  }
  return root;
}

/** Plain events (no frames) of these (pid, tid, cpu). */
function events(keys: [number, number, number][]): Uint8Array {
  return referenceEncodeSamples(keys.map(([pid, tid, cpu], i) => ({
    event: {
      timestampNs: BigInt(1000 + i),
      pid,
      tid,
      userStackId: -14,
      kernelStackId: -14,
      cpu,
      flags: 0,
    },
    user: -14,
    kernel: -14,
  })));
}

Deno.test("ProcessNames.noteNewKeys: every process and thread of the walk's new keys, each once, across cuts of the tables", async () => {
  const root = fakeProc([[10, 10], [10, 11], [20, 20], [30, 30]]);
  try {
    const parser = await ProfileParser.create({
      tables: { stacks: 64, frames: 1024, aggregates: 64 },
    });
    const names = new ProcessNames(root);
    const seen: number[] = [];
    names.onNewProcess = (pid) => seen.push(pid);

    parser.walk(events([[10, 10, 0], [10, 11, 1], [10, 10, 0]]), {
      toAggregate: true,
      toBatch: false,
    });
    names.noteNewKeys(parser);
    assert.deepStrictEqual(seen, [10]);
    assert.strictEqual(names.thread(11, 10), "thr11");

    // Only the keys this walk added are read: pid 20's.
    parser.walk(events([[10, 10, 1], [20, 20, 0]]), { toAggregate: true });
    names.noteNewKeys(parser);
    assert.deepStrictEqual(seen, [10, 20]);

    // After a cut the first entries are new keys again: pid 30 is entry 0,
    // below the count noted before the cut, and is still noted.
    parser.cutTables();
    parser.walk(events([[30, 30, 0], [20, 20, 1], [10, 10, 0], [10, 11, 0]]), {
      toAggregate: true,
    });
    names.noteNewKeys(parser);
    assert.deepStrictEqual(seen, [10, 20, 30]);
    assert.deepStrictEqual(
      [names.comm(30), names.thread(30), names.comm(99)],
      ["proc30", "thr30", "[pid 99]"],
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
