/**
 * A VM cache made of small fake files, for tests of the cache logic that
 * must not download or build anything: archive indexes listing one kernel
 * of each row's line and every userland package, and one file per artifact
 * of a VM's plan, recorded in `manifest.json` with its true size and
 * SHA-256.
 *
 * @module
 */
import {
  planFromIndex,
  planSuites,
  type VmPlan,
  wantedPackages,
} from "../../lib/vm/artifacts.ts";
import type { Artifact, Manifest } from "../../lib/vm/cache.ts";
import type { PackageEntry, SuiteIndex } from "../../lib/vm/debian_archive.ts";
import { DEFAULT_MIRROR } from "../../lib/vm/mirror.ts";
import { sha256Hex } from "../../lib/vm/sha256.ts";
import { ARCHES, type VmSpec, type VmTable } from "../../lib/vm/vms.ts";

/** Index entries for `vm`: one kernel of its line, every userland package. */
export function fakeIndex(table: VmTable, vm: VmSpec): PackageEntry[] {
  const d = ARCHES[vm.arch].debian;
  const entry = (p: string, v: string, suite: string): PackageEntry => ({
    package: p,
    version: v,
    architecture: d,
    filename: `pool/main/${p}_${v}_${d}.deb`,
    size: 1,
    sha256: sha256Hex(`${p}=${v}`),
    suite,
  });
  const abi = vm.kernel.line === "6.12"
    ? `${vm.kernel.line}.99+deb13`
    : `${vm.kernel.line}.0-99`;
  return [
    entry(
      `linux-image-${abi}-${vm.kernel.flavour}-unsigned`,
      `${vm.kernel.line}.999-1`,
      vm.kernel.suites[0],
    ),
    ...table.userland.packages.map((p) =>
      entry(p, "1.0-1", table.userland.suites[0])
    ),
  ];
}

/** The plan of `vm` against {@link fakeIndex}. */
export function fakePlan(table: VmTable, vm: VmSpec): VmPlan {
  return planFromIndex(table, vm, fakeIndex(table, vm), DEFAULT_MIRROR);
}

/** Writes trimmed indexes under `root` so offline planning finds them. */
export async function writeFakeIndex(
  root: string,
  table: VmTable,
  vm: VmSpec,
): Promise<void> {
  const d = ARCHES[vm.arch].debian;
  const entries = fakeIndex(table, vm);
  for (const suite of planSuites(table, vm)) {
    const index: SuiteIndex = {
      suite,
      arch: d,
      date: new Date().toISOString(),
      fetchedAt: new Date().toISOString(),
      packagesSha256: "0".repeat(64),
      wanted: wantedPackages(table),
      packages: entries.filter((e) => e.suite === suite),
    };
    await Deno.mkdir(`${root}/index/${suite}/${d}`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/index/${suite}/${d}/trimmed.json`,
      JSON.stringify(index),
    );
  }
}

/** The content of a fake artifact. */
export function fakeContent(key: string): string {
  return `content of ${key}`;
}

/** The cache file of a fake artifact. */
export function fakeFile(key: string): string {
  return `fake/${key.replace(/[^\w.-]/g, "_")}`;
}

/**
 * Writes a fake artifact for every need of the plan (and the indexes);
 * returns the manifest entries by key.
 */
export async function writeFakeCache(
  root: string,
  table: VmTable,
  vm: VmSpec,
): Promise<{ plan: VmPlan; artifacts: Record<string, Artifact> }> {
  const plan = fakePlan(table, vm);
  await writeFakeIndex(root, table, vm);
  const artifacts: Record<string, Artifact> = {};
  await Deno.mkdir(`${root}/fake`, { recursive: true });
  for (const need of plan.needs) {
    const file = fakeFile(need.key);
    await Deno.writeTextFile(`${root}/${file}`, fakeContent(need.key));
    artifacts[need.key] = fakeArtifact(need.key, file, fakeContent(need.key));
  }
  const manifest: Manifest = {
    version: 1,
    artifacts,
    resolutions: {},
    unavailable: {},
  };
  await Deno.writeTextFile(
    `${root}/manifest.json`,
    JSON.stringify(manifest, null, 2),
  );
  return { plan, artifacts };
}

/** The manifest entry of a file with `content`. */
export function fakeArtifact(
  key: string,
  file: string,
  content: string,
): Artifact {
  return {
    key,
    file,
    sha256: sha256Hex(content),
    size: new TextEncoder().encode(content).length,
    version: "1",
    source: "test",
  };
}

/** Flips the first byte of a file: same size, another checksum. */
export async function damage(path: string): Promise<void> {
  const bytes = await Deno.readFile(path);
  bytes[0] ^= 0xff;
  await Deno.writeFile(path, bytes);
}
