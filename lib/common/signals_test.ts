import assert from "node:assert/strict";
import { sleep } from "./signals.ts";

Deno.test("sleep: an aborted signal ends it at once", async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  const p = sleep(10_000, ac.signal);
  ac.abort();
  await p;
  assert.ok(performance.now() - t0 < 5_000);
});
