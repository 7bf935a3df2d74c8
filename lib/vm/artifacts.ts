/**
 * Guest artifacts: what a VM needs (its plan), fetched on first use,
 * cached, verified.
 *
 * A plan resolves the row's kernel line and the userland packages against
 * the verified archive indexes (debian_archive.ts, kernel_resolve.ts); each
 * `.deb` is downloaded from the mirror and kept only with the size and
 * SHA-256 of its index stanza. Deno for the guest comes from npm (`npm
 * pack`, integrity checked by npm), or from the project's own
 * `node_modules` when it holds the same package and version. Every file's
 * SHA-256 is recorded in `manifest.json` (cache.ts), with the kernel each
 * row resolved to.
 *
 * @module
 */
import { formatBytes } from "../common/format.ts";
import {
  type Artifact,
  artifactState,
  type KernelResolution,
  type Manifest,
  readManifest,
  vmCacheRoot,
  writeManifest,
} from "./cache.ts";
import {
  download,
  INDEX_MAX_AGE_MS,
  loadSuiteIndex,
  type PackageEntry,
  suiteBase,
} from "./debian_archive.ts";
import { CorruptArtifactError, FetchError } from "./errors.ts";
import { exec } from "./exec.ts";
import {
  inKernelLine,
  kernelCandidates,
  newestPackage,
  type ResolvedKernel,
  resolveKernel,
} from "./kernel_resolve.ts";
import { hostMirror, type Mirror } from "./mirror.ts";
import { sha256File } from "./sha256.ts";
import { type Arch, ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/** Progress output: one call per line. */
export type Log = (line: string) => void;

/** A Debian package to fetch: its verified index entry and mirror base. */
export interface DebNeed {
  key: string;
  kind: "deb";
  arch: Arch;
  entry: PackageEntry;
  /** Mirror base URL the entry's `filename` is relative to. */
  base: string;
}

/** Deno for the guest, from npm. */
export interface NpmNeed {
  key: string;
  kind: "npm";
  arch: Arch;
  package: string;
  version: string;
}

/** What a VM needs fetched. */
export type Need = DebNeed | NpmNeed;

/** Everything one VM boots from: the resolved kernel and every need. */
export interface VmPlan {
  vm: VmSpec;
  /** The mirror the packages come from. */
  mirror: Mirror;
  kernel: ResolvedKernel;
  /**
   * The kernels to try, newest first (`kernel` is the first): when the
   * mirror does not serve one (HTTP 404), the next is fetched instead.
   */
  kernelCandidates: ResolvedKernel[];
  /** Kernel first, then the userland packages in table order, Deno last. */
  needs: Need[];
}

/**
 * The manifest key of a package version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { debKey } from "./artifacts.ts";
 * assert.equal(debKey("arm64", "libc6", "2.36-9+deb12u14"), "deb/arm64/libc6=2.36-9+deb12u14");
 * ```
 */
export function debKey(debArch: string, pkg: string, version: string): string {
  return `deb/${debArch}/${pkg}=${version}`;
}

/** Every suite whose index a VM's plan reads: userland and kernel suites. */
export function planSuites(table: VmTable, vm: VmSpec): string[] {
  return [...new Set([...table.userland.suites, ...vm.kernel.suites])];
}

/** The package names the indexes are trimmed to. */
export function wantedPackages(table: VmTable): string[] {
  return ["linux-image-*", ...table.userland.packages];
}

function debNeed(vm: VmSpec, mirror: Mirror, entry: PackageEntry): DebNeed {
  return {
    key: debKey(ARCHES[vm.arch].debian, entry.package, entry.version),
    kind: "deb",
    arch: vm.arch,
    entry,
    base: suiteBase(mirror, entry.suite),
  };
}

/**
 * The plan of `vm` from index entries: kernel resolved (or pinned; the
 * candidates the mirror was seen not to serve are skipped), each userland
 * package at its newest version over the userland suites, Deno.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planFromIndex } from "./artifacts.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * const e = (p: string, v: string, suite: string) => ({ package: p, version: v, architecture: "arm64",
 *   filename: `pool/${p}_${v}.deb`, size: 1, sha256: "0".repeat(64), suite });
 * const index = [
 *   e("linux-image-6.12.117+deb13-arm64-unsigned", "6.12.117-1", "trixie"),
 *   e("linux-image-6.12.118+deb13-arm64-unsigned", "6.12.118-1", "trixie-security"),
 *   ...table.userland.packages.map((p) => e(p, "1.0", "bookworm")),
 * ];
 * const mirror = { debian: "http://m/debian", security: "http://m/debian-security" };
 * const plan = planFromIndex(table, findVm(table, "default"), index, mirror);
 * assert.equal(plan.kernel.version, "6.12.118-1");
 * assert.equal(plan.needs[0].key, "deb/arm64/linux-image-6.12.118+deb13-arm64-unsigned=6.12.118-1");
 * assert.equal(plan.needs.at(-1)!.key, `npm/@deno/linux-arm64-glibc@${table.deno}`);
 * const gone = new Set(["deb/arm64/linux-image-6.12.118+deb13-arm64-unsigned=6.12.118-1"]);
 * assert.equal(planFromIndex(table, findVm(table, "default"), index, mirror, undefined, gone).kernel.version, "6.12.117-1");
 * ```
 */
export function planFromIndex(
  table: VmTable,
  vm: VmSpec,
  entries: PackageEntry[],
  mirror: Mirror,
  pin?: string,
  unavailable: ReadonlySet<string> = new Set(),
): VmPlan {
  const d = ARCHES[vm.arch].debian;
  const newest = resolveKernel(vm.kernel, entries, pin);
  const all: ResolvedKernel[] = pin !== undefined
    ? [newest]
    : kernelCandidates(vm.kernel, entries).map((e) => ({
      ...e,
      line: vm.kernel.line,
      pinned: false,
    }));
  const served = all.filter((k) =>
    !unavailable.has(debKey(d, k.package, k.version))
  );
  const candidates = served.length ? served : all;
  const kernel = candidates[0];
  const needs: Need[] = [debNeed(vm, mirror, kernel)];
  for (const p of table.userland.packages) {
    needs.push(
      debNeed(vm, mirror, newestPackage(p, table.userland.suites, entries)),
    );
  }
  const npm = ARCHES[vm.arch].denoNpm;
  needs.push({
    key: `npm/${npm}@${table.deno}`,
    kind: "npm",
    arch: vm.arch,
    package: npm,
    version: table.deno,
  });
  return { vm, mirror, kernel, kernelCandidates: candidates, needs };
}

/** Options of {@link planVm}. */
export interface PlanOptions {
  root?: string;
  log?: Log;
  /** `--kernel-version`: boot exactly this kernel package version. */
  kernelVersion?: string;
  /** Fetch the archive metadata again even if it is recent. */
  refresh?: boolean;
  /** Use cached metadata only; undefined when there is none (vm:list). */
  offline?: boolean;
  /** Mirror (default: the machine's own, see mirror.ts). */
  mirror?: Mirror;
  /** Index entries to plan from instead of the archive (tests). */
  index?: PackageEntry[];
}

/**
 * A kernel pinned with `--kernel-version` that the archive no longer
 * lists, but that an earlier run left in the cache: the run is reproducible
 * offline from it.
 */
function cachedPin(
  vm: VmSpec,
  pin: string,
  manifest: Manifest,
): PackageEntry | undefined {
  const d = ARCHES[vm.arch].debian;
  for (const a of Object.values(manifest.artifacts)) {
    const m = /^deb\/([^/]+)\/([^=]+)=(.+)$/.exec(a.key);
    if (!m || m[1] !== d || m[3] !== pin) continue;
    const entry: PackageEntry = {
      package: m[2],
      version: m[3],
      architecture: d,
      filename: "",
      size: a.size,
      sha256: a.sha256,
      suite: a.source.replace(/^debian /, ""),
    };
    if (inKernelLine(vm.kernel, entry)) return entry;
  }
  return undefined;
}

/** Keys the mirror answered 404 for within the last day. */
function recentlyUnavailable(manifest: Manifest): Set<string> {
  const now = Date.now();
  return new Set(
    Object.entries(manifest.unavailable).filter(([, when]) =>
      now - new Date(when).getTime() < INDEX_MAX_AGE_MS
    ).map(([key]) => key),
  );
}

/**
 * The plan of `vm`: the verified indexes of its suites are loaded (from
 * the cache when recent, see debian_archive.ts) and the kernel resolved.
 * With `offline`, undefined when nothing is cached to plan from.
 */
export async function planVm(
  table: VmTable,
  vm: VmSpec,
  o: PlanOptions = {},
): Promise<VmPlan | undefined> {
  const root = o.root ?? vmCacheRoot();
  const log = o.log ?? ((l: string) => console.error(l));
  const mirror = o.mirror ?? await hostMirror();
  let entries = o.index;
  if (!entries) {
    entries = [];
    for (const suite of planSuites(table, vm)) {
      const ix = await loadSuiteIndex(suite, ARCHES[vm.arch].debian, {
        root,
        mirror,
        wanted: wantedPackages(table),
        log,
        refresh: o.refresh,
        offline: o.offline,
      });
      if (!ix) return undefined;
      entries.push(...ix.packages);
    }
  }
  const { manifest } = await readManifest(root);
  if (o.kernelVersion !== undefined) {
    const listed = entries.some((e) =>
      e.version === o.kernelVersion && inKernelLine(vm.kernel, e)
    );
    if (!listed) {
      const cached = cachedPin(vm, o.kernelVersion, manifest);
      if (cached) entries = [...entries, cached];
    }
  }
  return planFromIndex(
    table,
    vm,
    entries,
    mirror,
    o.kernelVersion,
    recentlyUnavailable(manifest),
  );
}

/** Cache state of one VM, for `vm:list`. */
export interface CacheStatus {
  /** Every artifact is there and has its recorded size and checksum. */
  cached: boolean;
  /** Keys not in the cache (fetched on first use). */
  missing: string[];
  /** Keys whose file is damaged, with what is wrong (re-fetched on use). */
  corrupt: string[];
  /** Why manifest.json could not be used, if it could not. */
  manifestProblem?: string;
  /** Bytes of the intact artifacts. */
  bytes: number;
}

/**
 * The true state of a plan's artifacts: each one present, of its recorded
 * size and (with `checksums`, the default) SHA-256. A damaged file or an
 * unusable manifest is reported, not counted as cached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cacheStatus } from "./artifacts.ts";
 * const need = { key: "npm/@deno/linux-arm64-glibc@2.9.6", kind: "npm" as const, arch: "arm64" as const,
 *   package: "@deno/linux-arm64-glibc", version: "2.9.6" };
 * const empty = await Deno.makeTempDir();
 * assert.deepEqual((await cacheStatus([need], empty)).missing, [need.key]);
 * await Deno.writeTextFile(`${empty}/manifest.json`, "not json");
 * assert.match((await cacheStatus([need], empty)).manifestProblem!, /not valid JSON/);
 * await Deno.remove(empty, { recursive: true });
 * ```
 */
export async function cacheStatus(
  needs: Need[],
  root = vmCacheRoot(),
  checksums = true,
): Promise<CacheStatus> {
  const { manifest, problem } = await readManifest(root);
  const missing: string[] = [];
  const corrupt: string[] = [];
  let bytes = 0;
  for (const need of needs) {
    const a = manifest.artifacts[need.key];
    const state = await artifactState(root, a, checksums);
    if (state.ok) bytes += a.size;
    else if (state.why === "missing") missing.push(need.key);
    else corrupt.push(`${need.key}: ${state.detail}`);
  }
  return {
    cached: missing.length === 0 && corrupt.length === 0,
    missing,
    corrupt,
    manifestProblem: problem,
    bytes,
  };
}

/** Fetches one artifact into the cache and describes it. */
export type Fetcher = (need: Need, root: string) => Promise<Artifact>;

/** Options of {@link ensureVmArtifacts}. */
export interface EnsureOptions {
  root?: string;
  log?: Log;
  /** Project root (for a Deno binary already in node_modules). */
  projectRoot?: string;
  /**
   * Check every artifact's SHA-256, not only its size (done before a
   * build uses them); a damaged one is reported and re-fetched.
   */
  checksums?: boolean;
  /** Replaces the real downloads (tests). */
  fetcher?: Fetcher;
}

/** The verified inputs of one VM. */
export interface VmArtifacts {
  kernelDeb: Artifact;
  userlandDebs: Artifact[];
  deno: Artifact;
  /** Absolute path of an artifact. */
  path(a: Artifact): string;
}

/**
 * The kernel to fetch for `plan`: the first candidate that is cached, or
 * that the mirror serves (a 404 is remembered in the manifest and the next
 * newest tried). Updates `plan.kernel` and `plan.needs[0]`.
 */
async function fetchKernel(
  plan: VmPlan,
  root: string,
  manifest: Manifest,
  fetcher: Fetcher,
  checksums: boolean,
  log: Log,
): Promise<void> {
  const gone = recentlyUnavailable(manifest);
  const candidates = plan.kernelCandidates.filter((k, i) =>
    i === plan.kernelCandidates.length - 1 ||
    !gone.has(debNeed(plan.vm, plan.mirror, k).key)
  );
  for (const [c, k] of candidates.entries()) {
    const need = debNeed(plan.vm, plan.mirror, k);
    plan.kernel = k;
    plan.needs[0] = need;
    plan.kernelCandidates = candidates.slice(c);
    const have = manifest.artifacts[need.key];
    const state = await artifactState(root, have, checksums);
    if (state.ok) return;
    if (have) {
      log(`  cache: ${need.key}: ${state.detail}: fetching it again`);
      await Deno.remove(`${root}/${have.file}`).catch(() => {});
      delete manifest.artifacts[need.key];
    }
    try {
      manifest.artifacts[need.key] = await fetcher(need, root);
      delete manifest.unavailable[need.key];
      await writeManifest(root, manifest);
      return;
    } catch (err) {
      const next = candidates[c + 1];
      if (!(err instanceof FetchError) || err.status !== 404 || !next) {
        throw err;
      }
      log(
        `  ${need.key}: the signed index lists it but the mirror does not serve it (HTTP 404); trying ${next.package} ${next.version}`,
      );
      manifest.unavailable[need.key] = new Date().toISOString();
      await writeManifest(root, manifest);
    }
  }
}

/**
 * Makes sure every artifact of a plan is cached and intact, downloading
 * what is missing (a progress line per artifact, with its size). A file
 * that lost its size (or, with `checksums`, its SHA-256) and an unusable
 * manifest are reported on the log and fetched again. The kernel the row
 * resolved to is recorded in the manifest (and in `plan.kernel`, which may
 * move to an older candidate when the mirror lacks the newest). A second
 * call downloads nothing. Throws a FetchError when a download fails.
 *
 * @example
 * ```ts ignore
 * // ignored: downloads or reads the VM cache (about 1 GB).
 * const plan = await planVm(table, findVm(table, "default"));
 * const a = await ensureVmArtifacts(plan!, { log: console.log });
 * assert.match(a.path(a.kernelDeb), /debs\/arm64\/linux-image-6\.12\..*\.deb$/);
 * ```
 */
export async function ensureVmArtifacts(
  plan: VmPlan,
  opts: EnsureOptions = {},
): Promise<VmArtifacts> {
  const root = opts.root ?? vmCacheRoot();
  const log = opts.log ?? ((l: string) => console.error(l));
  const projectRoot = opts.projectRoot ??
    decodeURIComponent(new URL("../../", import.meta.url).pathname);
  const read = await readManifest(root);
  const manifest: Manifest = read.manifest;
  if (read.problem) {
    log(
      `  cache: ${read.problem}: starting a new manifest; artifacts are fetched again`,
    );
  }
  for (const d of read.dropped) {
    log(`  cache: manifest entry ${d}: dropped, fetched again`);
  }
  const fetcher: Fetcher = opts.fetcher ??
    ((need, r) =>
      need.kind === "deb"
        ? fetchDeb(r, need, log)
        : fetchDeno(r, need, projectRoot, log));
  const checksums = opts.checksums ?? false;
  await fetchKernel(plan, root, manifest, fetcher, checksums, log);
  const got: Record<string, Artifact> = {};
  let changed = read.problem !== undefined || read.dropped.length > 0;
  for (const need of plan.needs) {
    const have = manifest.artifacts[need.key];
    const state = await artifactState(root, have, checksums);
    if (state.ok) {
      got[need.key] = have;
      continue;
    }
    if (have) {
      log(`  cache: ${need.key}: ${state.detail}: fetching it again`);
      await Deno.remove(`${root}/${have.file}`).catch(() => {});
      delete manifest.artifacts[need.key];
    }
    const a = await fetcher(need, root);
    manifest.artifacts[need.key] = a;
    await writeManifest(root, manifest);
    got[need.key] = a;
  }
  const k = plan.kernel;
  const resolution: KernelResolution = {
    line: k.line,
    package: k.package,
    version: k.version,
    suite: k.suite,
    sha256: got[plan.needs[0].key].sha256,
    resolvedAt: new Date().toISOString(),
    pinned: k.pinned,
  };
  const before = manifest.resolutions[plan.vm.name];
  if (
    before?.package !== resolution.package ||
    before.version !== resolution.version || before.pinned !== k.pinned
  ) {
    manifest.resolutions[plan.vm.name] = resolution;
    changed = true;
  }
  if (changed) await writeManifest(root, manifest);
  const needs = plan.needs;
  return {
    kernelDeb: got[needs[0].key],
    userlandDebs: needs.slice(1, -1).map((n) => got[n.key]),
    deno: got[needs[needs.length - 1].key],
    path: (a) => `${root}/${a.file}`,
  };
}

/**
 * Re-checks a cached artifact's SHA-256; throws a CorruptArtifactError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { verifyArtifact } from "./artifacts.ts";
 * import { CorruptArtifactError } from "./errors.ts";
 * import { sha256Hex } from "./sha256.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/f`, "data");
 * const a = { key: "k", file: "f", sha256: sha256Hex("data"), size: 4, version: "1", source: "test" };
 * await verifyArtifact(root, a);
 * await Deno.writeTextFile(`${root}/f`, "DATA");
 * await assert.rejects(verifyArtifact(root, a), CorruptArtifactError);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function verifyArtifact(root: string, a: Artifact): Promise<void> {
  const state = await artifactState(root, a, true);
  if (!state.ok) throw new CorruptArtifactError(a.key, state.detail);
}

/** Downloads a package from the mirror, kept only with its index checksum. */
async function fetchDeb(
  root: string,
  need: DebNeed,
  log: Log,
): Promise<Artifact> {
  const e = need.entry;
  if (!e.filename) {
    throw new FetchError(
      `${need.key} is not in the archive any more and its cached copy is gone`,
    );
  }
  const debArch = ARCHES[need.arch].debian;
  const rel = `debs/${debArch}/${e.filename.split("/").pop()}`;
  await Deno.mkdir(`${root}/debs/${debArch}`, { recursive: true });
  const t0 = performance.now();
  const line = `  fetch ${e.package} ${e.version} (${debArch}, ${e.suite}, ${
    formatBytes(e.size)
  })`;
  if (e.size > 10e6) log(`${line} ...`);
  const sha256 = await download(
    `${need.base}/${e.filename}`,
    `${root}/${rel}`,
    { size: e.size, sha256: e.sha256 },
  );
  log(`${line} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return {
    key: need.key,
    file: rel,
    sha256,
    size: e.size,
    version: e.version,
    source: `debian ${e.suite}`,
  };
}

async function fetchDeno(
  root: string,
  need: NpmNeed,
  projectRoot: string,
  log: Log,
): Promise<Artifact> {
  const rel = `deno/${need.arch}-${need.version}`;
  const dir = `${root}/${rel}`;
  await Deno.mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const local = `${projectRoot}/node_modules/${need.package}`;
  let source = "";
  try {
    const pj = JSON.parse(await Deno.readTextFile(`${local}/package.json`));
    if (pj.version === need.version) {
      await Deno.copyFile(`${local}/deno`, `${dir}/deno.tmp`);
      source = `node_modules ${need.package}@${need.version}`;
      log(
        `  copy ${need.package}@${need.version} from node_modules (${
          formatBytes((await Deno.stat(`${dir}/deno.tmp`)).size)
        })`,
      );
    }
  } catch { /* not installed here: fetch */ }
  if (!source) {
    const spec = `${need.package}@${need.version}`;
    log(`  fetch ${spec} (npm) ...`);
    const tmp = await Deno.makeTempDir({ dir, prefix: "pack-" });
    try {
      const r = await exec("npm", [
        "pack",
        spec,
        "--pack-destination",
        tmp,
        "--json",
        "--silent",
      ]);
      const info = JSON.parse(r.stdout)[0];
      const tgz = `${tmp}/${info.filename}`;
      await exec("tar", ["-xzf", tgz, "-C", tmp, "package/deno"]);
      await Deno.rename(`${tmp}/package/deno`, `${dir}/deno.tmp`);
      source = `npm ${spec} ${info.integrity}`;
      log(
        `  fetch ${spec} (npm, ${formatBytes(info.size)} packed, ${
          formatBytes(info.unpackedSize)
        }) done in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  }
  await Deno.chmod(`${dir}/deno.tmp`, 0o755);
  await Deno.rename(`${dir}/deno.tmp`, `${dir}/deno`);
  return {
    key: need.key,
    file: `${rel}/deno`,
    sha256: await sha256File(`${dir}/deno`),
    size: (await Deno.stat(`${dir}/deno`)).size,
    version: need.version,
    source,
  };
}
