/**
 * Backend measurements for lib/symbols (a script: prints a table).
 *
 *   deno run -A lib/symbols/symbols_bench.ts [--addresses N] [--json FILE]
 *
 * Names: the hand-written ELF symbol-table reader (SymbolTable, binary
 * search over typed arrays) against libdwfl's dwfl_module_addrinfo through
 * FFI, on the same 10,000 addresses of each real binary (random functions,
 * random offsets inside them), with the answers compared. Lines: libdw
 * (dwfl_module_getsrc + dwarf_getscopes through FFI) against an
 * llvm-symbolizer-14 co-process (--inlines --output-style=JSON), batched and
 * per 20-address stack. Also: the full Symbolizer.user() path, kallsyms.
 *
 * Run it when the machine is quiet (load average < 1): it prints the load.
 *
 * @module
 */
import { parsePositiveInt } from "../common/args.ts";
import { optionsHelp, scriptOptions } from "../common/options.ts";
import { MappedFile } from "./mapped_file.ts";
import type { SymbolTable } from "./symbol_table.ts";
import { DwarfFile } from "./libdw.ts";
import { openFd } from "./raw_fd.ts";
import { KernelSymbols } from "./kernel_symbols.ts";
import { Symbolizer } from "./symbolizer.ts";
import { parseProcMaps } from "./proc_maps.ts";

const OPTIONS = {
  addresses: {
    type: "string",
    value: "N",
    help: "addresses looked up per binary",
    default: "10000",
  },
  json: { type: "string", value: "FILE", help: "write the results as JSON" },
} as const;
const values = scriptOptions(
  OPTIONS,
  `Usage: deno run -A lib/symbols/symbols_bench.ts [options]

Options:
${optionsHelp(OPTIONS)}`,
  (v) => ({
    addresses: parsePositiveInt(v.addresses, "--addresses"),
    json: v.json,
  }),
);
const N = values.addresses;
const load = Deno.loadavg();
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  loadavg: load,
};

function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** A binary opened the way the symbolizer opens it (debug files too). */
function openBinary(path: string): MappedFile {
  return MappedFile.fromFd(path, path, openFd(path), {
    debugDirs: ["/usr/lib/debug"],
    roots: [""],
  });
}

/** `n` addresses in random functions of `table`, at random offsets. */
function addressesIn(table: SymbolTable, n: number, seed: number): number[] {
  const r = rng(seed);
  const addrs: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * table.length);
    addrs.push(
      table.start(k) + Math.floor(r() * (table.end(k) - table.start(k))),
    );
  }
  return addrs;
}

