/**
 * The VM cache: where it is, its `manifest.json`, and whether a cached file
 * is still what was recorded. Every path recorded in the cache is relative
 * to the cache root, so a copied or moved cache (`STREAMPROF_VM_CACHE`)
 * uses its own files; a record that is unreadable, names a path outside the
 * root, or whose file lost its size or checksum is *reported* and the
 * artifact re-fetched or rebuilt, never used.
 *
 * Layout under {@link vmCacheRoot}: `manifest.json`, `debs/<arch>/*.deb`,
 * `deno/<arch>-<version>/deno`, `index/<suite>/` (verified archive
 * metadata), `fixtures/<arch>/` (test programs built for the guest arch),
 * `build/<vm>/` (kernel image, initramfs, build.json), `runs/<vm>/`
 * (per-run files), `kvm-probe.json`.
 *
 * @module
 */
import { cacheDir } from "../common/cache_dir.ts";
import { sha256File } from "./sha256.ts";

/**
 * `$STREAMPROF_VM_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/streamprof/vm`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmCacheRoot } from "./cache.ts";
 * assert.match(vmCacheRoot(), Deno.env.get("STREAMPROF_VM_CACHE") ? /./ : /\/streamprof\/vm$/);
 * ```
 */
export function vmCacheRoot(): string {
  const own = Deno.env.get("STREAMPROF_VM_CACHE");
  if (own) return own.replace(/\/+$/, "") || "/";
  return cacheDir("vm");
}

/**
 * Whether `path` is a plain path inside the cache root: relative, no `..`
 * or empty segments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isCachePath } from "./cache.ts";
 * assert.equal(isCachePath("build/default/kernel"), true);
 * assert.equal(isCachePath("/root/.cache/streamprof/vm/build/default/kernel"), false);
 * assert.equal(isCachePath("build/../../etc/passwd"), false);
 * ```
 */
