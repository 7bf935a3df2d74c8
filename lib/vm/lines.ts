/**
 * Reading a process's output line by line as it comes (QEMU's console, a
 * guest check's output, the host run), the last partial line included.
 *
 * @module
 */

/**
 * Calls `onLine` for every line of `stream` (without its `\n`; a `\r`
 * before it is dropped too), and for a last line without one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pumpLines } from "./lines.ts";
 * const lines: string[] = [];
 * await pumpLines(new Blob(["a\r\nb", "c\nlast"]).stream(), (l) => lines.push(l));
 * assert.deepEqual(lines, ["a", "bc", "last"]);
 * ```
 */
export async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  onChunk?: () => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl).replace(/\r$/, ""));
      buf = buf.slice(nl + 1);
    }
    onChunk?.();
  }
  buf += decoder.decode();
  if (buf) onLine(buf);
}
