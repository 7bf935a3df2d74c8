/**
 * Guest artifacts: fetch on first use, cache, verify.
 *
 * Debian packages come through a private apt tree per guest architecture
 * (see `apt_config.ts`); their SHA-256 is taken from the index apt verified
 * and checked again on the downloaded file. Deno for the guest comes from npm
 * (`npm pack`, integrity checked by npm), or from the project's own
 * `node_modules` when it already holds the same package and version. Every
 * file's SHA-256 is recorded in `manifest.json` and re-checked when used.
 *
 * The cache itself (layout, manifest, file checks) is `cache.ts`; the
 * private apt tree lives under `apt/<arch>/`.
 *
 * @module
 */
import {
  aptConfFile,
  aptDirs,
  aptOptions,
  aptPreferences,
  aptSourcesList,
  hostMirror,
  parseStanzas,
} from "./apt_config.ts";
import { formatBytes } from "../common/format.ts";
import {
  type Artifact,
  artifactState,
  type Manifest,
  readManifest,
  vmCacheRoot,
  writeManifest,
} from "./cache.ts";
import { CorruptArtifactError, FetchError } from "./errors.ts";
import { exec } from "./exec.ts";
import { sha256File, sha256Hex } from "./sha256.ts";
import { type Arch, ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/** What a VM needs fetched. */
export type Need =
  | { key: string; kind: "deb"; arch: Arch; package: string; version?: string }
  | { key: string; kind: "npm"; arch: Arch; package: string; version: string };

/**
 * The artifacts one VM needs: its kernel package (exact version), the
 * userland packages of its architecture (candidate version of the userland
 * suites) and Deno for its architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmNeeds } from "./artifacts.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * const keys = vmNeeds(table, findVm(table, "default")).map((n) => n.key);
 * assert.match(keys[0], /^deb\/arm64\/linux-image-6\.12\./);
 * assert.equal(keys[1], "deb/arm64/libc6");
 * assert.equal(keys.at(-1), `npm/@deno/linux-arm64-glibc@${table.deno}`);
 * ```
 */
export function vmNeeds(table: VmTable, vm: VmSpec): Need[] {
  const d = ARCHES[vm.arch].debian;
  const k = vm.kernel;
  const needs: Need[] = [{
    key: `deb/${d}/${k.package}=${k.version}`,
    kind: "deb",
    arch: vm.arch,
    package: k.package,
    version: k.version,
  }];
  for (const p of table.userland.packages) {
    needs.push({
      key: `deb/${d}/${p}`,
      kind: "deb",
      arch: vm.arch,
      package: p,
    });
  }
  const npm = ARCHES[vm.arch].denoNpm;
  needs.push({
    key: `npm/${npm}@${table.deno}`,
    kind: "npm",
    arch: vm.arch,
    package: npm,
    version: table.deno,
  });
  return needs;
}

/**
 * Every suite the private apt tree of `arch` lists: the userland suites plus
 * the kernel suites of all VMs of that arch (so the tree stays the same
 * whichever VM is run first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { archSuites } from "./artifacts.ts";
 * import { loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * assert.deepEqual(archSuites(table, "arm64"), [...table.userland.suites, "trixie", "bullseye"]);
 * ```
 */
export function archSuites(table: VmTable, arch: Arch): string[] {
  const s = [...table.userland.suites];
  for (const vm of table.vms) {
    if (vm.arch === arch && !s.includes(vm.kernel.suite)) {
      s.push(vm.kernel.suite);
    }
  }
  return s;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
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
 * The true state of a VM's artifacts: each one present, of its recorded
 * size and (with `checksums`, the default) SHA-256. A damaged file or an
 * unusable manifest is reported, not counted as cached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cacheStatus } from "./artifacts.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * const empty = await Deno.makeTempDir();
 * const status = await cacheStatus(table, findVm(table, "default"), empty);
 * assert.equal(status.cached, false);
 * assert.equal(status.missing.length, table.userland.packages.length + 2);
 * await Deno.writeTextFile(`${empty}/manifest.json`, "not json");
 * assert.match((await cacheStatus(table, findVm(table, "default"), empty)).manifestProblem!, /not valid JSON/);
 * await Deno.remove(empty, { recursive: true });
 * ```
 */
export async function cacheStatus(
  table: VmTable,
  vm: VmSpec,
  root = vmCacheRoot(),
  checksums = true,
): Promise<CacheStatus> {
  const { manifest, problem } = await readManifest(root);
  const missing: string[] = [];
  const corrupt: string[] = [];
  let bytes = 0;
  for (const need of vmNeeds(table, vm)) {
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

/** Progress output: one call per line. */
export type Log = (line: string) => void;

/** Fetches one artifact into the cache and describes it (for tests). */
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

class AptTree {
  #ready = false;
  #updated = false;
  constructor(
    readonly root: string,
    readonly table: VmTable,
    readonly arch: Arch,
    readonly log: Log,
  ) {}

  get dirs() {
    return aptDirs(`${this.root}/apt/${ARCHES[this.arch].debian}`);
  }

  args(...rest: string[]): string[] {
    return [...aptOptions(this.dirs, ARCHES[this.arch].debian), ...rest];
  }

  async prepare(): Promise<void> {
    if (this.#ready) return;
    const d = this.dirs;
    for (
      const p of [
        d.sourceParts,
        d.preferencesParts,
        `${d.lists}/partial`,
        `${d.archives}/partial`,
      ]
    ) await Deno.mkdir(p, { recursive: true });
    if (!(await exists(d.status))) await Deno.writeTextFile(d.status, "");
    const suites = archSuites(this.table, this.arch);
    const sources = aptSourcesList(await hostMirror(), suites);
    const prefs = aptPreferences(this.table.userland.suites, suites);
    await Deno.writeTextFile(d.sourcesList, sources);
    await Deno.writeTextFile(d.preferences, prefs);
    await Deno.writeTextFile(d.conf, aptConfFile());
    const stamp = sha256Hex(sources + prefs);
    const stampFile = `${d.state}/update.stamp`;
    let old = "";
    try {
      old = (await Deno.readTextFile(stampFile)).trim();
    } catch { /* never updated */ }
    if (old !== stamp) {
      await this.update();
      await Deno.writeTextFile(stampFile, stamp + "\n");
    }
    this.#ready = true;
  }

  /** apt's binary caches (~75 MB per suite set) are rebuilt when needed. */
  async dropBinaryCaches(): Promise<void> {
    if (!this.#ready) return;
    for (const f of ["pkgcache.bin", "srcpkgcache.bin"]) {
      await Deno.remove(`${this.dirs.cache}/${f}`).catch(() => {});
    }
  }

  async update(): Promise<void> {
    if (this.#updated) return;
    const t0 = performance.now();
    this.log(
      `  apt-get update (private tree ${this.dirs.root}: ${
        archSuites(this.table, this.arch).join(", ")
      }; ${ARCHES[this.arch].debian})`,
    );
    await exec("apt-get", this.args("update"));
    this.#updated = true;
    this.log(
      `  apt-get update done in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
  }

  /** Candidate (or exact) version's index stanza. */
  async stanza(pkg: string, version?: string) {
    let v = version;
    const lookup = async () => {
      if (!v) {
        const pol = await exec("apt-cache", this.args("policy", pkg));
        const m = /Candidate:\s*(\S+)/.exec(pol.stdout);
        if (!m || m[1] === "(none)") return undefined;
        v = m[1];
      }
      const r = await exec("apt-cache", this.args("show", `${pkg}=${v}`), {
        allowFail: true,
      });
      return r.code === 0 ? parseStanzas(r.stdout)[0] : undefined;
    };
    let st = await lookup();
    if (!st && !this.#updated) {
      await this.update(); // index may predate the package: refresh once
      v = version;
      st = await lookup();
    }
    if (!st) {
      const mad = await exec("apt-cache", this.args("madison", pkg), {
        allowFail: true,
      });
      throw new FetchError(
        `${pkg}${version ? `=${version}` : ""} (${
          ARCHES[this.arch].debian
        }) is not in the suites ${
          archSuites(this.table, this.arch).join(", ")
        }.` +
          (mad.stdout.trim()
            ? `\nAvailable:\n${mad.stdout.trimEnd()}`
            : "\nNo version of it is available.") +
          "\nUpdate the row in lib/vm/vms.json.",
      );
    }
    return st;
  }
}

