/**
 * The Symbolizer on real processes in the hard cases: vDSO, kernel modules,
 * kptr_restrict, another mount namespace, a deleted binary, a process that
 * exited after observe(), a bad debuglink CRC, a missing pid, a corrupt ELF,
 * a tiny cache. Addresses come from the fixtures themselves (they print the
 * run-time addresses of their functions), from /proc/kallsyms, or from the
 * vDSO image, never from the code under test.
 */
import assert from "node:assert";
import { Symbolizer } from "./symbolizer.ts";
import {
  buildFixtures,
  type FixtureProcess,
  FIXTURES_BUILD,
  inCI,
  requireTool,
  startFixture,
} from "./fixture_process.ts";
import type { Frame } from "./frame.ts";
import {
  fixtureTestOptions as opts,
  startBuiltFixture,
  withSymbolizedFixture,
} from "./fixture_test_helpers.ts";
import { ElfFile, PT_LOAD } from "./elf_file.ts";
import { bytesSource } from "./byte_source.ts";
import { SymbolTable } from "./symbol_table.ts";
import { readVdsoImage } from "./vdso_image.ts";
import { ProcessGoneError } from "./errors.ts";

/** The address a bit inside the function at `start` (a sampled IP there). */
const inside = (start: bigint) => start + 4n;

/**
 * Symbolizes a sampled IP inside each of the fixture's functions `names`
 * (at the addresses it printed) and asserts that each frame bears its
 * function's name; returns the frames for the test's further checks.
 */
function assertNamed(
  sym: Symbolizer,
  p: FixtureProcess,
  names: string[],
): Frame[] {
  const frames = sym.user(p.pid, names.map((n) => inside(p.addresses.get(n)!)));
  assert.deepStrictEqual(frames.map((f) => f.name), names);
  return frames;
}

Deno.test({
  name: "PIE and shared library: fixture-printed addresses are named",
  ...opts,
  fn: () =>
    withSymbolizedFixture(["hotspots", "--seconds", "5"], {}, (p, sym) => {
      const frames = assertNamed(sym, p, [
        "main",
        "run_workload",
        "hot_alpha",
        "hot_beta",
        "hot_gamma",
        "hotlib_alpha",
      ]);
      assert.ok(frames.every((f) => f.symbolized && f.kind === "user"));
      assert.match(frames[5].module, /\/libhotlib\.so$/);
      assert.match(frames[0].module, /\/hotspots$/);
      // Return addresses are looked up at addr - 1: the first byte of a
      // function, given as a return address, belongs to the one before.
      const [leaf, ret] = sym.user(p.pid, [
        p.addresses.get("hot_beta")!,
        p.addresses.get("hot_beta")!,
      ]);
      assert.strictEqual(leaf.name, "hot_beta");
      assert.notStrictEqual(ret.name, "hot_beta");
      // The mapping carries what pprof needs.
      const m = frames[0].mapping!;
      assert.ok(m.start <= frames[0].address && frames[0].address < m.limit);
      assert.match(m.buildId!, /^[0-9a-f]{40}$/);
      assert.strictEqual(
        frames[0].fileOffset,
        frames[0].address - m.start + m.offset,
      );
      const maps = sym.mappings(p.pid);
      assert.ok(maps.some((x) => x.file === "[vdso]"));
      assert.ok(maps.some((x) => x.file.endsWith("/libc.so.6")));
    }),
});

Deno.test({
  name: "non-PIE: bias 0, and a function pointer into a PLT entry is name@plt",
  ...opts,
  fn: () =>
    withSymbolizedFixture(
      ["hotspots-nopie", "--seconds", "5"],
      {},
      (p, sym) => {
        const a = p.addresses;
        assert.ok(a.get("hot_alpha")! < 0x1000000n); // linked at 0x400000
        const f = sym.user(p.pid, [
          inside(a.get("hot_alpha")!),
          inside(a.get("hotlib_alpha")!),
        ]);
        assert.strictEqual(f[0].name, "hot_alpha");
        // In a non-PIE executable &hotlib_alpha is its canonical PLT entry.
        assert.strictEqual(f[1].name, "hotlib_alpha@plt");
      },
    ),
});

