/**
 * The ELF symbol reader against elfutils' eu-addr2line on real binaries:
 * thousands of addresses across libc.so.6 (with its debug file when
 * installed), the PIE and non-PIE fixtures, libhotlib.so and /usr/bin/perf
 * (stripped: .dynsym only). Aliases (several names at one address) are
 * resolved differently by perf and elfutils, so a name counts as agreeing
 * when binutils' readelf lists both at the same address.
 */
import { seededRandom } from "../common/seeded_random.ts";
import assert from "node:assert";
import { MappedFile } from "./mapped_file.ts";
import { openFd } from "./raw_fd.ts";
import { SymbolTable } from "./symbol_table.ts";
import {
  buildFixtures,
  FIXTURES_BUILD,
  requireTool,
} from "./fixture_process.ts";

interface ReadelfSym {
  start: number;
  size: number;
  name: string;
}

/** FUNC/IFUNC symbols as binutils' readelf lists them (both tables). */
async function readelfFunctions(file: string): Promise<ReadelfSym[]> {
  const out = await new Deno.Command("readelf", {
    args: ["-sW", file],
    stdout: "piped",
  }).output();
  const syms: ReadelfSym[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    // "  12: 0000000000098930   791 FUNC    GLOBAL DEFAULT   16 malloc@@GLIBC_2.2.5"
    const m =
      /^\s*\d+: ([0-9a-f]+)\s+(\d+|0x[0-9a-f]+) (?:FUNC|IFUNC)\s+\w+\s+\w+\s+(\d+) (\S+)/
        .exec(line);
    if (!m) continue;
    syms.push({
      start: parseInt(m[1], 16),
      size: Number(m[2]),
      name: m[4].replace(/@.*$/, ""),
    });
  }
  return syms;
}

