import assert from "node:assert/strict";
import { findVm, loadVmTable } from "./vms.ts";
import { damage, writeFakeCache } from "../../tests/vm/fake_cache.ts";
import { runDeno } from "../../tests/run_command.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Runs `main.ts <args>`; returns exit code, stdout and stderr. */
function run(args: string[], env: Record<string, string> = {}) {
  return runDeno([MAIN, ...args], { env });
}

Deno.test("--help works on every subcommand", async () => {
  for (
    const [args, want] of [
      [["--help"], "Commands:"],
      [["test", "--help"], "Usage: deno task test:vm <vm|all|host>"],
      [["prune", "--help"], "Usage: deno task vm:prune"],
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
      [["test"], "name a VM, 'all' or 'host'"],
      [["test", "nosuch"], 'unknown VM "nosuch"'],
      [["test", "default", "--accel", "xen"], "--accel must be"],
      [
        ["test", "default", "--smoke", "--guest-cmd", "x"],
        "exclude each other",
      ],
      [
        ["test", "default", "--checks", "validate", "--", "true"],
        "exclude each other",
      ],
      [["test", "default", "--"], "-- needs a command"],
      [["test", "default", "--checks", "bogus"], 'unknown check "bogus"'],
      [
        ["test", "all", "--kernel-version", "6.1.1-1"],
        "pins the kernel of one VM",
      ],
      [["test", "default", "--kernel-version", "x y"], "not a Debian version"],
      [["test", "default", "--cpus", "0"], "--cpus must be a positive integer"],
      [["test", "default", "--memory", "100M"], "--memory must be"],
      [["test", "default", "--jobs", "x"], "--jobs must be a positive integer"],
      [["test", "default", "--share", "/nonexistent-dir-x"], "is not a folder"],
      [["test", "default", "--share", "/"], "not that folder"],
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

Deno.test("list shows every row, what its line resolves to, its cache state, without downloading", () =>
  withTempDir(async (cache) => {
    const table = await loadVmTable();
    const r = await run(["list"], { STREAMPROF_VM_CACHE: cache });
    assert.equal(r.code, 0, r.stderr);
    for (const vm of table.vms) assert.ok(r.stdout.includes(vm.name), vm.name);
    assert.match(r.stdout, /not resolved yet \(no metadata cached\)/);
    const j = await run(["list", "--json"], { STREAMPROF_VM_CACHE: cache });
    const rows = JSON.parse(j.stdout);
    assert.deepEqual(
      rows.map((x: { name: string; cached: boolean }) => [x.name, x.cached]),
      table.vms.map((vm) => [vm.name, false]),
    );
    assert.deepEqual([...Deno.readDirSync(cache)], []);
    // With metadata and artifacts cached: the resolved kernel and the size.
    const { plan } = await writeFakeCache(
      cache,
      table,
      findVm(table, "default"),
    );
    const again = await run(["list"], { STREAMPROF_VM_CACHE: cache });
    assert.match(
      again.stdout,
      new RegExp(
        `default +\\| arm64 .*\\| ${
          plan.kernel.version.replace(/\./g, "\\.")
        } ${
          plan.kernel.package.replace(/[.+]/g, "\\$&")
        } \\(trixie\\) .*\\| yes +\\| no +\\| \\d`,
      ),
    );
  }));

Deno.test("prune removes what no row uses and keeps what rows use", () =>
  withTempDir(async (cache) => {
    const table = await loadVmTable();
    const kept: string[] = [];
    for (const vm of table.vms) {
      const { artifacts } = await writeFakeCache(cache, table, vm);
      kept.push(...Object.values(artifacts).map((a) => a.file));
      // writeFakeCache writes one VM's manifest: merge them.
      const m = JSON.parse(await Deno.readTextFile(`${cache}/manifest.json`));
      const all = JSON.parse(
        await Deno.readTextFile(`${cache}/all.json`).catch(() => "{}"),
      );
      await Deno.writeTextFile(
        `${cache}/all.json`,
        JSON.stringify({ ...all, ...m.artifacts }),
      );
    }
    const artifacts = JSON.parse(await Deno.readTextFile(`${cache}/all.json`));
    await Deno.remove(`${cache}/all.json`);
    const stale = "deb/arm64/linux-image-6.12.1+deb13-arm64-unsigned=6.12.1-1";
    await Deno.mkdir(`${cache}/debs/arm64`, { recursive: true });
    await Deno.writeTextFile(`${cache}/debs/arm64/old.deb`, "old kernel");
    artifacts[stale] = {
      key: stale,
      file: "debs/arm64/old.deb",
      sha256: "0".repeat(64),
      size: 10,
      version: "6.12.1-1",
      source: "debian trixie",
    };
    // An entry of an older key format naming a file a kept entry uses.
    const keptFile = kept[1];
    artifacts["deb/arm64/libc6"] = {
      ...Object.values(artifacts as Record<string, { file: string }>).find(
        (a) => a.file === keptFile,
      ),
      key: "deb/arm64/libc6",
    };
    await Deno.writeTextFile(
      `${cache}/manifest.json`,
      JSON.stringify({
        version: 1,
        artifacts,
        resolutions: {},
        unavailable: {},
      }),
    );
    await Deno.writeTextFile(`${cache}/debs/arm64/half.deb.part-1`, "partial");
    for (
      const d of [
        "build/gone-row",
        "runs/gone-row",
        "apt/arm64",
        "index/buster",
      ]
    ) {
      await Deno.mkdir(`${cache}/${d}`, { recursive: true });
      await Deno.writeTextFile(`${cache}/${d}/f`, "x");
    }
    const env = { STREAMPROF_VM_CACHE: cache };
    const dry = await run(["prune", "--dry-run"], env);
    assert.equal(dry.code, 0, dry.stderr);
    for (
      const p of [
        "debs/arm64/old.deb",
        "debs/arm64/half.deb.part-1",
        "build/gone-row",
        "runs/gone-row",
        "apt",
        "index/buster",
      ]
    ) {
      assert.match(
        dry.stdout,
        new RegExp(`would remove ${p.replace(/[.]/g, "\\.")} `),
        p,
      );
    }
    assert.ok(await Deno.stat(`${cache}/debs/arm64/old.deb`));
    const r = await run(["prune"], env);
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(Deno.stat(`${cache}/debs/arm64/old.deb`));
    await assert.rejects(Deno.stat(`${cache}/build/gone-row`));
    await assert.rejects(Deno.stat(`${cache}/apt`));
    for (const f of kept) await Deno.stat(`${cache}/${f}`);
    const m = JSON.parse(await Deno.readTextFile(`${cache}/manifest.json`));
    assert.equal(m.artifacts[stale], undefined);
    assert.equal(m.artifacts["deb/arm64/libc6"], undefined);
    assert.match(
      dry.stdout,
      /would remove the entry: deb\/arm64\/libc6 is used by no row \(its file is/,
    );
    const again = await run(["prune", "--dry-run"], env);
    assert.match(again.stdout, /would free 0 B in 0 item\(s\)/);
  }));

Deno.test("list tells the truth: damaged artifacts and a garbage manifest are reported, not 'cached'", () =>
  withTempDir(async (cache) => {
    const table = await loadVmTable();
    const vm = findVm(table, "default");
    const { plan, artifacts } = await writeFakeCache(cache, table, vm);
    let j = JSON.parse(
      (await run(["list", "--json"], { STREAMPROF_VM_CACHE: cache })).stdout,
    );
    assert.equal(j[0].cached, true);
    const kernel = artifacts[plan.needs[0].key];
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
  }));

Deno.test("test --duration 0 (or TEST_DURATION=0) is a usage error before anything boots", () =>
  withTempDir(async (cache) => {
    const env = { STREAMPROF_VM_CACHE: cache };
    const r = await run(["test", "default", "--duration", "0"], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--duration must be positive, got "0"/);
    assert.doesNotMatch(r.stderr, /boot|fetch/);
    const e = await run(["test", "default"], { ...env, TEST_DURATION: "0s" });
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /TEST_DURATION must be positive/);
    assert.deepEqual([...Deno.readDirSync(cache)], []);
  }));