Deno.test({
  name: "vDSO: clock_gettime in the [vdso] mapping is named",
  ...opts,
  fn: () =>
    withSymbolizedFixture(["hotspots", "--seconds", "5"], {}, (p, sym) => {
      // Ground truth: the target's own vDSO image, read from /proc/PID/mem.
      const image = readVdsoImage(p.pid)!;
      const elf = ElfFile.parse(bytesSource(image, "[vdso]"));
      const { table } = SymbolTable.fromElf(elf);
      const fn = table.findByName("__vdso_clock_gettime")!;
      const load = elf.segments.find((s) => s.type === PT_LOAD)!;
      const m = sym.mappings(p.pid).find((x) => x.file === "[vdso]")!;
      const addr = m.start +
        BigInt(fn.start - load.vaddr + load.offset) - m.offset;
      const [f] = sym.user(p.pid, [inside(addr)]);
      assert.strictEqual(f.name, "__vdso_clock_gettime");
      assert.strictEqual(f.module, "[vdso]");
      assert.strictEqual(f.symbolized, true);
    }),
});

/** Text symbols of /proc/kallsyms, read with no code under test. */
function kallsymsText(): { addr: bigint; name: string; module?: string }[] {
  const out = [];
  for (const line of Deno.readTextFileSync("/proc/kallsyms").split("\n")) {
    const m = /^([0-9a-f]+) ([tTwW]) (\S+)(?:\t\[(\S+)\])?$/.exec(line);
    if (m) out.push({ addr: BigInt("0x" + m[1]), name: m[3], module: m[4] });
  }
  return out;
}

Deno.test({
  name: "kernel: kallsyms names, module symbols as [module], unknowns unnamed",
  ...opts,
  fn() {
    const syms = kallsymsText();
    const sym = new Symbolizer();
    try {
      const byAddr = new Map<bigint, string[]>();
      for (const s of syms) {
        byAddr.set(s.addr, [...(byAddr.get(s.addr) ?? []), s.name]);
      }
      // Symbols at least 8 bytes long (the next one is further away).
      const unique = syms.filter((s, i) =>
        byAddr.get(s.addr)![0] === s.name &&
        (i + 1 >= syms.length || syms[i + 1].addr > s.addr + 8n)
      );
      const core = unique.filter((s) => !s.module);
      assert.ok(core.length > 1000);
      const pick = core.filter((_, i) => i % 97 === 0);
      const frames = sym.kernel(pick.map((s) => s.addr + 1n));
      for (let i = 0; i < pick.length; i++) {
        assert.strictEqual(frames[i].module, "[kernel.kallsyms]");
        assert.strictEqual(frames[i].symbolized, true);
        // The name is the symbol's, or an alias at the same address.
        const aliases = byAddr.get(pick[i].addr)!;
        assert.ok(aliases.includes(frames[i].name), `${frames[i].name}`);
      }
      // A module symbol; BPF programs ("[bpf]") come and go with other
      // tests, so they are not used for this.
      const mod = unique.find((s) => s.module && s.module !== "bpf");
      if (mod) {
        const [f] = sym.kernel([mod.addr + 1n]);
        assert.strictEqual(f.module, `[${mod.module}]`);
        assert.strictEqual(f.name, mod.name);
      } else {
        console.error(
          "no module symbols in /proc/kallsyms: module case not run",
        );
      }
      // Return addresses: addr - 1, so a function's first byte as a return
      // address is attributed to the symbol before it.
      const [leaf, ret] = sym.kernel([pick[5].addr, pick[5].addr]);
      assert.strictEqual(leaf.symbolized, true);
      assert.notStrictEqual(ret.name, leaf.name);
      // A BigUint64Array takes the no-BigInt path; same answers.
      const arr = BigUint64Array.from(
        pick.slice(0, 50).map((s) => s.addr + 1n),
      );
      assert.deepStrictEqual(
        sym.kernel(arr).map((f) => f.name),
        frames.slice(0, 50).map((f) => f.name),
      );
      const [none] = sym.kernel([0x1000n]);
      assert.strictEqual(none.symbolized, false);
      assert.strictEqual(none.name, "[kernel.kallsyms]+0x1000");
      assert.strictEqual(sym.kernelWarning(), undefined);
    } finally {
      sym.close();
    }
  },
});