export function isCachePath(path: unknown): path is string {
  return typeof path === "string" && path !== "" && !path.startsWith("/") &&
    path.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

/** One cached file. */
export interface Artifact {
  /** Manifest key, e.g. `deb/arm64/libc6` or `npm/@deno/linux-arm64-glibc@2.9.6`. */
  key: string;
  /** Path relative to the cache root. */
  file: string;
  sha256: string;
  size: number;
  /** Package version. */
  version: string;
  /** Where it came from (suite or registry). */
  source: string;
}

/** What a row's kernel line resolved to, as recorded in the cache. */
export interface KernelResolution {
  /** The row's line, e.g. `6.1`. */
  line: string;
  package: string;
  version: string;
  suite: string;
  sha256: string;
  /** When it was resolved (ISO). */
  resolvedAt: string;
  /** Chosen with `--kernel-version`. */
  pinned: boolean;
}

/** `manifest.json`: every cached artifact by key, each row's last kernel. */
export interface Manifest {
  version: 1;
  artifacts: Record<string, Artifact>;
  /** By VM name: the kernel its last run resolved to. */
  resolutions: Record<string, KernelResolution>;
  /**
   * Packages the signed index lists but the mirror does not serve (HTTP
   * 404: a suite past its end of life keeps its index, not its pool),
   * by manifest key, with when that was seen (ISO). Tried again a day later.
   */
  unavailable: Record<string, string>;
}

/** What {@link readManifest} found. */
export interface ManifestRead {
  manifest: Manifest;
  /** Set when manifest.json exists but cannot be used; the manifest is then empty. */
  problem?: string;
  /** Entries dropped because they are malformed, with the reason. */
  dropped: string[];
}

/**
 * Checks one manifest entry; returns what is wrong with it, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { artifactProblem } from "./cache.ts";
 * const good = { key: "k", file: "debs/a.deb", sha256: "0".repeat(64), size: 1, version: "1", source: "s" };
 * assert.equal(artifactProblem("k", good), undefined);
 * assert.match(artifactProblem("k", { ...good, file: "/abs/a.deb" })!, /path outside the cache/);
 * assert.match(artifactProblem("k", { ...good, sha256: "xyz" })!, /sha256/);
 * ```
 */
export function artifactProblem(key: string, a: unknown): string | undefined {
  if (typeof a !== "object" || a === null) return "not an object";
  const r = a as Record<string, unknown>;
  if (r.key !== key) return `its key is ${JSON.stringify(r.key)}`;
  if (!isCachePath(r.file)) {
    return `path outside the cache: ${JSON.stringify(r.file)}`;
  }
  if (typeof r.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(r.sha256)) {
    return "no valid sha256";
  }
  if (typeof r.size !== "number" || !Number.isInteger(r.size) || r.size < 0) {
    return "no valid size";
  }
  if (typeof r.version !== "string" || typeof r.source !== "string") {
    return "no version or source";
  }
  return undefined;
}

/**
 * Reads `manifest.json` from the cache root: empty when absent; empty with
 * a `problem` when it is unreadable, not JSON or not a manifest; malformed
 * entries are dropped and listed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readManifest } from "./cache.ts";
 * const root = await Deno.makeTempDir();
 * assert.deepEqual(await readManifest(root), {
 *   manifest: { version: 1, artifacts: {}, resolutions: {}, unavailable: {} },
 *   dropped: [],
 * });
 * await Deno.writeTextFile(`${root}/manifest.json`, "{garbage");
 * assert.match((await readManifest(root)).problem!, /manifest\.json is not valid JSON/);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function readManifest(root: string): Promise<ManifestRead> {
  const empty = (): Manifest => ({
    version: 1,
    artifacts: {},
    resolutions: {},
    unavailable: {},
  });
  const path = `${root}/manifest.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return { manifest: empty(), dropped: [] };
    }
    return {
      manifest: empty(),
      problem: `${path} is unreadable (${(err as Error).message})`,
      dropped: [],
    };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return {
      manifest: empty(),
      problem: `${path} is not valid JSON (${(err as Error).message})`,
      dropped: [],
    };
  }
  const d = data as
    | {
      version?: unknown;
      artifacts?: unknown;
      resolutions?: unknown;
      unavailable?: unknown;
    }
    | null;
  if (
    typeof d !== "object" || d === null || d.version !== 1 ||
    typeof d.artifacts !== "object" || d.artifacts === null
  ) {
    return {
      manifest: empty(),
      problem: `${path} is not a version-1 manifest`,
      dropped: [],
    };
  }
  const manifest = empty();
  const dropped: string[] = [];
  for (const [key, a] of Object.entries(d.artifacts)) {
    const problem = artifactProblem(key, a);
    if (problem) dropped.push(`${key}: ${problem}`);
    else manifest.artifacts[key] = a as Artifact;
  }
  if (typeof d.resolutions === "object" && d.resolutions !== null) {
    for (const [vm, r] of Object.entries(d.resolutions)) {
      const k = r as Partial<KernelResolution>;
      if (typeof k?.package === "string" && typeof k.version === "string") {
        manifest.resolutions[vm] = r as KernelResolution;
      }
    }
  }
  if (typeof d.unavailable === "object" && d.unavailable !== null) {
    for (const [key, when] of Object.entries(d.unavailable)) {
      if (typeof when === "string") manifest.unavailable[key] = when;
    }
  }
  return { manifest, dropped };
}

/** Writes `manifest.json` atomically (temporary file + rename). */
export async function writeManifest(root: string, m: Manifest): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  const tmp = `${root}/manifest.json.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, JSON.stringify(m, null, 2) + "\n");
  await Deno.rename(tmp, `${root}/manifest.json`);
}

/** The state of one cached artifact. */
export type ArtifactState =
  | { ok: true }
  | { ok: false; why: "missing" | "size" | "checksum"; detail: string };

/**
 * Whether the file of a manifest entry is still the recorded one: present
 * with its size, and with `checksums` also its SHA-256.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { artifactState } from "./cache.ts";
 * import { sha256Hex } from "./sha256.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/f`, "data");
 * const a = { key: "k", file: "f", sha256: sha256Hex("data"), size: 4, version: "1", source: "test" };
 * assert.deepEqual(await artifactState(root, a, true), { ok: true });
 * await Deno.writeTextFile(`${root}/f`, "DATA");
 * assert.equal((await artifactState(root, a, false)).ok, true); // same size
 * assert.equal((await artifactState(root, a, true)).ok, false);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function artifactState(
  root: string,
  a: Artifact | undefined,
  checksums: boolean,
): Promise<ArtifactState> {
  if (!a) return { ok: false, why: "missing", detail: "not in the cache" };
  const path = `${root}/${a.file}`;
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    return { ok: false, why: "missing", detail: `${path} is missing` };
  }
  if (size !== a.size) {
    return {
      ok: false,
      why: "size",
      detail: `${path} has ${size} bytes, recorded ${a.size}`,
    };
  }
  if (checksums) {
    let got: string;
    try {
      got = await sha256File(path);
    } catch (err) {
      return {
        ok: false,
        why: "checksum",
        detail: `${path} is unreadable (${(err as Error).message})`,
      };
    }
    if (got !== a.sha256) {
      return {
        ok: false,
        why: "checksum",
        detail: `${path} has sha256 ${got}, recorded ${a.sha256}`,
      };
    }
  }
  return { ok: true };
}

/** Bytes of a file, or 0 when it is missing. */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}
