/**
 * Debian's signed archive metadata, read without apt: each suite's
 * `InRelease` is verified with `gpgv` against Debian's archive keyring
 * (package `debian-archive-keyring`) and only the signed text is used; it
 * must name the suite asked for and not be past its `Valid-Until`. A
 * `Packages` index is accepted only when its size and SHA-256 are the ones
 * that signed text lists, and a `.deb` only with the size and SHA-256 of its
 * index stanza. So every byte a guest boots traces back to Debian's key.
 *
 * Cached under `<cache>/index/<suite>/<arch>/`: `InRelease` and
 * `Packages.xz` as downloaded (replaced together, only once both are
 * verified) and `trimmed.json` (the stanzas the runner needs, derived again
 * whenever the Packages file or the wanted packages change). A suite's metadata is fetched again after
 * {@link INDEX_MAX_AGE_MS}, or on request; a `Packages` file only when the
 * new `InRelease` lists another checksum.
 *
 * @module
 */
import { CommandError, FetchError, MissingToolError } from "./errors.ts";
import { exec } from "./exec.ts";
import type { Mirror } from "./mirror.ts";
import { sha256File } from "./sha256.ts";

/** Keyring of the package `debian-archive-keyring` (bullseye..trixie keys). */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/** How long fetched metadata is used before it is fetched again. */
export const INDEX_MAX_AGE_MS = 24 * 3600 * 1000;

/** One stanza of a deb822 file (`Packages`, `Release`), field → value. */
export type Stanza = Record<string, string>;

/**
 * Parses deb822 stanzas. Continuation lines are joined with newlines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStanzas } from "./debian_archive.ts";
 * assert.deepEqual(parseStanzas("Package: a\nVersion: 1\n\nPackage: b\nDescription: x\n more\n"), [
 *   { Package: "a", Version: "1" },
 *   { Package: "b", Description: "x\nmore" },
 * ]);
 * ```
 */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let last = "";
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = "";
      continue;
    }
    if (/^\s/.test(line) && last) {
      cur[last] += "\n" + line.trim();
      continue;
    }
    const i = line.indexOf(":");
    if (i <= 0) continue;
    last = line.slice(0, i);
    cur[last] = line.slice(i + 1).trim();
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

/** A file a Release lists: its path under `dists/<suite>/`, size, SHA-256. */
export interface ReleaseFile {
  path: string;
  size: number;
  sha256: string;
}

/** The fields of a (verified) Release text the runner uses. */
export interface Release {
  suite: string;
  codename: string;
  date: Date;
  validUntil?: Date;
  /** By path, e.g. `main/binary-arm64/Packages.xz`. */
  sha256: Map<string, ReleaseFile>;
}

/**
 * Parses the signed text of an InRelease (or a Release file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRelease } from "./debian_archive.ts";
 * const r = parseRelease(
 *   "Suite: oldstable-security\nCodename: bookworm-security\n" +
 *     "Date: Mon, 30 Nov 2026 00:22:33 UTC\nSHA256:\n" +
 *     " c49617c0b30619d7403f5e66de60aeeb47c6488262e4327418830d0d6e83500a   383968 main/binary-amd64/Packages.xz\n",
 * );
 * assert.equal(r.codename, "bookworm-security");
 * assert.equal(r.sha256.get("main/binary-amd64/Packages.xz")?.size, 383968);
 * ```
 */
export function parseRelease(text: string): Release {
  const [st] = parseStanzas(text);
  if (!st) throw new FetchError("Release: empty");
  const sha256 = new Map<string, ReleaseFile>();
  for (const line of (st.SHA256 ?? "").split("\n")) {
    const m = /^([0-9a-f]{64})\s+(\d+)\s+(\S+)$/.exec(line.trim());
    if (m) sha256.set(m[3], { path: m[3], size: Number(m[2]), sha256: m[1] });
  }
  const date = new Date(st.Date ?? "");
  if (Number.isNaN(date.getTime())) {
    throw new FetchError(`Release: no valid Date (${st.Date})`);
  }
  const validUntil = st["Valid-Until"]
    ? new Date(st["Valid-Until"])
    : undefined;
  return {
    suite: st.Suite ?? "",
    codename: st.Codename ?? "",
    date,
    validUntil,
    sha256,
  };
}

