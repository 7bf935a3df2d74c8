import assert from "node:assert/strict";
import { vmNeeds } from "./artifacts.ts";
import { findVm, loadVmTable } from "./vms.ts";
import { damage, writeFakeCache } from "../../tests/vm/fake_cache.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test("--help works on every subcommand", async () => {
  for (
    const [args, want] of [
      [["--help"], "Commands:"],
      [["test", "--help"], "Usage: deno task test:vm <vm|all>"],
      [["list", "--help"], "Usage: deno task vm:list"],
      [["fetch", "-h"], "Usage: deno run -A lib/vm/main.ts fetch"],
    ] as const
  ) {
    const r = await run([...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(want), `${args.join(" ")}: ${r.stdout}`);
  }
});

Deno.test("usage errors exit 2 with a message", async () => {
  for (
    const [args, want] of [
      [[], "Commands:"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["test"], "name a VM or 'all'"],
      [["test", "nosuch"], 'unknown VM "nosuch"'],
      [["test", "default", "--accel", "xen"], "--accel must be"],
      [
        ["test", "default", "--smoke", "--guest-cmd", "x"],
        "exclude each other",
      ],
      [["test", "default", "--duration", "soon"], 'invalid --duration "soon"'],
      [["test", "default", "--guest-cmd", ""], "--guest-cmd needs a command"],
      [["test", "default", "--timeout=-1"], "--timeout must be a positive"],
      [["test", "default", "--json", "/nonexistent-dir/r.json"], "--json"],
      [["test", "default", "--bogus"], "bogus"],
    ] as const
  ) {
    const r = await run([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.ok(
      (r.stdout + r.stderr).includes(want),
      `${args.join(" ")}: ${r.stdout}${r.stderr}`,
    );
  }
});

Deno.test("list shows every VM and its cache state without downloading", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const r = await run(["list"], { STREAMPROF_VM_CACHE: cache });
    assert.equal(r.code, 0, r.stderr);
    for (const name of ["default", "profiler-x86", "ebpf-kernel-5.8"]) {
      assert.ok(r.stdout.includes(name), name);
    }
    assert.match(r.stdout, /9 to fetch \(fetched on the next run\)/);
    const j = await run(["list", "--json"], { STREAMPROF_VM_CACHE: cache });
    const rows = JSON.parse(j.stdout);
    assert.deepEqual(
      rows.map((x: { name: string; cached: boolean }) => [x.name, x.cached]),
      [
        ["default", false],
        ["profiler-x86", false],
        ["ebpf-kernel-5.8", false],
      ],
    );
    assert.deepEqual([...Deno.readDirSync(cache)], []);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("list tells the truth: damaged artifacts and a garbage manifest are reported, not 'cached'", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const table = await loadVmTable();
    const vm = findVm(table, "default");
    const artifacts = await writeFakeCache(cache, table, vm);
    let j = JSON.parse(
      (await run(["list", "--json"], { STREAMPROF_VM_CACHE: cache })).stdout,
    );
    assert.equal(j[0].cached, true);
    const kernel = artifacts[vmNeeds(table, vm)[0].key];
    await damage(`${cache}/${kernel.file}`);
    const r = await run(["list"], { STREAMPROF_VM_CACHE: cache });
    assert.match(r.stdout, /1 damaged \(fetched on the next run\)/);
    assert.match(
      r.stdout,
      new RegExp(
        `damaged \\(default\\): ${
          kernel.key.replace(/[.+]/g, "\\$&")
        }: .* has sha256`,
      ),
    );
    j = JSON.parse(
      (await run(["list", "--json"], { STREAMPROF_VM_CACHE: cache })).stdout,
    );
    assert.equal(j[0].cached, false);
    assert.equal(j[0].damaged.length, 1);
    await Deno.writeTextFile(`${cache}/manifest.json`, "garbage");
    const g = await run(["list"], { STREAMPROF_VM_CACHE: cache });
    assert.match(
      g.stdout,
      /warning: .*manifest\.json is not valid JSON .*: nothing counts as cached/,
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("test --duration 0 (or TEST_DURATION=0) is a usage error before anything boots", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const env = { STREAMPROF_VM_CACHE: cache };
    const r = await run(["test", "default", "--duration", "0"], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--duration must be positive, got "0"/);
    assert.doesNotMatch(r.stderr, /boot|fetch/);
    const e = await run(["test", "default"], { ...env, TEST_DURATION: "0s" });
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /TEST_DURATION must be positive/);
    assert.deepEqual([...Deno.readDirSync(cache)], []);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
