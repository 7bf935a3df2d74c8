/**
 * A private apt configuration: own sources list, preferences, state and cache
 * folders, so guest packages of any suite and architecture can be downloaded
 * without touching the machine's own apt setup.
 *
 * @module
 */

/** Debian archive base URLs (without suite). */
export interface Mirror {
  /** e.g. `http://deb.debian.org/debian` */
  debian: string;
  /** e.g. `http://deb.debian.org/debian-security` */
  security: string;
}

/** Used when the machine's sources name no Debian archive. */
export const DEFAULT_MIRROR: Mirror = {
  debian: "http://deb.debian.org/debian",
  security: "http://deb.debian.org/debian-security",
};

/**
 * Finds the Debian archive URLs in the machine's apt sources (one-line
 * `deb URL suite ...` and deb822 `URIs:` forms); the mirror that the machine
 * uses is the one known to work. Falls back to {@link DEFAULT_MIRROR}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectMirror } from "./apt_config.ts";
 * assert.deepEqual(detectMirror(["deb http://ftp.de.debian.org/debian bookworm main"]), {
 *   debian: "http://ftp.de.debian.org/debian",
 *   security: "http://ftp.de.debian.org/debian-security",
 * });
 * ```
 */
export function detectMirror(sourcesTexts: string[]): Mirror {
  const uris: string[] = [];
  for (const text of sourcesTexts) {
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line.startsWith("#")) continue;
      let m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      if (m) uris.push(m[1]);
      m = /^URIs:\s*(.+)$/i.exec(line);
      if (m) uris.push(...m[1].trim().split(/\s+/));
    }
  }
  const clean = (u: string) => u.replace(/\/+$/, "");
  const debian = uris.map(clean).find((u) => /\/debian$/.test(u));
  const security = uris.map(clean).find((u) => /\/debian-security$/.test(u));
  if (!debian) return { ...DEFAULT_MIRROR };
  return {
    debian,
    security: security ?? debian.replace(/\/debian$/, "/debian-security"),
  };
}

/**
 * Reads the machine's apt sources and returns {@link detectMirror}'s answer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostMirror } from "./apt_config.ts";
 * const mirror = await hostMirror(); // deb.debian.org here
 * assert.match(mirror.debian, /^https?:\/\/\S+\/debian$/);
 * ```
 */
export async function hostMirror(): Promise<Mirror> {
  const texts: string[] = [];
  const tryRead = async (p: string) => {
    try {
      texts.push(await Deno.readTextFile(p));
    } catch { /* absent */ }
  };
  await tryRead("/etc/apt/sources.list");
  try {
    for await (const e of Deno.readDir("/etc/apt/sources.list.d")) {
      if (/\.(list|sources)$/.test(e.name)) {
        await tryRead(`/etc/apt/sources.list.d/${e.name}`);
      }
    }
  } catch { /* absent */ }
  return detectMirror(texts);
}

/** Keyring that signs Debian's archives (bullseye..trixie keys included). */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";

/**
 * One-line sources list for the given suites (`*-security` suites go to the
 * security archive), main component only, signed by Debian's keyring.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aptSourcesList, DEFAULT_MIRROR } from "./apt_config.ts";
 * const key = "/usr/share/keyrings/debian-archive-keyring.gpg";
 * assert.equal(
 *   aptSourcesList(DEFAULT_MIRROR, ["bookworm", "bookworm-security"]),
 *   `deb [signed-by=${key}] http://deb.debian.org/debian bookworm main\n` +
 *     `deb [signed-by=${key}] http://deb.debian.org/debian-security bookworm-security main\n`,
 * );
 * ```
 */
export function aptSourcesList(mirror: Mirror, suites: string[]): string {
  return [...new Set(suites)].map((suite) => {
    const base = suite.endsWith("-security") ? mirror.security : mirror.debian;
    return `deb [signed-by=${DEBIAN_KEYRING}] ${base} ${suite} main\n`;
  }).join("");
}

/**
 * apt preferences that keep every suite outside the userland release at
 * priority 100, so `apt-get download libc6` picks the userland (e.g.
 * bookworm) version even when a newer suite (trixie) is listed for a kernel.
 * Kernels are downloaded as exact `name=version`, which pins ignore.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aptPreferences } from "./apt_config.ts";
 * assert.equal(
 *   aptPreferences(["bookworm", "bookworm-security"], ["bookworm", "trixie"]),
 *   "Package: *\nPin: release n=trixie\nPin-Priority: 100\n",
 * );
 * ```
 */