/** Median of `runs` timings of `fn` over `count` items, in ns per item. */
function nsPer(count: number, runs: number, fn: () => void): number {
  const t: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    t.push(((performance.now() - t0) * 1e6) / count);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

console.log(
  `lib/symbols backends, ${N} addresses per binary; load average ${
    load.map((x) => x.toFixed(2)).join(" ")
  }\n`,
);

// ------------------------------------------------------------------ names
const binaries = [
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/bin/perf",
  new URL("../../tests/fixtures/build/hotspots", import.meta.url).pathname,
  "/usr/bin/node",
];
const names: Record<string, unknown>[] = [];
console.log(
  "names              symbols  parse ms  table KiB  ours ns/addr  libdwfl ns/addr  ratio  same name*",
);
for (const path of binaries) {
  try {
    Deno.statSync(path);
  } catch {
    console.log(`${path}: missing, skipped`);
    continue;
  }
  const t0 = performance.now();
  const mf = openBinary(path);
  const table = mf.symbols()!;
  const parseMs = performance.now() - t0;
  const addrs = addressesIn(table, N, 7);
  let sink = 0;
  const ours = nsPer(addrs.length, 7, () => {
    for (const a of addrs) sink += table.name(table.indexOf(a)).length;
  });
  // libdwfl on the file whose symbols we used (the debug file for libc).
  const dw = DwarfFile.open(mf.debugPath ?? path);
  // dwfl_module_addrinfo scans every symbol per call: on a large table a
  // subset is enough to measure it.
  const dwAddrs = table.length > 20000 ? addrs.slice(0, 300) : addrs;
  dw.addrName(dwAddrs[0]);
  const theirs = nsPer(dwAddrs.length, 3, () => {
    for (const a of dwAddrs) sink += (dw.addrName(a) ?? "").length;
  });
  // libdwfl knows no PLT stubs: those are left out of the comparison.
  let same = 0, compared = 0;
  for (const a of dwAddrs) {
    const ours = table.name(table.indexOf(a));
    if (ours.endsWith("@plt")) continue;
    compared++;
    if (dw.addrName(a) === ours) same++;
  }
  dw.close();
  const row = {
    file: path,
    symbols: table.length,
    source: mf.symbolSource,
    parseMs,
    tableBytes: mf.bytes,
    oursNsPerAddress: ours,
    libdwflNsPerAddress: theirs,
    ratio: theirs / ours,
    sameAnswer: same / compared,
    libdwflAddresses: dwAddrs.length,
  };
  names.push(row);
  console.log(
    `${path.replace(/^.*\//, "").padEnd(18)} ${
      String(table.length).padStart(7)
    } ${parseMs.toFixed(1).padStart(9)} ${
      (mf.bytes / 1024).toFixed(0).padStart(10)
    } ${ours.toFixed(0).padStart(13)} ${theirs.toFixed(0).padStart(16)} ${
      (theirs / ours).toFixed(0).padStart(6)
    }x ${(100 * same / compared).toFixed(1).padStart(10)}%${
      dwAddrs.length < addrs.length ? ` (libdwfl on ${dwAddrs.length})` : ""
    }`,
  );
  mf.close();
  if (sink < 0) console.log(sink);
}
results.names = names;
console.log(
  "* same name as libdwfl, PLT stubs left out (libdwfl has none); the rest\n" +
    "  differ only by the alias chosen at one address (perf's rules here).",
);

// ------------------------------------------------------------------ lines
{
  const mf = openBinary("/usr/lib/x86_64-linux-gnu/libc.so.6");
  const table = mf.symbols()!;
  const dwarf = mf.dwarfFile();
  if (!dwarf || !mf.debugPath) {
    console.log("\nlines: libc has no debug file here (libc6-dbg), skipped");
  } else {
    const addrs = addressesIn(table, N, 11);
    let frames = 0;
    dwarf.inlineChain(addrs[0]);
    // Cold: a fresh libdw session per run, so nothing is remembered.
    const cold: number[] = [];
    for (let run = 0; run < 3; run++) {
      const d = DwarfFile.open(mf.debugPath);
      d.inlineChain(addrs[0]);
      cold.push(nsPer(addrs.length, 1, () => {
        for (const a of addrs) frames += d.inlineChain(a).length;
      }));
      d.close();
    }
    const libdw = cold.sort((a, b) => a - b)[1];
    for (const a of addrs) dwarf.inlineChain(a);
    const libdwWarm = nsPer(addrs.length, 5, () => {
      for (const a of addrs) frames += dwarf.inlineChain(a).length;
    });
    // llvm-symbolizer: one co-process, requests on stdin, JSON lines back.
    const child = new Deno.Command("llvm-symbolizer-14", {
      args: [`--obj=${mf.debugPath}`, "--inlines", "--output-style=JSON"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let buffered = "";
    const readLines = async (n: number) => {
      const out: string[] = [];
      while (out.length < n) {
        const nl = buffered.indexOf("\n");
        if (nl >= 0) {
          out.push(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          continue;
        }
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
      }
      return out;
    };
    const enc = new TextEncoder();
    const ask = async (batch: number[]) => {
      const reply = readLines(batch.length);
      await writer.write(
        enc.encode(batch.map((a) => `0x${a.toString(16)}`).join("\n") + "\n"),
      );
      // deno-lint-ignore no-explicit-any
      return (await reply).map((l) => JSON.parse(l).Symbol as any[]);
    };
    await ask(addrs.slice(0, 10)); // start-up and first parse of the DWARF
    let t0 = performance.now();
    const all = await ask(addrs);
    const llvmBatch = ((performance.now() - t0) * 1e6) / addrs.length;
    t0 = performance.now();
    await ask(addrs);
    const llvmWarm = ((performance.now() - t0) * 1e6) / addrs.length;
    t0 = performance.now();
    for (let i = 0; i + 20 <= 2000; i += 20) await ask(addrs.slice(i, i + 20));
    const llvmStack = ((performance.now() - t0) * 1e6) / 2000;
    await writer.close();
    await child.status;
    // Same answers? (function names of the inline chains)
    let same = 0;
    for (let i = 0; i < addrs.length; i++) {
      const a = dwarf.inlineChain(addrs[i]).slice(0, -1).map((f) => f.name);
      const b = all[i].slice(0, -1).map((s) => s.FunctionName);
      if (JSON.stringify(a) === JSON.stringify(b)) same++;
    }
    results.lines = {
      file: mf.debugPath,
      libdwNsPerAddress: libdw,
      libdwWarmNsPerAddress: libdwWarm,
      llvmWarmNsPerAddress: llvmWarm,
      llvmBatchNsPerAddress: llvmBatch,
      llvmPerStackNsPerAddress: llvmStack,
      sameInlineNames: same / addrs.length,
      dwarfBytesEstimate: mf.bytes - table.bytes,
    };
    console.log(
      `\nlines (libc debug file, inline chains):\n` +
        `  libdw via FFI, cold                ${
          libdw.toFixed(0)
        } ns/address\n` +
        `  libdw via FFI, same addresses again ${
          libdwWarm.toFixed(0)
        } ns/address\n` +
        `  llvm-symbolizer, same again, batch ${
          llvmWarm.toFixed(0)
        } ns/address\n` +
        `  llvm-symbolizer co-process, batch  ${
          llvmBatch.toFixed(0)
        } ns/address (${(llvmBatch / libdw).toFixed(1)}x libdw)\n` +
        `  llvm-symbolizer, 20-address stacks ${
          llvmStack.toFixed(0)
        } ns/address (${(llvmStack / libdw).toFixed(1)}x libdw)\n` +
        `  same inline names: ${(100 * same / addrs.length).toFixed(1)}%`,
    );
    if (frames < 0) console.log(frames);
  }
  results.libcCacheBytes = { symbols: table.bytes, withDwarf: mf.bytes };
  console.log(
    `\nlibc cache: symbol table ${
      (table.bytes / 1024).toFixed(0)
    } KiB (${table.length} symbols, ${mf.symbolSource}); with DWARF sections counted ${
      (mf.bytes / 1048576).toFixed(1)
    } MiB`,
  );
  mf.close();
}

// ----------------------------------------------------------------- kernel
{
  const t0 = performance.now();
  const ks = KernelSymbols.load();
  const parseMs = performance.now() - t0;
  const text = Deno.readTextFileSync("/proc/kallsyms").split("\n");
  const r = rng(3);
  const addrs = new BigUint64Array(N);
  for (let i = 0; i < N; i++) {
    const line = text[Math.floor(r() * (text.length - 1))];
    addrs[i] = BigInt("0x" + line.slice(0, 16)) + 3n;
  }
  const sym = new Symbolizer();
  sym.kernel(addrs.subarray(0, 10));
  const ns = nsPer(N, 5, () => sym.kernel(addrs));
  results.kernel = {
    symbols: ks.count,
    parseMs,
    bytes: ks.bytes,
    nsPerFrame: ns,
  };
  console.log(
    `\nkallsyms: ${ks.count} text symbols, parsed in ${
      parseMs.toFixed(0)
    } ms, ${(ks.bytes / 1048576).toFixed(1)} MiB; Symbolizer.kernel ${
      ns.toFixed(0)
    } ns/frame`,
  );
  sym.close();
}

// ------------------------------------------------------ full user() path
{
  // This very process: frames in libc, deno and the vDSO, through maps.
  const sym = new Symbolizer();
  const maps = parseProcMaps(Deno.readTextFileSync("/proc/self/maps")).entries
    .filter((m) => m.perms[2] === "x" && m.path !== "");
  const r = rng(5);
  const addrs: bigint[] = [];
  for (let i = 0; i < N; i++) {
    const m = maps[Math.floor(r() * maps.length)];
    addrs.push(m.startBig + BigInt(Math.floor(r() * (m.end - m.start))));
  }
  const t0 = performance.now();
  sym.observe(Deno.pid);
  const observeUs = (performance.now() - t0) * 1000;
  sym.user(Deno.pid, addrs.slice(0, 100)); // parse the tables once
  const stacks: bigint[][] = [];
  for (let i = 0; i + 20 <= addrs.length; i += 20) {
    stacks.push(addrs.slice(i, i + 20));
  }
  const ns = nsPer(addrs.length, 5, () => {
    for (const s of stacks) sym.user(Deno.pid, s);
  });
  const s = sym.stats();
  results.user = { observeUs, nsPerFrame: ns, cacheBytes: s.cacheBytes };
  console.log(
    `\nSymbolizer.user (this process, ${maps.length} executable mappings, 20-frame stacks): ${
      ns.toFixed(0)
    } ns/frame; observe() ${observeUs.toFixed(0)} µs; cache ${
      (s.cacheBytes / 1048576).toFixed(1)
    } MiB`,
  );
  sym.close();
}

// ---------------------------------------------------------------- observe
{
  // A small real process (the PIE fixture: 6 executable mappings): the first
  // observe() opens its files; later ones (a new pid mapping the same
  // files, as most processes do) only stat them.
  const bin = new URL("../../tests/fixtures/build/hotspots", import.meta.url)
    .pathname;
  const child = new Deno.Command(bin, {
    args: ["--seconds", "5"],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // "hotspots pid=..." once it runs
  const sym = new Symbolizer();
  sym.observe(Deno.pid); // vDSO image and libc opened once
  let t0 = performance.now();
  sym.observe(child.pid);
  const first = (performance.now() - t0) * 1000;
  t0 = performance.now();
  for (let i = 0; i < 200; i++) sym.observe(child.pid);
  const again = ((performance.now() - t0) * 1000) / 200;
  results.observe = { firstUs: first, knownFilesUs: again };
  console.log(
    `observe() of the PIE fixture: first ${
      first.toFixed(0)
    } µs, with its files known ${again.toFixed(0)} µs`,
  );
  sym.close();
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
}

if (values.json) {
  Deno.writeTextFileSync(values.json, JSON.stringify(results, null, 2));
}
