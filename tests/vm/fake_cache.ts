/**
 * A VM cache made of small fake files, for tests of the cache logic that
 * must not download or build anything: one file per artifact a VM needs,
 * recorded in `manifest.json` with its true size and SHA-256.
 *
 * @module
 */
import { vmNeeds } from "../../lib/vm/artifacts.ts";
import type { Artifact, Manifest } from "../../lib/vm/cache.ts";
import { sha256Hex } from "../../lib/vm/sha256.ts";
import type { VmSpec, VmTable } from "../../lib/vm/vms.ts";

/** Writes a fake artifact for every need of `vm` under `root`. */
export async function writeFakeCache(
  root: string,
  table: VmTable,
  vm: VmSpec,
): Promise<Record<string, Artifact>> {
  const artifacts: Record<string, Artifact> = {};
  await Deno.mkdir(`${root}/fake`, { recursive: true });
  for (const need of vmNeeds(table, vm)) {
    const file = `fake/${need.key.replace(/[^\w.-]/g, "_")}`;
    const content = `content of ${need.key}`;
    await Deno.writeTextFile(`${root}/${file}`, content);
    artifacts[need.key] = fakeArtifact(need.key, file, content);
  }
  const manifest: Manifest = { version: 1, artifacts };
  await Deno.writeTextFile(
    `${root}/manifest.json`,
    JSON.stringify(manifest, null, 2),
  );
  return artifacts;
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
