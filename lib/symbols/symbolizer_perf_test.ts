/**
 * The symbolizer against perf, on real processes: each fixture runs, perf
 * samples it for a second (`perf record -g`), and every frame of every sample
 * perf named must get the same name from the Symbolizer for the same raw
 * address. The hotspots split (50/30/20 by construction) is checked too.
 */
import assert from "node:assert";
import { Symbolizer } from "./symbolizer.ts";
import { FIXTURES_BUILD, requireTool } from "./fixture_process.ts";
import {
  startBuiltFixture,
  withSymbolizedFixture,
} from "./fixture_test_helpers.ts";
import { type PerfFrame, perfSamplesAtLeast } from "./perf_samples.ts";
import type { Frame } from "./frame.ts";

interface Comparison {
  samples: number;
  frames: number;
  agree: number;
  disagreements: string[];
  perfUnknown: number;
  /** Frames where perf's name is that of addr, ours that of addr - 1. */
  boundary: number;
  leaves: Map<string, number>;
  ours: Frame[][];
}

/** The name of `f`'s address looked up as is (not as a return address). */
function exactName(sym: Symbolizer, pid: number, f: PerfFrame): string {
  const isKernel = /^\[.*\]$/.test(f.dso) && f.dso !== "[vdso]";
  return (isKernel ? sym.kernel([f.address]) : sym.user(pid, [f.address]))[0]
    .name;
}

/** Symbolizes perf's samples and compares each named frame with perf's. */
function compare(sym: Symbolizer, pid: number, samples: PerfFrame[][]) {
  const c: Comparison = {
    samples: samples.length,
    frames: 0,
    agree: 0,
    disagreements: [],
    perfUnknown: 0,
    boundary: 0,
    leaves: new Map(),
    ours: [],
  };
  for (const s of samples) {
    const isKernel = (f: PerfFrame) =>
      /^\[.*\]$/.test(f.dso) && f.dso !== "[vdso]" && f.dso !== "[unknown]";
    const kern = s.filter(isKernel), user = s.filter((f) => !isKernel(f));
    const kf = sym.kernel(kern.map((f) => f.address));
    // The user stack starts with the user-mode IP (where the process was
    // interrupted or will resume after a syscall): exact, also when the
    // sample hit in the kernel. The rest are return addresses.
    const uf = sym.user(pid, user.map((f) => f.address), {
      leafIsExact: true,
    });
    const ours = [...kf, ...uf], theirs = [...kern, ...user];
    c.ours.push(ours);
    const leaf = ours[0]?.name ?? "";
    c.leaves.set(leaf, (c.leaves.get(leaf) ?? 0) + 1);
    for (let i = 0; i < theirs.length; i++) {
      c.frames++;
      if (theirs[i].sym === "[unknown]") {
        c.perfUnknown++;
        continue;
      }
      if (theirs[i].sym === ours[i].name) c.agree++;
      else if (
        i > 0 && i !== kern.length &&
        exactName(sym, pid, theirs[i]) === theirs[i].sym
      ) {
        // A return address at the very first byte of perf's function: we
        // look it up at addr - 1 (the call is in the function before), perf
        // at addr. Kernel stacks also hold interrupted IPs, which are exact:
        // such frames are told apart here, counted, and must stay rare.
        c.boundary++;
      } else {
        c.disagreements.push(
          `0x${theirs[i].address.toString(16)} perf=${theirs[i].sym} (${
            theirs[i].dso
          }) ours=${ours[i].name} (${ours[i].module}, ${ours[i].reason})`,
        );
      }
    }
  }
  return c;
}

