// The parser's TypeScript wrapper must work outside Deno (in browsers): it
// may use only `fetch` and `WebAssembly`. This runs it in a fresh process
// after deleting the `Deno` global, so any Deno-only API would throw.
import assert from "node:assert/strict";

Deno.test("parser wrapper runs with no Deno global (browser-safe)", async () => {
  const root = new URL("../", import.meta.url);
  const code = `
    const bytes = await Deno.readFile(new URL("parser-wasm/build/parser.wasm", "${root}"));
    delete globalThis.Deno;
    if (typeof Deno !== "undefined") throw new Error("Deno global still present");
    const { ProfileParser } = await import(new URL("lib/parser/wasm_parser.ts", "${root}").href);
    const p = await ProfileParser.create({ wasm: bytes, ringCapacity: 2 });
    const rec = p.encodeRecords([
      { timestampNs: 18446744073709551615n, pid: -1, tid: 2, userStackId: -14, kernelStackId: 7, cpu: 1, flags: 4 },
    ]);
    const s = p.walk(rec, { toRing: true });
    const e = p.ring.snapshot()[0];
    console.log(JSON.stringify({ events: s.events, ts: String(e.timestampNs), pid: e.pid, flags: e.flags }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
    events: 1,
    ts: "18446744073709551615",
    pid: -1,
    flags: 4,
  });
});
