/**
 * Where streamprof keeps what it can rebuild: `${XDG_CACHE_HOME:-$HOME/.cache}/streamprof`.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { cacheDir } from "./cache_dir.ts";
 * assert.match(cacheDir("pyroscope", "v1"), /\/streamprof\/pyroscope\/v1$/);
 * ```
 * @module
 */

/** The cache folder, or a path inside it made of `parts`. */
export function cacheDir(...parts: string[]): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const root = xdg ? xdg : `${Deno.env.get("HOME") ?? "/root"}/.cache`;
  return [`${root}/streamprof`, ...parts].join("/");
}
