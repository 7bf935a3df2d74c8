/**
 * SHA-256 of files and bytes, streamed (large kernels and Deno binaries).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/**
 * Hex SHA-256 of a file, read in chunks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256File, sha256Hex } from "./sha256.ts";
 * const f = await Deno.makeTempFile();
 * await Deno.writeTextFile(f, "abc");
 * assert.equal(await sha256File(f), sha256Hex("abc"));
 * await Deno.remove(f);
 * ```
 */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/**
 * Hex SHA-256 of a string or bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Hex } from "./sha256.ts";
 * assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
 * ```
 */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