/**
 * Makes sure every artifact of `vm` is cached and intact, downloading what
 * is missing (one progress line per artifact, with its size). A file that
 * lost its size (or, with `checksums`, its SHA-256) and an unusable
 * manifest are reported on the log and fetched again. A second call
 * downloads nothing. Throws a FetchError when a download fails.
 *
 * @example
 * ```ts ignore
 * // ignored: downloads or reads the VM cache (about 1 GB).
 * const a = await ensureVmArtifacts(table, findVm(table, "default"), { log: console.log });
 * assert.match(a.path(a.kernelDeb), /debs\/arm64\/linux-image-6\.12\..*\.deb$/);
 * ```
 */
export async function ensureVmArtifacts(
  table: VmTable,
  vm: VmSpec,
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
  const tree = new AptTree(root, table, vm.arch, log);
  const fetcher: Fetcher = opts.fetcher ??
    ((need, r) =>
      need.kind === "deb"
        ? fetchDeb(r, tree, need, log)
        : fetchDeno(r, need, projectRoot, log));
  const got: Record<string, Artifact> = {};
  const needs = vmNeeds(table, vm);
  for (const need of needs) {
    const have = manifest.artifacts[need.key];
    const state = await artifactState(root, have, opts.checksums ?? false);
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
  if (read.problem || read.dropped.length) await writeManifest(root, manifest);
  await tree.dropBinaryCaches();
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

async function fetchDeb(
  root: string,
  tree: AptTree,
  need: Extract<Need, { kind: "deb" }>,
  log: Log,
): Promise<Artifact> {
  await tree.prepare();
  const st = await tree.stanza(need.package, need.version);
  const size = Number(st.Size);
  const version = st.Version;
  const arch = ARCHES[need.arch].debian;
  const dir = `${root}/debs/${arch}`;
  await Deno.mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const line = `  fetch ${need.package} ${version} (${arch}, ${
    formatBytes(size)
  })`;
  log(`${line} ...`);
  // apt-get download verifies the file against the index before keeping it.
  await exec(
    "apt-get",
    tree.args("download", `${need.package}=${version}`),
    { cwd: dir },
  );
  // apt-get download names files `name_version_arch.deb`, the epoch's ':'
  // escaped as %3a; the pool file name has no epoch.
  const candidates = [
    `${need.package}_${version.replace(/:/g, "%3a")}_${arch}.deb`,
    st.Filename.split("/").pop()!,
  ];
  let file = "";
  for (const c of candidates) {
    if (await exists(`${dir}/${c}`)) {
      file = c;
      break;
    }
  }
  if (!file) {
    throw new FetchError(`apt-get download left no file for ${need.key}`);
  }
  const sha = await sha256File(`${dir}/${file}`);
  if (st.SHA256 && sha !== st.SHA256) {
    throw new FetchError(
      `${dir}/${file}: sha256 ${sha} differs from the index's ${st.SHA256}`,
    );
  }
  log(`${line} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return {
    key: need.key,
    file: `debs/${arch}/${file}`,
    sha256: sha,
    size: (await Deno.stat(`${dir}/${file}`)).size,
    version,
    source: `apt ${st.Package}=${version}`,
  };
}

async function fetchDeno(
  root: string,
  need: Extract<Need, { kind: "npm" }>,
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