async function profileFixture(
  binary: string,
  mode: string,
  options: ConstructorParameters<typeof Symbolizer>[0] = {},
) {
  // 30 s: stopped when done; long enough for 5 recordings on a busy box.
  const argv = [binary, "--seconds", "30", "--mode", mode];
  return await withSymbolizedFixture(argv, options, async (p, sym) => {
    assert.ok(sym.observe(p.pid).ok);
    // 1 s at 999 Hz is ~1,000 samples on an idle CPU; on a loaded machine
    // record again (up to 5 s in all) until there are 500.
    const samples = await perfSamplesAtLeast(p.pid, 500);
    // The kptr_restrict test (another file, maybe running in parallel)
    // hides kernel addresses for a fraction of a second: never load then.
    for (let i = 0; i < 5 && sym.kernelWarning(); i++) {
      await new Promise((r) => setTimeout(r, 500));
      sym.reloadKernel();
    }
    const c = compare(sym, p.pid, samples);
    return { c, stats: sym.stats(), sym };
  });
}

function assertAgrees(c: Comparison, what: string) {
  // 999 Hz for 1 s of a busy process; a loaded machine gives fewer.
  assert.ok(c.samples > 200, `${what}: only ${c.samples} samples`);
  assert.deepStrictEqual(
    c.disagreements.slice(0, 10),
    [],
    `${what}: ${c.disagreements.length} of ${c.frames} frames differ from perf`,
  );
  assert.ok(c.agree > c.samples * 3, `${what}: ${c.agree} frames compared`);
  assert.ok(
    c.boundary <= Math.max(3, c.frames / 1000),
    `${what}: ${c.boundary} frames at a function's first byte`,
  );
}

/** The leaf split, as fractions of the samples whose leaf is one of `names`. */
function assertSplit(c: Comparison, expected: Record<string, number>) {
  let total = 0;
  for (const n of Object.keys(expected)) total += c.leaves.get(n) ?? 0;
  assert.ok(total > c.samples * 0.9, `leaves: ${[...c.leaves]}`);
  for (const [n, share] of Object.entries(expected)) {
    const got = (c.leaves.get(n) ?? 0) / total;
    // Sampling noise: 4 standard errors of a proportion (about 6 points at
    // 1,000 samples of a 50% share), at least 3 points.
    const tolerance = Math.max(
      0.03,
      4 * Math.sqrt(share * (1 - share) / total),
    );
    assert.ok(
      Math.abs(got - share) < tolerance,
      `${n}: ${(got * 100).toFixed(1)}% of ${total} samples, expected ${
        share * 100
      }% ± ${(tolerance * 100).toFixed(1)}`,
    );
  }
}

const perfOk = await requireTool("perf", ["--version"]);

/**
 * Registers a test that needs perf: ignored where perf is missing (in CI
 * requireTool has thrown instead, failing the file).
 */
function perfTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, ignore: !perfOk, sanitizeResources: false, fn });
}

perfTest("perf agrees: PIE executable, split 50/30/20", async () => {
  const { c } = await profileFixture("hotspots", "split");
  assertAgrees(c, "PIE");
  assertSplit(c, { hot_alpha: 0.5, hot_beta: 0.3, hot_gamma: 0.2 });
  // Every stack is main -> run_workload -> hot_*: frames in order.
  const full = c.ours.filter((s) =>
    s.length >= 3 && s[1].name === "run_workload" && s[2].name === "main"
  );
  assert.ok(full.length > c.samples * 0.9);
});

perfTest(
  "perf agrees: non-PIE executable with the hot function in libhotlib.so",
  async () => {
    const { c } = await profileFixture("hotspots-nopie", "lib");
    assertAgrees(c, "non-PIE + .so");
    assertSplit(c, { hotlib_alpha: 0.5, hot_beta: 0.3, hot_gamma: 0.2 });
    const lib = c.ours.flat().find((f) => f.name === "hotlib_alpha")!;
    assert.match(lib.module, /\/libhotlib\.so$/);
    assert.match(lib.mapping!.buildId!, /^[0-9a-f]{40}$/);
    const exe = c.ours.flat().find((f) => f.name === "hot_beta")!;
    // Non-PIE: mapped at its link address, so the bias is 0.
    assert.ok(exe.address < 0x1000000n);
  },
);

