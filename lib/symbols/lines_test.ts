/**
 * `lines: true`: source file/line and inlined frames, checked against
 * elfutils' eu-addr2line -f -i and LLVM's llvm-symbolizer on real code: the
 * inlining fixture sampled by perf, the hotspots fixture, its debuglink twin
 * (DWARF only in the separate debug file) and libc with its debug file.
 */
import assert from "node:assert";
import { Symbolizer } from "./symbolizer.ts";
import {
  buildFixtures,
  FIXTURES_BUILD,
  inCI,
  requireTool,
} from "./fixture_process.ts";
import {
  fixtureTestOptions as opts,
  withSymbolizedFixture,
} from "./fixture_test_helpers.ts";
import { perfSamplesAtLeast } from "./perf_samples.ts";
import { MappedFile } from "./mapped_file.ts";
import { openFd } from "./raw_fd.ts";
import type { SourceFrame } from "./libdw.ts";

/** Runs a tool with addresses on stdin, reading while writing. */
async function pipeThrough(cmd: string[], input: string): Promise<string> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = child.output();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  return new TextDecoder().decode((await output).stdout);
}

/**
 * eu-addr2line -a -f -i for each address: the inline chain, innermost
 * first (-a prints each address first, which delimits the chains). An
 * address without DWARF gives an empty chain.
 */
async function euChains(file: string, addrs: number[]) {
  const input = addrs.map((a) => `0x${a.toString(16)}\n`).join("");
  const out = await pipeThrough(
    ["eu-addr2line", "-a", "-f", "-i", "-e", file],
    input,
  );
  const chains: SourceFrame[][] = [];
  const lines = out.split("\n");
  for (let i = 0; i < lines.length;) {
    if (!/^0x[0-9a-f]+$/.test(lines[i])) {
      i++;
      continue;
    }
    const chain: SourceFrame[] = [];
    i++;
    while (i + 1 < lines.length && !/^0x[0-9a-f]+$/.test(lines[i])) {
      const name = lines[i].replace(/ inlined at .*$/, "");
      const m = /^(.+):(\d+):\d+$/.exec(lines[i + 1]) ??
        /^(.+):(\d+)$/.exec(lines[i + 1]);
      if (m && m[1] !== "??") {
        chain.push({ name, file: m[1], line: Number(m[2]) });
      }
      i += 2;
    }
    chains.push(chain);
  }
  return chains;
}

/**
 * A chain with each file reduced to its base name: elfutils' addr2line and
 * LLVM join a relative line-table name with its directory differently
 * ("./assert/./assert/assert.c" vs "./assert/assert.c"); functions and
 * lines must agree exactly.
 */
function comparable(chain: SourceFrame[]) {
  return chain.map((f, i) => ({
    // The outermost name: elfutils prints the ELF symbol (an alias such as
    // __GI___printf_fp_l), libdw's DWARF name is __printf_fp_l; the
    // Symbolizer's Frame.name is the ELF symbol anyway (checked elsewhere).
    // Inner names: elfutils prints glibc's hidden aliases (__GI_x) for
    // some; compare without that prefix.
    name: i === chain.length - 1 ? "(outer)" : f.name.replace(/^__GI_/, ""),
    file: f.file?.replace(/^.*\//, ""),
    line: f.line,
  }));
}

/** llvm-symbolizer --inlines JSON for each address. */
async function llvmChains(file: string, addrs: number[]) {
  const out = await pipeThrough(
    ["llvm-symbolizer-14", `--obj=${file}`, "--inlines", "--output-style=JSON"],
    addrs.map((a) => `0x${a.toString(16)}`).join("\n") + "\n",
  );
  return out.trim().split("\n").map((l) =>
    // deno-lint-ignore no-explicit-any
    (JSON.parse(l).Symbol as any[]).map((s) => ({
      name: s.FunctionName as string,
      file: s.FileName as string,
      line: s.Line as number,
    }))
  );
}

/** Our chain for a symbolized frame, innermost first (as pprof wants). */
function chainOf(f: {
  name: string;
  file?: string;
  line?: number;
  inlined?: SourceFrame[];
}): SourceFrame[] {
  return [...(f.inlined ?? []), { name: f.name, file: f.file, line: f.line }];
}

Deno.test({
  name:
    "lines: inlined frames of perf samples match eu-addr2line -i and llvm-symbolizer",
  ...opts,
  async fn() {
    if (
      !await requireTool("perf") || !await requireTool("eu-addr2line") ||
      !await requireTool("llvm-symbolizer-14")
    ) return;
    await buildFixtures();
    const bin = `${FIXTURES_BUILD}/inlined`;
    const child = new Deno.Command(bin, {
      args: ["100000000000"],
      stdout: "null",
    }).spawn();
    const sym = new Symbolizer({ lines: true });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(sym.observe(child.pid).ok);
      const samples = await perfSamplesAtLeast(child.pid, 500);
      const leaves = samples.map((s) => s[0]).filter((f) => f.dso === bin);
      assert.ok(leaves.length > 300, `${leaves.length} samples in ${bin}`);
      // In this file text is loaded at offset == vaddr, so perf's printed
      // (file-relative) address is what eu-addr2line takes.
      const vaddrs = leaves.map((f) => Number(f.printed));
      const eu = await euChains(bin, vaddrs);
      const llvm = await llvmChains(bin, vaddrs);
      let inlinedSeen = 0;
      for (let i = 0; i < leaves.length; i++) {
        const [frame] = sym.user(child.pid, [leaves[i].address]);
        assert.strictEqual(frame.name, "outer_work");
        const ours = chainOf(frame);
        // Absolute paths here: compared in full.
        assert.deepStrictEqual(ours, eu[i], `0x${vaddrs[i].toString(16)}`);
        assert.deepStrictEqual(ours, llvm[i], `0x${vaddrs[i].toString(16)}`);
        if (ours.length === 3) inlinedSeen++;
      }
      // The loop is inner_step inlined into middle_step into outer_work.
      assert.ok(
        inlinedSeen > leaves.length * 0.8,
        `${inlinedSeen} in the loop`,
      );
    } finally {
      sym.close();
      child.kill("SIGKILL");
      await child.status;
    }
  },
});

