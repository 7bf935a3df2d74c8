// Saved symbol tables (symbol_cache.ts) answer as the table built from the
// files does, and are used only while they still describe them.
import assert from "node:assert/strict";
import { MappedFile } from "./mapped_file.ts";
import { openFd } from "./raw_fd.ts";
import { loadTable, MIN_SAVED, saveTable } from "./symbol_cache.ts";
import { SymbolTable } from "./symbol_table.ts";
import { seededRandom } from "../common/seeded_random.ts";

const LIBC = Deno.build.arch === "x86_64"
  ? "/usr/lib/x86_64-linux-gnu/libc.so.6"
  : "/usr/lib/aarch64-linux-gnu/libc.so.6";

function libcFile(tableCache?: string) {
  const counters = {
    buildId: 0,
    debugLink: 0,
    rejected: { crc: 0, buildId: 0 },
  };
  const mf = MappedFile.fromFd(
    "t",
    LIBC,
    openFd(LIBC),
    { debugDirs: ["/usr/lib/debug"], roots: [""] },
    counters,
    tableCache,
  );
  return { mf, counters };
}

Deno.test("symbol cache: libc's table saved and mapped back answers the same", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const built = libcFile();
    const want = built.mf.symbols()!;
    const source = built.mf.symbolSource;
    const first = libcFile(dir);
    first.mf.symbols();
    const id = first.mf.buildId()!;
    const saved = [...Deno.readDirSync(dir)].map((e) => e.name);
    if (want.length < MIN_SAVED) {
      // A libc with no debug file: .dynsym only, never saved.
      assert.equal(source, "dynsym");
      assert.deepEqual(saved, []);
      return;
    }
    assert.deepEqual(saved, [`${id}.symtab`]);
    const again = libcFile(dir);
    const got = again.mf.symbols()!;
    assert.equal(again.mf.symbolSource, source);
    assert.equal(again.mf.debugPath, built.mf.debugPath);
    // The debug file is counted as found, as the search counts it.
    assert.deepEqual(again.counters, built.counters);
    assert.equal(got.length, want.length);
    const r = seededRandom(3);
    for (let i = 0; i < 20000; i++) {
      const a = want.start(Math.floor(r() * want.length)) +
        Math.floor(r() * 64) - 8;
      assert.deepEqual(got.lookup(a), want.lookup(a), `0x${a.toString(16)}`);
    }
    for (const f of [built, first, again]) f.mf.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("symbol cache: not used once its debug file changed, not made from .dynsym or small tables", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const debug = `${dir}/x.debug`;
    Deno.writeTextFileSync(debug, "debug file");
    const table = SymbolTable.fromSymbols(
      Array.from({ length: MIN_SAVED }, (_, i) => ({
        start: 16 * i,
        size: 16,
        name: `f${i}`,
      })),
    );
    const cache = `${dir}/cache`;
    assert.ok(
      saveTable(cache, "aa11aa11", table, {
        source: "debug-debuglink",
        debugPath: debug,
      }),
    );
    assert.equal(loadTable(cache, "aa11aa11")?.info.debugPath, debug);
    // Rewritten (another size): the table no longer describes it.
    Deno.writeTextFileSync(debug, "a changed debug file");
    assert.equal(loadTable(cache, "aa11aa11"), undefined);
    Deno.removeSync(debug);
    assert.equal(loadTable(cache, "aa11aa11"), undefined);

    assert.equal(
      saveTable(cache, "bb22bb22", table, { source: "dynsym" }),
      false,
    );
    const small = SymbolTable.fromSymbols([{ start: 0, size: 1, name: "f" }]);
    assert.equal(
      saveTable(cache, "cc33cc33", small, { source: "symtab" }),
      false,
    );
    assert.equal(saveTable(cache, "../x", table, { source: "symtab" }), false);
    // Not a saved table: refused, not misread.
    Deno.writeTextFileSync(`${cache}/dd44dd44.symtab`, "\u0002\0\0\0{}garbage");
    assert.equal(loadTable(cache, "dd44dd44"), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
