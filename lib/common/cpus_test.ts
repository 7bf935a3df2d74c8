import assert from "node:assert/strict";
import { parseCpuList } from "./cpus.ts";

Deno.test("parseCpuList: ranges and singles", () => {
  assert.deepEqual(parseCpuList("0-3,5,7-8\n"), [0, 1, 2, 3, 5, 7, 8]);
  assert.deepEqual(parseCpuList("0"), [0]);
  assert.throws(() => parseCpuList("a-b"), /malformed CPU list/);
});
