import assert from "node:assert/strict";
import {
  archSuites,
  cacheStatus,
  readManifest,
  vmCacheRoot,
  vmNeeds,
} from "./artifacts.ts";
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

Deno.test("cacheStatus reads the manifest: cached only when every file is there with its size", async () => {
  const t = await loadVmTable();
  const vm = findVm(t, "default");
  const root = await Deno.makeTempDir();
  try {
    assert.deepEqual((await readManifest(root)).artifacts, {});
    let st = await cacheStatus(t, vm, root);
    assert.equal(st.cached, false);
    assert.equal(st.missing.length, vmNeeds(t, vm).length);
    const artifacts: Record<string, unknown> = {};
    for (const n of vmNeeds(t, vm)) {
      const file = `f/${n.key.replace(/[^\w.-]/g, "_")}`;
      await Deno.mkdir(`${root}/f`, { recursive: true });
      await Deno.writeTextFile(`${root}/${file}`, "abc");
      artifacts[n.key] = {
        key: n.key,
        file,
        sha256: "",
        size: 3,
        version: "1",
        source: "test",
      };
    }
    await Deno.writeTextFile(
      `${root}/manifest.json`,
      JSON.stringify({ version: 1, artifacts }),
    );
    st = await cacheStatus(t, vm, root);
    assert.deepEqual(st, {
      cached: true,
      missing: [],
      bytes: 3 * vmNeeds(t, vm).length,
    });
    const first = vmNeeds(t, vm)[0].key;
    await Deno.writeTextFile(
      `${root}/${(artifacts[first] as { file: string }).file}`,
      "abcd",
    );
    st = await cacheStatus(t, vm, root);
    assert.deepEqual(st.missing, [first]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
