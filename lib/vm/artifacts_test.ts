import assert from "node:assert/strict";
import {
  cacheStatus,
  ensureVmArtifacts,
  type Need,
  planSuites,
  planVm,
} from "./artifacts.ts";
import { readManifest, vmCacheRoot } from "./cache.ts";
import {
  damage,
  fakeArtifact,
  fakeContent,
  fakeFile,
  fakeIndex,
  fakePlan,
  writeFakeCache,
  writeFakeIndex,
} from "../../tests/vm/fake_cache.ts";
import { findVm, loadVmTable } from "./vms.ts";

Deno.test("a plan: the kernel the line resolves to, userland of the VM's arch, Deno from npm", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "profiler-x86");
  const plan = fakePlan(t, vm);
  assert.equal(plan.kernel.version, "6.1.999-1");
  assert.equal(
    plan.needs[0].key,
    "deb/amd64/linux-image-6.1.0-99-amd64-unsigned=6.1.999-1",
  );
  assert.deepEqual(
    plan.needs.slice(1, -1).map((n) => n.key),
    t.userland.packages.map((p) => `deb/amd64/${p}=1.0-1`),
  );
  assert.deepEqual(plan.needs.at(-1), {
    key: `npm/@deno/linux-x64-glibc@${t.deno}`,
    kind: "npm",
    arch: "x86_64",
    package: "@deno/linux-x64-glibc",
    version: t.deno,
  });
  const first = plan.needs[0];
  assert.equal(first.kind, "deb");
  if (first.kind === "deb") {
    assert.equal(first.base, "http://deb.debian.org/debian");
  }
  assert.deepEqual(planSuites(t, findVm(t, "ebpf-kernel-5.8")), [
    ...t.userland.suites,
    "bullseye",
    "bullseye-security",
  ]);
});

Deno.test("planVm offline: undefined without cached metadata, the cached plan with it; a pin may come from the cache", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "default");
  const root = await Deno.makeTempDir();
  try {
    assert.equal(
      await planVm(t, vm, { root, offline: true, log: () => {} }),
      undefined,
    );
    await writeFakeIndex(root, t, vm);
    const plan = await planVm(t, vm, { root, offline: true, log: () => {} });
    assert.equal(plan?.kernel.version, "6.12.999-1");
    // A version the index does not list but an earlier run cached.
    const key = "deb/arm64/linux-image-6.12.5+deb13-arm64-unsigned=6.12.5-1";
    await Deno.writeTextFile(
      `${root}/manifest.json`,
      JSON.stringify({
        version: 1,
        artifacts: {
          [key]: { ...fakeArtifact(key, "f", "x"), source: "debian trixie" },
        },
        resolutions: {},
      }),
    );
    const pinned = await planVm(t, vm, {
      root,
      offline: true,
      log: () => {},
      kernelVersion: "6.12.5-1",
    });
    assert.equal(
      pinned?.kernel.package,
      "linux-image-6.12.5+deb13-arm64-unsigned",
    );
    assert.equal(pinned?.kernel.pinned, true);
    await assert.rejects(
      planVm(t, vm, {
        root,
        offline: true,
        log: () => {},
        kernelVersion: "6.12.6-1",
      }),
      /--kernel-version 6\.12\.6-1: no 6\.12 kernel of that version .* available: 6\.12\.999-1$/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
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
    Deno.env.set("STREAMPROF_VM_CACHE", "/own/");
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
    const plan = fakePlan(t, vm);
    let st = await cacheStatus(plan.needs, root);
    assert.equal(st.cached, false);
    assert.equal(st.missing.length, plan.needs.length);
    const { artifacts } = await writeFakeCache(root, t, vm);
    st = await cacheStatus(plan.needs, root);
    assert.equal(st.cached, true);
    assert.deepEqual(st.missing, []);
    assert.deepEqual(st.corrupt, []);
    const [kernel, libc] = plan.needs.map((n) => artifacts[n.key]);
    await damage(`${root}/${kernel.file}`);
    await Deno.remove(`${root}/${libc.file}`);
    st = await cacheStatus(plan.needs, root);
    assert.equal(st.cached, false);
    assert.deepEqual(st.missing, [libc.key]);
    assert.equal(st.corrupt.length, 1);
    assert.ok(st.corrupt[0].startsWith(`${kernel.key}: `), st.corrupt[0]);
    assert.match(
      st.corrupt[0],
      new RegExp(`has sha256 [0-9a-f]{64}, recorded ${kernel.sha256}$`),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a garbage or malformed manifest is reported, never silently 'not cached'", async () => {
  const t = await loadVmTable();
  const plan = fakePlan(t, findVm(t, "default"));
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/manifest.json`, "\u0000\u0001 not json");
    const st = await cacheStatus(plan.needs, root);
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

Deno.test("ensureVmArtifacts re-fetches a damaged or resized artifact, recovers from a garbage manifest saying so, and records the resolved kernel", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "default");
  const root = await Deno.makeTempDir();
  const fetched: string[] = [];
  const fetcher = async (need: Need, r: string) => {
    fetched.push(need.key);
    await Deno.mkdir(`${r}/fake`, { recursive: true });
    await Deno.writeTextFile(
      `${r}/${fakeFile(need.key)}`,
      fakeContent(need.key),
    );
    return fakeArtifact(need.key, fakeFile(need.key), fakeContent(need.key));
  };
  try {
    const { plan, artifacts } = await writeFakeCache(root, t, vm);
    const keys = plan.needs.map((n) => n.key);
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    // Intact: nothing is fetched; the resolution is recorded.
    await ensureVmArtifacts(plan, { root, log, fetcher, checksums: true });
    assert.deepEqual(fetched, []);
    const resolution = (await readManifest(root)).manifest.resolutions.default;
    assert.equal(resolution.version, "6.12.999-1");
    assert.equal(resolution.package, fakeIndex(t, vm)[0].package);
    assert.equal(resolution.sha256, artifacts[keys[0]].sha256);
    // Same size, other bytes: caught by the checksum pass, not by sizes.
    await damage(`${root}/${artifacts[keys[0]].file}`);
    await ensureVmArtifacts(plan, { root, log, fetcher });
    assert.deepEqual(fetched, []);
    const got = await ensureVmArtifacts(plan, {
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
      fakeContent(keys[0]),
    );
    // A file that lost bytes is caught by sizes alone.
    await Deno.writeTextFile(`${root}/${artifacts[keys[1]].file}`, "short");
    await ensureVmArtifacts(plan, { root, log, fetcher });
    assert.deepEqual(fetched, [keys[0], keys[1]]);
    // A garbage manifest: reported, everything fetched again, rewritten.
    fetched.length = 0;
    await Deno.writeTextFile(`${root}/manifest.json`, "{broken");
    await ensureVmArtifacts(plan, { root, log, fetcher });
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
