import assert from "node:assert/strict";
import {
  archSuites,
  cacheStatus,
  ensureVmArtifacts,
  type Need,
  vmNeeds,
} from "./artifacts.ts";
import { readManifest, vmCacheRoot } from "./cache.ts";
import {
  damage,
  fakeArtifact,
  writeFakeCache,
} from "../../tests/vm/fake_cache.ts";
import { findVm, loadVmTable } from "./vms.ts";

Deno.test("vmNeeds: exact kernel, userland of the VM's arch, Deno from npm", async () => {
  const t = await loadVmTable();
  const needs = vmNeeds(t, findVm(t, "profiler-x86"));
  assert.equal(
    needs[0].key,
    `deb/amd64/${findVm(t, "profiler-x86").kernel.package}=${
      findVm(t, "profiler-x86").kernel.version
    }`,
  );
  assert.deepEqual(
    needs.slice(1, -1).map((n) => n.key),
    t.userland.packages.map((p) => `deb/amd64/${p}`),
  );
  assert.deepEqual(needs.at(-1), {
    key: `npm/@deno/linux-x64-glibc@${t.deno}`,
    kind: "npm",
    arch: "x86_64",
    package: "@deno/linux-x64-glibc",
    version: t.deno,
  });
  assert.equal(
    vmNeeds(t, findVm(t, "default")).at(-1)!.package,
    "@deno/linux-arm64-glibc",
  );
});

Deno.test("archSuites: userland suites plus each kernel suite of that arch", async () => {
  const t = await loadVmTable();
  assert.deepEqual(archSuites(t, "arm64"), [
    ...t.userland.suites,
    "trixie",
    "bullseye",
  ]);
  assert.deepEqual(archSuites(t, "x86_64"), t.userland.suites); // bookworm-security already there
});

Deno.test("vmCacheRoot follows STREAMPROF_VM_CACHE, then XDG_CACHE_HOME", () => {
  const keep = {
    own: Deno.env.get("STREAMPROF_VM_CACHE"),
    xdg: Deno.env.get("XDG_CACHE_HOME"),
  };
  try {
    Deno.env.delete("STREAMPROF_VM_CACHE");
    Deno.env.set("XDG_CACHE_HOME", "/x/cache");
    assert.equal(vmCacheRoot(), "/x/cache/streamprof/vm");
    Deno.env.set("STREAMPROF_VM_CACHE", "/own");
    assert.equal(vmCacheRoot(), "/own");
  } finally {
    if (keep.own === undefined) Deno.env.delete("STREAMPROF_VM_CACHE");
    else Deno.env.set("STREAMPROF_VM_CACHE", keep.own);
    if (keep.xdg === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", keep.xdg);
  }
});

Deno.test("cacheStatus tells the truth: a file of the right size but another checksum is damaged, not cached", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "default");
  const root = await Deno.makeTempDir();
  try {
    let st = await cacheStatus(t, vm, root);
    assert.equal(st.cached, false);
    assert.equal(st.missing.length, vmNeeds(t, vm).length);
    const artifacts = await writeFakeCache(root, t, vm);
    st = await cacheStatus(t, vm, root);
    assert.equal(st.cached, true);
    assert.deepEqual(st.missing, []);
    assert.deepEqual(st.corrupt, []);
    const [kernel, libc] = vmNeeds(t, vm).map((n) => artifacts[n.key]);
    await damage(`${root}/${kernel.file}`);
    await Deno.remove(`${root}/${libc.file}`);
    st = await cacheStatus(t, vm, root);
    assert.equal(st.cached, false);
    assert.deepEqual(st.missing, [libc.key]);
    assert.equal(st.corrupt.length, 1);
    assert.match(
      st.corrupt[0],
      new RegExp(
        `^${
          kernel.key.replace(/[.+]/g, "\\$&")
        }: .* has sha256 [0-9a-f]{64}, recorded ${kernel.sha256}$`,
      ),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a garbage or malformed manifest is reported, never silently 'not cached'", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "default");
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/manifest.json`, "\u0000\u0001 not json");
    const st = await cacheStatus(t, vm, root);
    assert.equal(st.cached, false);
    assert.match(st.manifestProblem!, /manifest\.json is not valid JSON/);
    await Deno.writeTextFile(
      `${root}/manifest.json`,
      JSON.stringify({
        version: 1,
        artifacts: {
          a: {
            key: "a",
            file: "/etc/passwd",
            sha256: "0".repeat(64),
            size: 1,
            version: "1",
            source: "x",
          },
        },
      }),
    );
    const read = await readManifest(root);
    assert.deepEqual(read.manifest.artifacts, {});
    assert.deepEqual(read.dropped, [
      'a: path outside the cache: "/etc/passwd"',
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ensureVmArtifacts re-fetches a damaged or resized artifact and recovers from a garbage manifest, saying so", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "default");
  const root = await Deno.makeTempDir();
  const fetched: string[] = [];
  const fetcher = async (need: Need, r: string) => {
    fetched.push(need.key);
    const file = `fake/${need.key.replace(/[^\w.-]/g, "_")}`;
    const content = `content of ${need.key}`;
    await Deno.mkdir(`${r}/fake`, { recursive: true });
    await Deno.writeTextFile(`${r}/${file}`, content);
    return fakeArtifact(need.key, file, content);
  };
  try {
    const artifacts = await writeFakeCache(root, t, vm);
    const keys = vmNeeds(t, vm).map((n) => n.key);
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    // Intact: nothing is fetched.
    await ensureVmArtifacts(t, vm, { root, log, fetcher, checksums: true });
    assert.deepEqual(fetched, []);
    // Same size, other bytes: caught by the checksum pass, not by sizes.
    await damage(`${root}/${artifacts[keys[0]].file}`);
    await ensureVmArtifacts(t, vm, { root, log, fetcher });
    assert.deepEqual(fetched, []);
    const got = await ensureVmArtifacts(t, vm, {
      root,
      log,
      fetcher,
      checksums: true,
    });
    assert.deepEqual(fetched, [keys[0]]);
    assert.match(
      lines.join("\n"),
      /has sha256 .* recorded .*: fetching it again/,
    );
    assert.equal(
      await Deno.readTextFile(got.path(got.kernelDeb)),
      `content of ${keys[0]}`,
    );
    // A file that lost bytes is caught by sizes alone.
    await Deno.writeTextFile(`${root}/${artifacts[keys[1]].file}`, "short");
    await ensureVmArtifacts(t, vm, { root, log, fetcher });
    assert.deepEqual(fetched, [keys[0], keys[1]]);
    // A garbage manifest: reported, everything fetched again, rewritten.
    fetched.length = 0;
    await Deno.writeTextFile(`${root}/manifest.json`, "{broken");
    await ensureVmArtifacts(t, vm, { root, log, fetcher });
    assert.deepEqual(fetched, keys);
    assert.match(
      lines.join("\n"),
      /manifest\.json is not valid JSON .*: starting a new manifest/,
    );
    assert.equal((await readManifest(root)).problem, undefined);
    assert.deepEqual(
      Object.keys((await readManifest(root)).manifest.artifacts),
      keys,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