/**
 * Verifies a downloaded `InRelease` with gpgv against `keyring` and returns
 * its signed text only (anything outside the signature is ignored). Throws
 * a FetchError when no good signature from the keyring covers it.
 */
export async function verifyInRelease(
  file: string,
  keyring = DEBIAN_KEYRING,
): Promise<string> {
  try {
    await Deno.stat(keyring);
  } catch {
    throw new MissingToolError(keyring, "debian-archive-keyring");
  }
  const out = `${file}.signed-${Deno.pid}`;
  try {
    const r = await exec("gpgv", [
      "--keyring",
      keyring,
      "--status-fd",
      "1",
      "--output",
      out,
      file,
    ], { allowFail: true }).catch((err) => {
      throw new MissingToolError("gpgv", "gpgv", { cause: err });
    });
    const good = /^\[GNUPG:\] VALIDSIG /m.test(r.stdout);
    const bad = /^\[GNUPG:\] (BADSIG|ERRSIG) /m.test(r.stdout);
    if (r.code !== 0 || !good || bad) {
      throw new FetchError(
        `${file}: no good signature from ${keyring} (gpgv exited ${r.code}: ${
          r.stderr.trim().split("\n").slice(-2).join("; ")
        })`,
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/**
 * Checks a verified Release against what was asked: the suite (codename or
 * suite name, so that one suite's metadata cannot stand in for another's)
 * and, when it has one, its Valid-Until against `now`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRelease } from "./debian_archive.ts";
 * const r = { suite: "oldstable-security", codename: "bookworm-security", date: new Date("2026-11-30"),
 *   validUntil: new Date("2026-12-07"), sha256: new Map() };
 * checkRelease(r, "bookworm-security", new Date("2026-12-01"));
 * assert.throws(() => checkRelease(r, "bookworm-security", new Date("2026-12-08")), /expired/);
 * assert.throws(() => checkRelease(r, "trixie-security", new Date("2026-12-01")), /is for bookworm-security/);
 * ```
 */
export function checkRelease(r: Release, suite: string, now: Date): void {
  if (r.codename !== suite && r.suite !== suite) {
    throw new FetchError(
      `the Release file fetched for ${suite} is for ${r.codename || r.suite}`,
    );
  }
  if (r.validUntil && r.validUntil.getTime() < now.getTime()) {
    throw new FetchError(
      `the Release file of ${suite} expired on ${r.validUntil.toISOString()} (it is ${now.toISOString()})`,
      { hint: "the mirror serves stale metadata; try again later" },
    );
  }
}

/** The base URL of a suite on a mirror (`*-security` on the security one). */
export function suiteBase(mirror: Mirror, suite: string): string {
  return suite.endsWith("-security") ? mirror.security : mirror.debian;
}

/**
 * Downloads `url` to `dest` (through a temporary file), checking size and
 * SHA-256 when given; returns the SHA-256. Throws a FetchError on an HTTP
 * error or a mismatch (and leaves nothing at `dest`).
 */
export async function download(
  url: string,
  dest: string,
  want: { size?: number; sha256?: string } = {},
): Promise<string> {
  const tmp = `${dest}.part-${Deno.pid}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(900_000) });
  } catch (err) {
    throw new FetchError(`GET ${url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new FetchError(`GET ${url}: HTTP ${res.status} ${res.statusText}`, {
      status: res.status,
    });
  }
  try {
    // Streamed to disk as it arrives (a kernel package is tens of MB).
    await Deno.writeFile(tmp, res.body);
    const size = (await Deno.stat(tmp)).size;
    if (want.size !== undefined && size !== want.size) {
      throw new FetchError(`${url}: ${size} bytes, expected ${want.size}`);
    }
    const sha = await sha256File(tmp);
    if (want.sha256 !== undefined && sha !== want.sha256) {
      throw new FetchError(
        `${url}: sha256 ${sha}, the signed index says ${want.sha256}`,
      );
    }
    await Deno.rename(tmp, dest);
    return sha;
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    if (err instanceof FetchError) throw err;
    throw new FetchError(`GET ${url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** What a Packages stanza tells about one binary package. */
export interface PackageEntry {
  package: string;
  version: string;
  architecture: string;
  /** Path under the mirror's base URL (`pool/...`). */
  filename: string;
  size: number;
  sha256: string;
  /** The suite whose index listed it. */
  suite: string;
}

/**
 * Picks the stanzas of `text` (a Packages file) whose package name
 * `wanted` accepts, keeping the fields a download needs. Scans for
 * `Package:` lines first, so a 45 MB index is read without parsing every
 * stanza.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pickPackages } from "./debian_archive.ts";
 * const text = "Package: libc6\nVersion: 2.36-9\nArchitecture: arm64\nFilename: pool/l/libc6.deb\nSize: 3\n" +
 *   `SHA256: ${"a".repeat(64)}\n\nPackage: other\nVersion: 1\n`;
 * assert.deepEqual(pickPackages(text, (p) => p === "libc6", "bookworm"), [{
 *   package: "libc6", version: "2.36-9", architecture: "arm64", filename: "pool/l/libc6.deb",
 *   size: 3, sha256: "a".repeat(64), suite: "bookworm",
 * }]);
 * ```
 */
export function pickPackages(
  text: string,
  wanted: (name: string) => boolean,
  suite: string,
): PackageEntry[] {
  const out: PackageEntry[] = [];
  const re = /^Package: (\S+)$/gm;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (!wanted(m[1])) continue;
    const end = text.indexOf("\n\n", m.index);
    const [st] = parseStanzas(text.slice(m.index, end < 0 ? undefined : end));
    if (
      !st?.Version || !st.Filename || !/^\d+$/.test(st.Size ?? "") ||
      !/^[0-9a-f]{64}$/.test(st.SHA256 ?? "")
    ) continue;
    out.push({
      package: st.Package,
      version: st.Version,
      architecture: st.Architecture ?? "",
      filename: st.Filename,
      size: Number(st.Size),
      sha256: st.SHA256,
      suite,
    });
  }
  return out;
}

/** The verified index of one suite for one architecture. */
export interface SuiteIndex {
  suite: string;
  arch: string;
  /** The Release's Date. */
  date: string;
  /** When this machine fetched it (ISO). */
  fetchedAt: string;
  /** SHA-256 of the Packages file it was derived from. */
  packagesSha256: string;
  /** The package names (and prefixes) it was trimmed for. */
  wanted: string[];
  packages: PackageEntry[];
}

/** What the runner wants from every index: names and `prefix*` patterns. */
export function wantedMatcher(wanted: string[]): (name: string) => boolean {
  const exact = new Set(wanted.filter((w) => !w.endsWith("*")));
  const prefixes = wanted.filter((w) => w.endsWith("*")).map((w) =>
    w.slice(0, -1)
  );
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

/** Options of {@link loadSuiteIndex}. */
export interface IndexOptions {
  /** Cache root. */
  root: string;
  mirror: Mirror;
  /** Package names (and `prefix*`) to keep. */
  wanted: string[];
  log: (line: string) => void;
  /** Fetch the metadata again even if it is recent. */
  refresh?: boolean;
  /** Use only what is cached; never download (for `vm:list`). */
  offline?: boolean;
  /** The clock (tests). */
  now?: Date;
  /** Keyring (tests). */
  keyring?: string;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

/** Decompresses a Packages file (`.xz` with the host's xz, `.gz` natively). */
async function decompressIndex(path: string): Promise<string> {
  if (path.endsWith(".gz")) {
    const f = await Deno.open(path);
    const stream = f.readable.pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }
  const r = await exec("xz", ["-dc", path]).catch((err) => {
    if (err instanceof CommandError && err.code === null) {
      throw new MissingToolError("xz", "xz-utils", { cause: err });
    }
    throw err;
  });
  return r.stdout;
}

/**
 * The verified index of `suite` for `arch` (a Debian arch: amd64, arm64),
 * from the cache when it is recent enough and covers `wanted`, else from
 * the mirror (InRelease verified, Packages checked against it). When the
 * mirror cannot be reached and a verified copy exists, that copy is used
 * with a warning on the log; `offline` never downloads and returns
 * undefined when nothing is cached.
 */
export async function loadSuiteIndex(
  suite: string,
  arch: string,
  o: IndexOptions,
): Promise<SuiteIndex | undefined> {
  const now = o.now ?? new Date();
  const trimmedPath = `${o.root}/index/${suite}/${arch}/trimmed.json`;
  const cached = await readJson<SuiteIndex>(trimmedPath);
  const covers = (ix: SuiteIndex | undefined) =>
    ix !== undefined && o.wanted.every((w) => ix.wanted.includes(w));
  const fresh = cached !== undefined &&
    now.getTime() - new Date(cached.fetchedAt).getTime() < INDEX_MAX_AGE_MS;
  if (cached && covers(cached) && (o.offline || (fresh && !o.refresh))) {
    return cached;
  }
  if (o.offline) {
    // Derive from the stored files if they are there (no network).
    return await deriveIndex(suite, arch, o, cached?.fetchedAt).catch(() =>
      undefined
    );
  }
  try {
    return await fetchSuiteIndex(suite, arch, o, now);
  } catch (err) {
    if (!(err instanceof FetchError) || !cached) throw err;
    o.log(
      `  index ${suite}/${arch}: ${err.message}; using the copy verified on ${cached.fetchedAt}`,
    );
    if (covers(cached)) return cached;
    return await deriveIndex(suite, arch, o, cached.fetchedAt);
  }
}

/** Re-derives trimmed.json from the stored, re-verified files. */
async function deriveIndex(
  suite: string,
  arch: string,
  o: IndexOptions,
  fetchedAt: string | undefined,
): Promise<SuiteIndex> {
  const dir = `${o.root}/index/${suite}/${arch}`;
  const release = parseRelease(
    await verifyInRelease(`${dir}/InRelease`, o.keyring),
  );
  checkRelease(release, suite, o.now ?? new Date());
  return await trimIndex(suite, arch, release, o, fetchedAt ?? "");
}

async function trimIndex(
  suite: string,
  arch: string,
  release: Release,
  o: IndexOptions,
  fetchedAt: string,
): Promise<SuiteIndex> {
  const dir = `${o.root}/index/${suite}/${arch}`;
  for (const ext of ["xz", "gz"]) {
    const entry = release.sha256.get(`main/binary-${arch}/Packages.${ext}`);
    if (!entry) continue;
    const path = `${dir}/Packages.${ext}`;
    const sha = await sha256File(path).catch(() => "");
    if (sha !== entry.sha256) continue;
    const packages = pickPackages(
      await decompressIndex(path),
      wantedMatcher(o.wanted),
      suite,
    );
    const index: SuiteIndex = {
      suite,
      arch,
      date: release.date.toISOString(),
      fetchedAt,
      packagesSha256: sha,
      wanted: [...o.wanted],
      packages,
    };
    const tmp = `${dir}/trimmed.json.tmp-${Deno.pid}`;
    await Deno.writeTextFile(tmp, JSON.stringify(index) + "\n");
    await Deno.rename(tmp, `${dir}/trimmed.json`);
    return index;
  }
  throw new FetchError(
    `no verified Packages file of ${suite}/${arch} in ${dir}`,
  );
}

async function fetchSuiteIndex(
  suite: string,
  arch: string,
  o: IndexOptions,
  now: Date,
): Promise<SuiteIndex> {
  const base = suiteBase(o.mirror, suite);
  const dir = `${o.root}/index/${suite}/${arch}`;
  await Deno.mkdir(dir, { recursive: true });
  const t0 = performance.now();
  const fresh = `${dir}/InRelease.new-${Deno.pid}`;
  let fetched = "";
  let release: Release;
  try {
    await download(`${base}/dists/${suite}/InRelease`, fresh);
    release = parseRelease(await verifyInRelease(fresh, o.keyring));
    checkRelease(release, suite, now);
    // The Packages file it lists (kept only when its checksum matches),
    // then the InRelease: the two stored files always belong together.
    for (const ext of ["xz", "gz"]) {
      const entry = release.sha256.get(`main/binary-${arch}/Packages.${ext}`);
      if (!entry) continue;
      const path = `${dir}/Packages.${ext}`;
      if ((await sha256File(path).catch(() => "")) === entry.sha256) break;
      await download(`${base}/dists/${suite}/${entry.path}`, path, entry);
      fetched = ` (Packages.${ext}, ${(entry.size / 1e6).toFixed(1)} MB)`;
      break;
    }
    await Deno.rename(fresh, `${dir}/InRelease`);
  } finally {
    await Deno.remove(fresh).catch(() => {});
  }
  const index = await trimIndex(suite, arch, release, o, now.toISOString());
  o.log(
    `  index ${suite}/${arch}: signed ${
      index.date.slice(0, 10)
    }, verified${fetched} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return index;
}
