/**
 * JIT frames: a real `node --perf-basic-prof` process checked against perf,
 * and perf maps that are malformed, growing, or huge (50 MB), through a fake
 * /proc so the counts are exact.
 */
import assert from "node:assert";
import { Symbolizer } from "./symbolizer.ts";
import { PerfMap } from "./perf_map.ts";
import { requireTool, startFixture } from "./fixture_process.ts";
import { perfSamplesAtLeast } from "./perf_samples.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

/** C++ names demangled by binutils' c++filt, without parameters (as perf). */
async function demangle(names: string[]): Promise<string[]> {
  const child = new Deno.Command("c++filt", {
    args: ["-p"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  // Read while writing: c++filt blocks once its output pipe is full.
  const output = child.output();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(names.join("\n") + "\n"));
  await w.close();
  const out = await output;
  return new TextDecoder().decode(out.stdout).split("\n").slice(
    0,
    names.length,
  );
}

const JIT_SCRIPT = `
const fs = require("fs");
function hotJsFunction(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}
let sink = 0;
const t0 = Date.now();
for (let i = 0; i < 300; i++) sink += hotJsFunction(1e5); // optimize it
const m = process.argv.indexOf("--marker");
fs.writeFileSync(process.argv[m + 1] + ".tmp", process.pid + "\\n");
fs.renameSync(process.argv[m + 1] + ".tmp", process.argv[m + 1]);
while (Date.now() - t0 < 15000) sink += hotJsFunction(1e6);
`;

Deno.test({
  name: "JIT: node --perf-basic-prof frames are named as perf names them",
  ...opts,
  async fn() {
    if (!await requireTool("node") || !await requireTool("perf")) return;
    const script = Deno.makeTempFileSync({ suffix: ".js" });
    Deno.writeTextFileSync(script, JIT_SCRIPT);
    // node --perf-basic-prof also writes a V8 log (isolate-*.log) into its
    // working directory: give it a temporary one.
    const cwd = Deno.makeTempDirSync({ prefix: "symbols-node-" });
    const p = await startFixture(["node", "--perf-basic-prof", script], {
      cwd,
    });
    const sym = new Symbolizer();
    try {
      assert.ok(sym.observe(p.pid).ok);
      // Direct: the perf map's own entry for the optimized function.
      const mapText = Deno.readTextFileSync(`/tmp/perf-${p.pid}.map`);
      const line = mapText.split("\n").find((l) =>
        / JS:\*hotJsFunction /.test(l)
      )!;
      const [start, size] = line.split(" ").map((x) => parseInt(x, 16));
      const [f] = sym.user(p.pid, [BigInt(start + Math.floor(size / 2))]);
      assert.strictEqual(f.kind, "jit");
      assert.strictEqual(f.module, `/tmp/perf-${p.pid}.map`);
      assert.match(f.name, /^JS:\*hotJsFunction /);
      // Against perf, for every frame of every sample.
      const samples = await perfSamplesAtLeast(p.pid, 500);
      let jit = 0, agree = 0;
      const differ: string[] = [];
      for (const s of samples) {
        const user = s.filter((x) =>
          !/^\[.*\]$/.test(x.dso) || x.dso === "[vdso]"
        );
        const ours = sym.user(p.pid, user.map((x) => x.address));
        for (let i = 0; i < user.length; i++) {
          if (user[i].sym === "[unknown]") continue;
          if (user[i].dso.endsWith(".map")) jit++;
          if (user[i].sym === ours[i].name) agree++;
          else {differ.push(
              `${user[i].sym} (${user[i].dso}) vs ${ours[i].name}`,
            );}
        }
      }
      // Sanity floors only (a loaded machine gives node little CPU); the
      // check is the agreement below.
      assert.ok(samples.length > 50, `${samples.length} samples`);
      assert.ok(jit > samples.length * 0.2, `${jit} JIT frames`);
      // perf demangles C++ names (without parameters); we do not: compare
      // ours through c++filt -p.
      const mangled = differ.filter((d) => / vs _Z\S+$/.test(d));
      if (mangled.length) {
        const demangled = await demangle(
          mangled.map((d) => d.split(" vs ")[1]),
        );
        for (let i = 0; i < mangled.length; i++) {
          const perfName = mangled[i].replace(/ \(\S+\) vs .*$/, "");
          if (demangled[i] === perfName) {
            differ.splice(differ.indexOf(mangled[i]), 1);
          }
        }
      }
      assert.deepStrictEqual(
        differ.slice(0, 10),
        [],
        `${differ.length} differ`,
      );
      assert.ok(agree > samples.length);
      assert.ok(sym.stats().perfMaps.entries > 100);
    } finally {
      sym.close();
      await p.stop();
      Deno.removeSync(script);
      Deno.removeSync(cwd, { recursive: true });
    }
  },
});

/** The host pid of the process whose innermost NSpid is `nspid` and whose
 * command line mentions `needle`, or 0. */
function hostPidOf(nspid: number, needle: string): number {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
      const ids = /^NSpid:\s*([\d\s]+)$/m.exec(status)?.[1].trim().split(/\s+/);
      if (!ids || ids.length < 2 || Number(ids[ids.length - 1]) !== nspid) {
        continue;
      }
      if (Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(needle)) {
        return Number(e.name);
      }
    } catch { /* gone meanwhile */ }
  }
  return 0;
}