Deno.test({
  name:
    "lines: PIE fixture and its debuglink twin (DWARF only in the .debug file)",
  ...opts,
  async fn() {
    for (const bin of ["hotspots", "hotspots-debuglink"]) {
      await withSymbolizedFixture(
        [bin, "--seconds", "5"],
        { lines: true, debugDirs: [] },
        (p, sym) => {
          const [a, b] = sym.user(p.pid, [
            p.addresses.get("hot_alpha")! + 4n,
            p.addresses.get("main")! + 4n,
          ]);
          assert.strictEqual(a.name, "hot_alpha");
          assert.strictEqual(
            a.file,
            `${
              new URL("../../tests/fixtures/", import.meta.url).pathname
            }hotspots.c`,
          );
          // hot_alpha's body is lines 47-51 of hotspots.c (its definition).
          const src = Deno.readTextFileSync(a.file!).split("\n");
          const def = src.findIndex((l) =>
            l.includes("unsigned long hot_alpha(")
          ) + 1;
          assert.ok(a.line! >= def && a.line! <= def + 4, `line ${a.line}`);
          assert.strictEqual(a.inlined, undefined); // built with -fno-inline
          assert.strictEqual(b.name, "main");
          assert.ok(b.line! > 0);
        },
      );
    }
  },
});

Deno.test({
  name: "lines: libc.so.6 with its debug file agrees with eu-addr2line -i",
  ...opts,
  async fn() {
    if (!await requireTool("eu-addr2line")) return;
    const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    const mf = MappedFile.fromFd("t", libc, openFd(libc), {
      debugDirs: ["/usr/lib/debug"],
      roots: [""],
    });
    try {
      const dwarf = mf.dwarfFile();
      if (!dwarf) {
        // libc6-dbg is not installed: a prerequisite, so in CI this fails.
        if (inCI) {
          throw new Error("CI=true: libc6-dbg (libc's debug file) is missing");
        }
        console.error(
          "SKIPPING (not in CI): libc has no debug file here (libc6-dbg)",
        );
        return;
      }
      const table = mf.symbols()!;
      const addrs: number[] = [];
      for (let i = 0; i < table.length; i += Math.ceil(table.length / 1500)) {
        addrs.push(
          table.start(i) + Math.floor((table.end(i) - table.start(i)) / 3),
        );
      }
      const eu = await euChains(mf.debugPath!, addrs);
      let same = 0, inlined = 0;
      const differ: string[] = [];
      assert.strictEqual(eu.length, addrs.length);
      for (let i = 0; i < addrs.length; i++) {
        const ours = dwarf.inlineChain(addrs[i]);
        if (ours.length > 1) inlined++;
        const a = JSON.stringify(comparable(ours));
        if (a === JSON.stringify(comparable(eu[i]))) same++;
        else {
          differ.push(
            `0x${addrs[i].toString(16)}: ${a} vs ${
              JSON.stringify(comparable(eu[i]))
            }`,
          );
        }
      }
      console.log(
        `libc: ${same} of ${addrs.length} chains identical, ${inlined} with inlines`,
      );
      assert.deepStrictEqual(differ.slice(0, 5), []);
      assert.ok(inlined > 50);
    } finally {
      mf.close();
    }
  },
});
