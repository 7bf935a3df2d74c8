// deno.lock and package-lock.json pin the same npm packages.
//
// npm installs the packages (`make setup-npm` runs `npm ci`, which checks
// package-lock.json's integrity hashes) and Deno reads them from
// node_modules ("nodeModulesDir": "manual"), so Deno never resolves npm
// packages itself and would not notice if deno.lock went stale. This test
// does: every package deno.lock records must be there in package-lock.json
// with the same version and the same integrity hash, and every import and
// devDependency must be pinned to an exact version that deno.lock records.
// (Regenerate deno.lock with `deno install` in a scratch clone: in the
// working tree it would re-lay node_modules.)
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const readJson = async (name: string) =>
  JSON.parse(await Deno.readTextFile(new URL(name, root)));

interface NpmLockEntry {
  version: string;
  integrity: string;
}

Deno.test("lockfile: deno.lock agrees with package-lock.json, version and integrity", async () => {
  const denoLock = await readJson("deno.lock");
  const npmLock = await readJson("package-lock.json");
  const entries = Object.entries(
    denoLock.npm as Record<string, { integrity: string }>,
  );
  assert.ok(entries.length > 0, "deno.lock records no npm packages");
  let compared = 0;
  for (const [key, entry] of entries) {
    const at = key.lastIndexOf("@");
    const name = key.slice(0, at);
    const version = key.slice(at + 1);
    const npm = npmLock.packages[`node_modules/${name}`] as
      | NpmLockEntry
      | undefined;
    assert.ok(npm, `${name} is in deno.lock but not in package-lock.json`);
    assert.equal(npm.version, version, `${name}: version`);
    assert.equal(npm.integrity, entry.integrity, `${name}: integrity`);
    compared++;
  }
  assert.equal(compared, entries.length);
});

Deno.test("lockfile: every npm import and devDependency is pinned exactly and locked", async () => {
  const denoLock = await readJson("deno.lock");
  const denoJson = await readJson("deno.json");
  const pkg = await readJson("package.json");
  const locked = denoLock.specifiers as Record<string, string>;
  const exact = /^\d+\.\d+\.\d+$/;
  for (
    const [name, version] of Object.entries(
      pkg.devDependencies as Record<string, string>,
    )
  ) {
    assert.match(
      version,
      exact,
      `package.json ${name}@${version} is not exact`,
    );
    assert.equal(
      locked[`npm:${name}@${version}`],
      version,
      `${name} in deno.lock`,
    );
  }
  for (
    const spec of Object.values(denoJson.imports as Record<string, string>)
  ) {
    if (!spec.startsWith("npm:")) continue;
    const version = spec.slice(spec.lastIndexOf("@") + 1);
    assert.match(version, exact, `deno.json import ${spec} is not exact`);
    assert.equal(locked[spec], version, `${spec} in deno.lock`);
  }
});
