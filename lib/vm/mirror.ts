/**
 * Which Debian mirror the runner downloads from: the one the machine's own
 * apt sources use (known to work here), read but never changed.
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
 * import { detectMirror } from "./mirror.ts";
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
 * import { hostMirror } from "./mirror.ts";
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