export function aptPreferences(
  userlandSuites: string[],
  allSuites: string[],
): string {
  const keep = new Set(userlandSuites);
  return [...new Set(allSuites)].filter((s) => !keep.has(s)).map((s) =>
    `Package: *\nPin: release n=${s}\nPin-Priority: 100\n`
  ).join("\n");
}

/** Files and folders of one private apt tree (one per guest architecture). */
export interface AptDirs {
  root: string;
  sourcesList: string;
  sourceParts: string;
  preferences: string;
  preferencesParts: string;
  state: string;
  lists: string;
  status: string;
  cache: string;
  archives: string;
  conf: string;
}

/**
 * Paths of a private apt tree rooted at `root`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aptDirs } from "./apt_config.ts";
 * assert.equal(aptDirs("/c/apt/arm64").lists, "/c/apt/arm64/state/lists");
 * ```
 */
export function aptDirs(root: string): AptDirs {
  return {
    root,
    sourcesList: `${root}/etc/sources.list`,
    sourceParts: `${root}/etc/sources.list.d`,
    preferences: `${root}/etc/preferences`,
    preferencesParts: `${root}/etc/preferences.d`,
    state: `${root}/state`,
    lists: `${root}/state/lists`,
    status: `${root}/state/status`,
    cache: `${root}/cache`,
    archives: `${root}/cache/archives`,
    conf: `${root}/etc/apt.conf`,
  };
}

/**
 * Extra apt configuration read with `-c`: clears the machine's update hooks
 * (PackageKit, AppStream refresh) that must not run for a private tree, and
 * fetches no translations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aptConfFile } from "./apt_config.ts";
 * assert.ok(aptConfFile().includes("#clear APT::Update::Post-Invoke-Success;"));
 * ```
 */
export function aptConfFile(): string {
  return [
    "#clear APT::Update::Post-Invoke;",
    "#clear APT::Update::Post-Invoke-Success;",
    "#clear APT::Update::Pre-Invoke;",
    "#clear DPkg::Post-Invoke;",
    "#clear DPkg::Pre-Invoke;",
    'Acquire::Languages "none";',
    "",
  ].join("\n");
}

/**
 * Command-line options that point apt-get / apt-cache at the private tree
 * for one architecture (`APT::Architecture` and the only entry of
 * `APT::Architectures`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aptDirs, aptOptions } from "./apt_config.ts";
 * const args = aptOptions(aptDirs("/c/apt/arm64"), "arm64");
 * assert.deepEqual(args.slice(0, 4), ["-c", "/c/apt/arm64/etc/apt.conf", "-o", "Dir::Etc::SourceList=/c/apt/arm64/etc/sources.list"]);
 * assert.ok(args.includes("APT::Architecture=arm64"));
 * ```
 */
export function aptOptions(dirs: AptDirs, debianArch: string): string[] {
  const o = (k: string, v: string) => ["-o", `${k}=${v}`];
  return [
    "-c",
    dirs.conf,
    ...o("Dir::Etc::SourceList", dirs.sourcesList),
    ...o("Dir::Etc::SourceParts", dirs.sourceParts),
    ...o("Dir::Etc::Preferences", dirs.preferences),
    ...o("Dir::Etc::PreferencesParts", dirs.preferencesParts),
    ...o("Dir::State", dirs.state),
    ...o("Dir::State::Lists", dirs.lists),
    ...o("Dir::State::status", dirs.status),
    ...o("Dir::Cache", dirs.cache),
    ...o("Dir::Cache::Archives", dirs.archives),
    ...o("Dir::Cache::pkgcache", "pkgcache.bin"),
    ...o("Dir::Cache::srcpkgcache", "srcpkgcache.bin"),
    ...o("APT::Architecture", debianArch),
    ...o("APT::Architectures::", debianArch),
    ...o("APT::Sandbox::User", "root"),
    "-q",
  ];
}

/** One stanza of an apt index (`apt-cache show` output), field → value. */
export type Stanza = Record<string, string>;

/**
 * Parses deb822 stanzas (as printed by `apt-cache show` or found in
 * `Packages` files). Continuation lines are joined with newlines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStanzas } from "./apt_config.ts";
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