Deno.test({
  name:
    "kernel: kptr_restrict=2 is reported, frames are unnamed, never misnamed",
  ...opts,
  fn() {
    const path = "/proc/sys/kernel/kptr_restrict";
    const before = Deno.readTextFileSync(path).trim();
    const addr = kallsymsText().find((s) => s.name === "schedule")?.addr ??
      kallsymsText()[100].addr;
    const sym = new Symbolizer();
    try {
      Deno.writeTextFileSync(path, "2");
      sym.kernelWarning(); // loads kallsyms while restricted
    } finally {
      Deno.writeTextFileSync(path, before);
    }
    try {
      assert.strictEqual(Deno.readTextFileSync(path).trim(), before);
      const w = sym.kernelWarning()!;
      assert.strictEqual(w.state, "restricted");
      assert.match(w.message, /kptr_restrict/);
      const frames = sym.kernel([addr + 1n, addr + 9n]);
      assert.deepStrictEqual(frames.map((f) => f.name), [
        `[kernel.kallsyms]+0x${(addr + 1n).toString(16)}`,
        `[kernel.kallsyms]+0x${(addr + 9n).toString(16)}`,
      ]);
      assert.ok(frames.every((f) => f.reason === "kernel-restricted"));
      assert.strictEqual(sym.stats().frames.unresolved["kernel-restricted"], 2);
      // Reloading after the restriction is lifted names them again.
      sym.reloadKernel();
      assert.strictEqual(sym.kernel([addr + 1n])[0].symbolized, true);
    } finally {
      sym.close();
    }
  },
});