perfTest(
  "perf agrees: stripped PIE whose symbols are in a .gnu_debuglink file",
  async () => {
    const { c, stats } = await profileFixture("hotspots-debuglink", "split");
    assertAgrees(c, "debuglink");
    assertSplit(c, { hot_alpha: 0.5, hot_beta: 0.3, hot_gamma: 0.2 });
    assert.ok(stats.debugFiles.debugLink >= 1);
  },
);

perfTest(
  "stripped PIE whose debug file is found by build id in debugDirs",
  async () => {
    // perf does not know this debug dir: it sees no symbols here, so the
    // check is that we name what perf names in the unstripped twin.
    const { c, stats } = await profileFixture("hotspots-buildid", "split", {
      debugDirs: [`${FIXTURES_BUILD}/debug-root`, "/usr/lib/debug"],
    });
    assertSplit(c, { hot_alpha: 0.5, hot_beta: 0.3, hot_gamma: 0.2 });
    assert.ok(stats.debugFiles.buildId >= 1);
    // Frames may differ only inside the stripped file itself, where perf
    // lacks the symbols (and then it has no name or a wrong neighbour's).
    const elsewhere = c.disagreements.filter((d) =>
      !/\(\S*\/hotspots-buildid\) ours=\w+ \(\S*\/hotspots-buildid,/.test(d)
    );
    assert.deepStrictEqual(elsewhere, []);
    // Without the debug dir the same addresses are unnamed, never misnamed.
    const p = await startBuiltFixture(["hotspots-buildid", "--seconds", "2"]);
    const bare = new Symbolizer({ debugDirs: [] });
    try {
      const m = bare.mappings(p.pid).find((m) =>
        m.file.endsWith("/hotspots-buildid")
      )!;
      const addr = c.ours.flat().find((f) => f.name === "hot_alpha")!.address;
      // Same binary, possibly another load address: rebase.
      const first = c.ours.flat().find((f) => f.name === "hot_alpha")!;
      const rebased = addr - first.mapping!.start + m.start;
      const [f] = bare.user(p.pid, [rebased]);
      assert.strictEqual(f.symbolized, false);
      assert.strictEqual(f.reason, "no-symbol");
      assert.match(f.name, /hotspots-buildid\+0x[0-9a-f]+$/);
    } finally {
      bare.close();
      await p.stop();
    }
  },
);

perfTest("perf agrees: kernel frames of a syscall-heavy loop", async () => {
  const { c, stats } = await profileFixture("hotspots", "syscalls");
  assertAgrees(c, "syscalls");
  const kernel = c.ours.flat().filter((f) => f.kind === "kernel");
  assert.ok(kernel.length > c.samples, `${kernel.length} kernel frames`);
  assert.ok(kernel.every((f) => f.symbolized));
  assert.ok(kernel.some((f) => /getppid/.test(f.name)));
  assert.ok(c.ours.flat().some((f) => f.name === "syscall_loop"));
  assert.strictEqual(stats.kernel.state, "ok");
});

perfTest(
  "perf agrees: 4096 call paths (paths mode), every frame named",
  async () => {
    const { c, stats } = await profileFixture("hotspots", "paths");
    assertAgrees(c, "paths");
    const names = new Set(c.ours.flat().map((f) => f.name));
    for (const n of ["node0", "node1", "pad", "path_leaf", "run_workload"]) {
      assert.ok(names.has(n), `${n} missing from ${[...names]}`);
    }
    const distinct = new Set(
      c.ours.map((s) => s.map((f) => f.name).join(";")),
    );
    assert.ok(distinct.size > 200, `${distinct.size} distinct stacks`);
    const depths = c.ours.map((s) => s.length);
    assert.ok(Math.max(...depths) >= 18, `max depth ${Math.max(...depths)}`);
    assert.strictEqual(stats.frames.unresolved["no-symbol"], 0);
  },
);