Deno.test({
  name:
    "JIT in another pid and mount namespace: /proc/PID/root/tmp/perf-NSPID.map",
  ...opts,
  async fn() {
    if (
      !await requireTool("node") ||
      !await requireTool("unshare", ["--mount", "--pid", "--fork", "true"])
    ) return;
    // Outside /tmp: inside the namespace /tmp is a private tmpfs.
    const dir = Deno.makeTempDirSync({
      dir: "/var/tmp",
      prefix: "symbols-jitns-",
    });
    const script = `${dir}/jit.js`, marker = `${dir}/marker`;
    Deno.writeTextFileSync(script, JIT_SCRIPT);
    const child = new Deno.Command("unshare", {
      args: [
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t tmpfs tmpfs /tmp && exec node --perf-basic-prof "$0" --marker "$1"',
        script,
        marker,
      ],
      stdout: "null",
      stderr: "null",
      cwd: dir, // node's V8 log (isolate-*.log) lands here, removed below
    }).spawn();
    let hostPid = 0;
    const sym = new Symbolizer();
    try {
      const deadline = Date.now() + 15_000;
      let nspid = 0;
      while (Date.now() < deadline && !nspid) {
        try {
          nspid = Number(Deno.readTextFileSync(marker).trim());
        } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(nspid > 0, "the namespaced node did not start");
      for (let t = 0; t < 50 && hostPid <= 1; t++) {
        hostPid = hostPidOf(nspid, script);
        if (hostPid <= 1) await new Promise((r) => setTimeout(r, 40));
      }
      assert.ok(
        hostPid > 1,
        `host pid of ns pid ${nspid} (${script}) not found`,
      );
      const r = sym.observe(hostPid);
      assert.ok(r.ok && r.foreignMountNamespace);
      assert.strictEqual(r.nspid, nspid);
      // Ground truth: the map as the process wrote it, in its own /tmp.
      const own = `/proc/${hostPid}/root/tmp/perf-${nspid}.map`;
      const line = Deno.readTextFileSync(own).split("\n").find((l) =>
        / JS:\*hotJsFunction /.test(l)
      )!;
      const [start, size] = line.split(" ").map((x) => parseInt(x, 16));
      const [f] = sym.user(hostPid, [BigInt(start + Math.floor(size / 2))]);
      assert.strictEqual(f.kind, "jit");
      assert.match(f.name, /^JS:\*hotJsFunction /);
      assert.strictEqual(f.module, own);
    } finally {
      sym.close();
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      if (hostPid > 1) {
        try {
          Deno.kill(hostPid, "SIGKILL");
        } catch { /* gone */ }
      }
      await child.status;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/**
 * Runs `fn` on a fake /proc with pid 77 that has one anonymous executable
 * mapping (`perfMap` is where its perf map goes, `symbolizer` makes one that
 * reads both), removing it all afterwards.
 */
function withFakeProc(
  fn: (f: {
    perfMap: string;
    symbolizer: (o?: ConstructorParameters<typeof Symbolizer>[0]) => Symbolizer;
  }) => void,
) {
  const root = Deno.makeTempDirSync({ prefix: "symbols-jit-" });
  try {
    Deno.mkdirSync(`${root}/proc/77`, { recursive: true });
    Deno.writeTextFileSync(
      `${root}/proc/77/maps`,
      "7f0000000000-7f0010000000 rwxp 00000000 00:00 0 \n",
    );
    fn({
      perfMap: `${root}/perf-77.map`,
      symbolizer: (o = {}) =>
        new Symbolizer({ procRoot: `${root}/proc`, perfMapDir: root, ...o }),
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test({
  name: "perf map: malformed lines counted, growth read incrementally",
  ...opts,
  fn() {
    withFakeProc((f) => {
      Deno.writeTextFileSync(
        f.perfMap,
        [
          "7f0000001000 100 JS:*first a.js:1",
          "not-hex 10 bad",
          "7f0000002000", // one field
          "7f0000002000 10", // no name
          "7f0000003000 10 " + "x".repeat(10_000), // longer than any line
          "0x7f0000004000 0x20 with_0x_prefix",
          "7f0000005000 10 crlf\r",
          "7f000000", // unterminated: waits for the writer
        ].join("\n"),
      );
      const sym = f.symbolizer();
      const a = sym.user(77, [
        0x7f0000001080n,
        0x7f0000004010n,
        0x7f0000005001n,
        0x7f0000006004n,
      ]);
      assert.deepStrictEqual(a.map((x) => x.name), [
        "JS:*first a.js:1",
        "with_0x_prefix",
        "crlf",
        `${"[anon]"}+0x6004`,
      ]);
      assert.strictEqual(a[3].reason, "no-jit-symbol");
      let s = sym.stats().perfMaps;
      assert.deepStrictEqual([s.entries, s.malformed], [3, 4]);
      // The writer finishes the last line and adds one: a miss re-reads
      // only what is new.
      Deno.writeTextFileSync(f.perfMap, "6000 10 later\n", { append: true });
      const [b] = sym.user(77, [0x7f0000006004n]);
      assert.strictEqual(b.name, "later");
      s = sym.stats().perfMaps;
      assert.deepStrictEqual([s.entries, s.malformed], [4, 4]);
      // Newer entries covering reused memory win.
      Deno.writeTextFileSync(
        f.perfMap,
        "7f0000001000 100 JS:*reused b.js:9\n",
        {
          append: true,
        },
      );
      sym.user(77, [0x7f0000009000n]); // a miss: triggers the re-read
      const [c] = sym.user(77, [0x7f0000001080n]);
      assert.strictEqual(c.name, "JS:*reused b.js:9");
      sym.close();
    });
  },
});

Deno.test({
  name:
    "perf map: within one pass a map is read once; the next pass reads what is new",
  ...opts,
  fn() {
    withFakeProc((f) => {
      Deno.writeTextFileSync(f.perfMap, "7f0000001000 100 first\n");
      const sym = f.symbolizer();
      const names = (a: bigint) => sym.user(77, [a]).map((x) => x.name)[0];
      sym.pass(() => {
        assert.strictEqual(names(0x7f0000001010n), "first");
        // The JIT maps more code during the pass: this pass does not read
        // the map again, however many stacks miss.
        Deno.writeTextFileSync(f.perfMap, "7f0000002000 100 second\n", {
          append: true,
        });
        assert.strictEqual(names(0x7f0000002010n), "[anon]+0x2010");
        assert.strictEqual(names(0x7f0000002020n), "[anon]+0x2020");
        // A pass inside a pass is the same pass.
        sym.pass(() =>
          assert.strictEqual(names(0x7f0000002030n), "[anon]+0x2030")
        );
      });
      // The next pass reads it once, on its first miss.
      sym.pass(() => {
        assert.strictEqual(names(0x7f0000002010n), "second");
        Deno.writeTextFileSync(f.perfMap, "7f0000003000 100 third\n", {
          append: true,
        });
        assert.strictEqual(names(0x7f0000003010n), "[anon]+0x3010");
      });
      // Outside a pass, every miss reads what is new.
      assert.strictEqual(names(0x7f0000003010n), "third");
      sym.close();
    });
  },
});

Deno.test({
  name: "perf map: a 50 MB map is read within bounds, the excess counted",
  ...opts,
  fn() {
    withFakeProc((f) => {
      const lines = 1_050_000; // ~60 MB: under one 64 MiB read
      const file = Deno.openSync(f.perfMap, { write: true, create: true });
      const enc = new TextEncoder();
      let chunk = "", bytes = 0;
      for (let i = 0; i < lines; i++) {
        chunk += `${
          (0x7f0000000000 + i * 64).toString(16)
        } 40 JS:*fn_${i} /app/src/module_${i % 997}.js:${i % 5000}\n`;
        if (chunk.length > 1 << 20) {
          bytes += file.writeSync(enc.encode(chunk));
          chunk = "";
        }
      }
      bytes += file.writeSync(enc.encode(chunk));
      file.close();
      assert.ok(bytes > 50e6, `${bytes} bytes`);
      const maxCacheBytes = 64 << 20;
      const sym = f.symbolizer({ maxCacheBytes });
      const t0 = performance.now();
      const frames = sym.user(77, [
        0x7f0000000000n + 5n,
        0x7f0000000000n + 200_000n * 64n + 5n,
        0x7f0000000000n + 1_040_000n * 64n + 5n, // past the bound
      ]);
      const ms = performance.now() - t0;
      assert.strictEqual(frames[0].name, "JS:*fn_0 /app/src/module_0.js:0");
      assert.match(frames[1].name, /^JS:\*fn_200000 /);
      assert.strictEqual(frames[2].reason, "no-jit-symbol");
      const s = sym.stats();
      // Every line is either kept or counted as dropped; the memory held
      // stays within half the cache (the perf map's default share).
      assert.ok(s.perfMaps.entries > 300_000, `${s.perfMaps.entries} kept`);
      assert.strictEqual(s.perfMaps.entries + s.perfMaps.dropped, lines);
      assert.strictEqual(s.perfMaps.malformed, 0);
      assert.ok(s.perfMaps.bytes <= maxCacheBytes / 2, `${s.perfMaps.bytes}`);
      assert.ok(s.cacheBytes >= s.perfMaps.bytes);
      console.log(
        `50 MB perf map: ${ms.toFixed(0)} ms to read and index, ${
          (s.perfMaps.bytes / 1e6).toFixed(1)
        } MB held for ${s.perfMaps.entries} entries, ${s.perfMaps.dropped} dropped`,
      );
      sym.close();
    });
  },
});

Deno.test("PerfMap: a rewritten (shorter) file is re-read from the start", () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(path, "1000 10 old_one\n2000 10 old_two\n");
    const m = new PerfMap(path);
    m.refresh();
    Deno.writeTextFileSync(path, "3000 10 new\n");
    m.refresh();
    assert.strictEqual(m.lookup(0x3004)?.name, "new");
    assert.strictEqual(m.lookup(0x1004), undefined);
    assert.strictEqual(m.stats().resets, 1);
    assert.strictEqual(m.stats().entries, 1);
  } finally {
    Deno.removeSync(path);
  }
});