Deno.test({
  name: "another mount namespace: binary and debug file visible only inside",
  ...opts,
  async fn() {
    if (!await requireTool("unshare", ["--mount", "true"])) return;
    await buildFixtures();
    // An empty host folder; inside the new namespace a tmpfs over it holds
    // a copy of the stripped binary, its library and its debuglink file, so
    // neither exists at that path on the host.
    const dir = Deno.makeTempDirSync({ prefix: "symbols-mntns-" });
    const b = FIXTURES_BUILD;
    const script = `mount -t tmpfs tmpfs "$0" && mkdir "$0/.debug" &&
cp ${b}/hotspots-debuglink ${b}/libhotlib.so "$0/" &&
cp ${b}/.debug/hotspots-debuglink.debug "$0/.debug/" &&
exec "$0/hotspots-debuglink" "$@"`;
    const p = await startFixture(["--seconds", "5"], {
      wrap: [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        dir,
      ],
    });
    const sym = new Symbolizer({ debugDirs: [] });
    try {
      assert.deepStrictEqual([...Deno.readDirSync(dir)], []); // host view
      const r = sym.observe(p.pid);
      assert.strictEqual(r.foreignMountNamespace, true);
      const f = assertNamed(sym, p, ["hot_alpha", "hotlib_alpha"]);
      assert.strictEqual(f[0].module, `${dir}/hotspots-debuglink`);
      assert.strictEqual(sym.stats().debugFiles.debugLink, 1);
    } finally {
      sym.close();
      await p.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deleted and replaced binary: symbolized from what the process maps",
  ...opts,
  async fn() {
    await buildFixtures();
    const dir = Deno.makeTempDirSync({ prefix: "symbols-deleted-" });
    Deno.copyFileSync(`${FIXTURES_BUILD}/hotspots`, `${dir}/hotspots`);
    Deno.copyFileSync(`${FIXTURES_BUILD}/libhotlib.so`, `${dir}/libhotlib.so`);
    try {
      await withSymbolizedFixture(
        [`${dir}/hotspots`, "--seconds", "5"],
        {},
        (p, sym) => {
          Deno.removeSync(`${dir}/hotspots`);
          // Replace the library under the same path with another ELF file.
          Deno.removeSync(`${dir}/libhotlib.so`);
          Deno.copyFileSync("/bin/true", `${dir}/libhotlib.so`);
          const r = sym.observe(p.pid);
          assert.ok(r.ok);
          const f = assertNamed(sym, p, ["hot_gamma", "hotlib_alpha"]);
          assert.strictEqual(f[0].module, `${dir}/hotspots`);
        },
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "short-lived process: observed, exited, then symbolized; unobserved is process-gone",
  ...opts,
  async fn() {
    const sym = new Symbolizer();
    try {
      const p = await startBuiltFixture(["hotspots", "--mode", "short"]);
      assert.ok(sym.observe(p.pid).ok);
      const status = await p.exited; // ~200 ms
      assert.strictEqual(status.code, 0);
      assert.throws(() => Deno.statSync(`/proc/${p.pid}/maps`));
      assertNamed(sym, p, ["hot_alpha", "hotlib_alpha", "main"]);
      // One that was never observed before it exited.
      const q = await startBuiltFixture(["hotspots", "--mode", "short"]);
      await q.exited;
      const g = sym.user(q.pid, [q.addresses.get("hot_alpha")!, 0x1234n]);
      assert.deepStrictEqual(g.map((x) => x.reason), [
        "process-gone",
        "process-gone",
      ]);
      assert.strictEqual(g[1].name, "[unknown]+0x1234");
      const s = sym.stats();
      assert.strictEqual(s.frames.unresolved["process-gone"], 2);
      assert.strictEqual(s.observeFailures, 1);
    } finally {
      sym.close();
    }
  },
});

Deno.test({
  name: "debuglink with a bad CRC is rejected: unnamed, counted",
  ...opts,
  fn: () =>
    withSymbolizedFixture(
      ["badcrc/hotspots-badcrc", "--seconds", "5"],
      { debugDirs: [] },
      (p, sym) => {
        const [f] = sym.user(p.pid, [inside(p.addresses.get("hot_alpha")!)]);
        assert.strictEqual(f.symbolized, false);
        assert.strictEqual(f.reason, "no-symbol");
        assert.match(f.name, /hotspots-badcrc\+0x[0-9a-f]+$/);
        assert.strictEqual(sym.stats().debugFiles.rejectedCrc, 1);
      },
    ),
});

Deno.test({
  name: "missing pid and a corrupt ELF: partial results with exact counts",
  ...opts,
  fn() {
    // A fake /proc (procRoot) whose process maps a corrupt ELF, a real
    // libc, and nothing at 0x9000.
    const root = Deno.makeTempDirSync({ prefix: "symbols-proc-" });
    try {
      const corrupt = `${root}/corrupt.so`;
      const good = Deno.readFileSync("/bin/true");
      // A valid ELF header whose section table points far past the end.
      const bad = good.slice(0, 4096);
      Deno.writeFileSync(corrupt, bad);
      const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
      const libcStat = Deno.statSync(libc);
      Deno.mkdirSync(`${root}/4242`);
      Deno.writeTextFileSync(
        `${root}/4242/maps`,
        `10000-20000 r-xp 00000000 fe:01 ${
          Deno.statSync(corrupt).ino
        } ${corrupt}\n` +
          `7f0000026000-7f00001a0000 r-xp 00026000 fe:01 ${libcStat.ino} ${libc}\n` +
          `this line is not a mapping\n`,
      );
      const sym = new Symbolizer({ procRoot: root });
      const malloc = (() => {
        const { table } = SymbolTable.fromElf(
          ElfFile.parse(bytesSource(Deno.readFileSync(libc), libc)),
        );
        return table.findByName("malloc")!;
      })();
      const frames = sym.user(4242, [
        0x10010n,
        0x7f0000000000n + BigInt(malloc.start) + 4n,
        0x9000n,
        0x10020n,
      ]);
      assert.deepStrictEqual(frames.map((f) => f.reason), [
        "bad-elf",
        undefined,
        "no-mapping",
        "bad-elf",
      ]);
      assert.strictEqual(frames[1].name, "malloc");
      assert.strictEqual(frames[0].name, `${corrupt}+0x10`);
      assert.strictEqual(frames[2].name, "[unknown]+0x9000");
      const s = sym.stats();
      assert.strictEqual(s.frames.resolved, 1);
      assert.strictEqual(s.frames.unresolved["bad-elf"], 2);
      assert.strictEqual(s.frames.unresolved["no-mapping"], 1);
      // A pid that does not exist at all: observe fails, frames say so.
      const none = sym.observe(999999);
      assert.strictEqual(none.ok, false);
      assert.ok(none.error instanceof ProcessGoneError);
      assert.match(none.error.message, /999999\/maps/);
      const g = sym.user(999999, [1n, 2n, 3n]);
      assert.ok(g.every((f) => f.reason === "process-gone"));
      assert.strictEqual(sym.stats().frames.unresolved["process-gone"], 3);
      assert.strictEqual(sym.stats().observeFailures, 2);
      sym.close();
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "a cache smaller than one table: evicts, re-parses, answers stay right",
  ...opts,
  fn: () =>
    withSymbolizedFixture(
      ["hotspots", "--seconds", "5"],
      { maxCacheBytes: 1024 },
      (p, sym) => {
        for (let round = 0; round < 3; round++) {
          assertNamed(sym, p, ["hot_alpha", "hotlib_alpha"]);
        }
        const s = sym.stats();
        assert.ok(s.evictions >= 2, `${s.evictions} evictions`);
        assert.ok(s.filesParsed <= 1);
      },
    ),
});

if (inCI) {
  Deno.test("CI: unshare and perf are present", async () => {
    assert.ok(await requireTool("unshare", ["--mount", "true"]));
  });
}

Deno.test({
  name:
    "no fd leak: 20 short processes observed, symbolized, forgotten; maxProcesses",
  ...opts,
  async fn() {
    await buildFixtures();
    // fds on this test's own copies (other tests may run in this process
    // at the same time, so only these are counted).
    const fds = () =>
      [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${e.name}`).includes(
            "/symbols-leak-",
          );
        } catch {
          return false;
        }
      }).length;
    const sym = new Symbolizer({ maxProcesses: 5 });
    const base = fds();
    const pids: number[] = [];
    for (let i = 0; i < 20; i++) {
      // Each a fresh copy: a new file identity, a new fd to keep.
      const dir = Deno.makeTempDirSync({ prefix: "symbols-leak-" });
      Deno.copyFileSync(`${FIXTURES_BUILD}/hotspots`, `${dir}/hotspots`);
      Deno.copyFileSync(
        `${FIXTURES_BUILD}/libhotlib.so`,
        `${dir}/libhotlib.so`,
      );
      const p = await startFixture([`${dir}/hotspots`, "--seconds", "10"]);
      assert.ok(sym.observe(p.pid).ok);
      const [f] = sym.user(p.pid, [p.addresses.get("hot_beta")! + 4n]);
      assert.strictEqual(f.name, "hot_beta");
      pids.push(p.pid);
      await p.stop();
      Deno.removeSync(dir, { recursive: true });
    }
    // Only the 5 most recent are remembered, with their two private files
    // each (deleted now, still open); the rest were closed.
    const s = sym.stats();
    assert.strictEqual(s.processes, 5);
    assert.strictEqual(fds() - base, 5 * 2);
    for (const pid of pids) sym.forget(pid);
    assert.strictEqual(fds(), base);
    sym.close();
    assert.strictEqual(fds(), base);
  },
});

Deno.test({
  name:
    "a mapping added after observe() (dlopen) is found by re-reading maps on a miss",
  ...opts,
  fn() {
    const root = Deno.makeTempDirSync({ prefix: "symbols-reload-" });
    try {
      const libc = "/usr/lib/x86_64-linux-gnu/libc.so.6";
      const ino = Deno.statSync(libc).ino;
      Deno.mkdirSync(`${root}/50`);
      Deno.writeTextFileSync(`${root}/50/maps`, "");
      const sym = new Symbolizer({ procRoot: root, mapsReloadMs: 0 });
      assert.ok(sym.observe(50).ok);
      const { table } = SymbolTable.fromElf(
        ElfFile.parse(bytesSource(Deno.readFileSync(libc), libc)),
      );
      const malloc = table.findByName("malloc")!;
      const addr = 0x7f0000000000n + BigInt(malloc.start) + 4n;
      // "dlopen": the process maps libc after it was observed.
      Deno.writeTextFileSync(
        `${root}/50/maps`,
        `7f0000026000-7f00001a0000 r-xp 00026000 fe:01 ${ino} ${libc}\n`,
      );
      const [f] = sym.user(50, [addr]);
      assert.strictEqual(f.name, "malloc");
      assert.strictEqual(sym.stats().mapsReloads, 1);
      // Once the process is gone, a miss is just a miss (no re-read loop).
      Deno.removeSync(`${root}/50`, { recursive: true });
      const [g] = sym.user(50, [0x1000n]);
      assert.strictEqual(g.reason, "no-mapping");
      assert.strictEqual(sym.user(50, [addr])[0].name, "malloc"); // kept
      sym.close();
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "steady state: 200,000 frames of the paths fixture, nothing retained grows",
  ...opts,
  fn: () =>
    withSymbolizedFixture(
      ["hotspots", "--seconds", "30", "--mode", "paths"],
      {},
      (p, sym) => {
        // The functions of the paths mode, at their run-time addresses: the
        // ELF symbols (binutils-independent: the ones the fixture prints
        // anchor the bias) of node0/node1/pad/path_leaf.
        const { table } = SymbolTable.fromElf(
          ElfFile.parse(
            bytesSource(
              Deno.readFileSync(`${FIXTURES_BUILD}/hotspots`),
              "hotspots",
            ),
          ),
        );
        const bias = p.addresses.get("main")! -
          BigInt(table.findByName("main")!.start);
        const names = [
          "node0",
          "node1",
          "pad",
          "path_leaf",
          "run_workload",
          "main",
        ];
        const starts = names.map((n) =>
          bias + BigInt(table.findByName(n)!.start)
        );
        const stack = (c: number) => {
          const s: bigint[] = [starts[3] + 4n];
          for (let l = 11; l >= 1; l--) s.push(starts[(c >> l) & 1] + 8n);
          for (let k = 0; k < c % 8; k++) s.push(starts[2] + 8n);
          s.push(starts[4] + 8n, starts[5] + 8n);
          return s;
        };
        const run = (n: number) => {
          let frames = 0;
          for (let c = 0; frames < n; c = (c + 1) % 4096) {
            const f = sym.user(p.pid, stack(c));
            frames += f.length;
            if (f[0].name !== "path_leaf") throw new Error(f[0].name);
          }
        };
        run(20_000); // warm up: tables parsed, names decoded
        const before = sym.stats();
        run(200_000);
        const s = sym.stats();
        // Everything the symbolizer retains is accounted in stats (the heap
        // itself is not asserted: without a forced GC it measures garbage).
        assert.strictEqual(s.cacheBytes, before.cacheBytes);
        assert.strictEqual(s.files, before.files);
        assert.strictEqual(s.symbols, before.symbols);
        assert.strictEqual(s.processes, 1);
        assert.strictEqual(s.frames.unresolved["no-symbol"], 0);
        assert.ok(s.frames.resolved - before.frames.resolved >= 200_000);
      },
    ),
});