/** eu-addr2line -f for many addresses at once: the symbol of each. */
async function euAddr2line(file: string, addrs: number[]): Promise<string[]> {
  const child = new Deno.Command("eu-addr2line", {
    args: ["-f", "-e", file],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const output = child.output(); // read while writing (pipe buffers)
  const w = child.stdin.getWriter();
  await w.write(
    new TextEncoder().encode(
      addrs.map((a) => "0x" + a.toString(16)).join("\n") + "\n",
    ),
  );
  await w.close();
  const lines = new TextDecoder().decode((await output).stdout).split("\n");
  const names: string[] = [];
  // Two lines per address: the function, then file:line. For inlined code
  // the first reads "inner inlined at F:L in symbol".
  for (let i = 0; i + 1 < lines.length && names.length < addrs.length; i += 2) {
    const m = / inlined at .* in (\S+)$/.exec(lines[i]);
    names.push(m ? m[1] : lines[i]);
  }
  return names;
}

function pseudoRandom(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

async function compareWithElfutils(file: string, count: number) {
  const fd = openFd(file);
  const mf = MappedFile.fromFd("t", file, fd, {
    debugDirs: ["/usr/lib/debug"],
    roots: [""],
  });
  try {
    const table = mf.symbols()!;
    const truth = await readelfFunctions(file);
    if (mf.debugPath) truth.push(...await readelfFunctions(mf.debugPath));
    const withSize = truth.filter((s) => s.size > 0);
    assert.ok(withSize.length > 0, `${file}: no sized functions`);
    const aliases = new Map<number, Set<string>>();
    for (const s of truth) {
      if (!aliases.has(s.start)) aliases.set(s.start, new Set());
      aliases.get(s.start)!.add(s.name);
    }
    const rnd = pseudoRandom(count);
    const addrs: number[] = [];
    for (let i = 0; i < count; i++) {
      const s = withSize[Math.floor(rnd() * withSize.length)];
      addrs.push(s.start + Math.floor(rnd() * s.size));
    }
    const theirs = await euAddr2line(file, addrs);
    assert.strictEqual(theirs.length, addrs.length);
    // Versioned names (foo@GLIBC_2.2.5, foo@@GLIBC_2.34) are aliases of foo;
    // for GCC clones (foo.part.0, foo.isra.0, foo.cold) elfutils prints the
    // DWARF name of the function, foo.
    const base = (n: string) =>
      n.replace(/@.*$/, "").replace(/\.(part|isra|constprop|cold)(\.\d+)*$/, "")
        .replace(/\.(part|isra|constprop|cold)(\.\d+)*$/, "");
    let exact = 0, alias = 0;
    const differ: string[] = [];
    for (let i = 0; i < addrs.length; i++) {
      const i2 = table.indexOf(addrs[i]);
      const ours = i2 < 0 ? "??" : table.name(i2);
      if (ours === theirs[i]) exact++;
      else if (
        i2 >= 0 &&
        (aliases.get(table.start(i2))?.has(base(theirs[i])) ||
          base(ours) === base(theirs[i]))
      ) alias++;
      else {differ.push(
          `0x${addrs[i].toString(16)}: ours ${ours}, eu ${theirs[i]}`,
        );}
    }
    return {
      exact,
      alias,
      differ,
      source: mf.symbolSource,
      symbols: table.length,
    };
  } finally {
    mf.close();
  }
}

const haveTools = await requireTool("eu-addr2line", ["--version"]) &&
  await requireTool("readelf", ["--version"]);

for (
  const [label, file, count] of [
    ["libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", 4000],
    ["PIE fixture", `${FIXTURES_BUILD}/hotspots`, 1500],
    ["non-PIE fixture", `${FIXTURES_BUILD}/hotspots-nopie`, 1500],
    ["shared library fixture", `${FIXTURES_BUILD}/libhotlib.so`, 500],
    ["/usr/bin/perf (.dynsym only)", "/usr/bin/perf", 500],
  ] as const
) {
  Deno.test({
    name: `symbols agree with eu-addr2line: ${label}`,
    ignore: !haveTools,
    async fn() {
      await buildFixtures();
      const r = await compareWithElfutils(file, count);
      console.log(
        `${label}: ${r.exact} exact + ${r.alias} aliases of ${count} (${r.source}, ${r.symbols} symbols)`,
      );
      assert.deepStrictEqual(
        r.differ.slice(0, 10),
        [],
        `${r.differ.length} differ`,
      );
      assert.strictEqual(r.exact + r.alias, count);
    },
  });
}

Deno.test("SymbolTable: perf's alias rules and nested symbols", () => {
  const t = SymbolTable.fromSymbols([
    { start: 0x100, size: 0x10, name: "weak_one", binding: 2 },
    { start: 0x100, size: 0x10, name: "strong_one", binding: 1 },
    { start: 0x200, size: 0x10, name: "__under", binding: 1 },
    { start: 0x200, size: 0x10, name: "plain", binding: 1 },
    { start: 0x300, size: 0, name: "sizeless", binding: 1 },
    { start: 0x300, size: 0x8, name: "sized", binding: 0 },
    { start: 0x400, size: 0x100, name: "outer", binding: 1 },
    { start: 0x410, size: 0x10, name: "inner", binding: 1 },
  ]);
  assert.strictEqual(t.lookup(0x104)?.name, "strong_one");
  assert.strictEqual(t.lookup(0x204)?.name, "plain");
  assert.strictEqual(t.lookup(0x304)?.name, "sized");
  assert.strictEqual(t.lookup(0x414)?.name, "inner");
  assert.strictEqual(t.lookup(0x480)?.name, "outer"); // past inner, in outer
  assert.strictEqual(t.lookup(0x500), undefined);
});

Deno.test("SymbolTable: symbols given in any order are sorted as given in order", () => {
  const r = seededRandom(7);
  for (const n of [2, 100, 5000]) {
    const starts = new Set<number>();
    while (starts.size < n) starts.add(Math.floor(r() * 2 ** 36));
    const sorted = [...starts].sort((a, b) => a - b).map((start, i) => ({
      start,
      size: 1 + Math.floor(r() * 64),
      name: `f${i}`,
    }));
    const shuffled = [...sorted].sort(() => r() - 0.5);
    const a = SymbolTable.fromSymbols(sorted);
    const b = SymbolTable.fromSymbols(shuffled);
    assert.strictEqual(b.length, n);
    for (const s of sorted) {
      for (const addr of [s.start, s.start + s.size - 1, s.start + s.size]) {
        assert.deepStrictEqual(b.lookup(addr), a.lookup(addr));
      }
    }
  }
  // Starts past 2^53 / 2^bits cannot be packed into one number: the
  // comparator sorts them, with the same result.
  const big = [3, 1, 2].map((k) => ({
    start: k * 2 ** 50,
    size: 8,
    name: `b${k}`,
  }));
  const t = SymbolTable.fromSymbols(big);
  assert.deepStrictEqual([0, 1, 2].map((i) => t.name(i)), ["b1", "b2", "b3"]);
});
