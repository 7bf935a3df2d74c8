import assert from "node:assert/strict";
import {
  GUEST_SKIPPED_FILES,
  GUEST_SKIPPED_TESTS,
  scanTestNames,
  skippedFiles,
  skippedTests,
} from "./guest_checks.ts";

const kernelDir = new URL("../../tests/kernel/", import.meta.url);

Deno.test("guest plan: every file and test left out exists in tests/kernel, and the host leaves out the same files", () => {
  const files = [...Deno.readDirSync(kernelDir)].map((e) => e.name);
  for (const f of GUEST_SKIPPED_FILES) {
    assert.ok(files.includes(f.file), `${f.file} is not in tests/kernel`);
  }
  // The names left out one by one must be readable in the files that run
  // (a renamed test would silently run again, so the list must match).
  const running = files.filter((f) =>
    f.endsWith("_test.ts") && !GUEST_SKIPPED_FILES.some((s) => s.file === f)
  );
  const { names, calls } = scanTestNames(
    running.map((f) => Deno.readTextFileSync(new URL(f, kernelDir))),
  );
  assert.equal(
    names.length,
    calls,
    "every test name in the running files is a plain string",
  );
  for (const t of GUEST_SKIPPED_TESTS) {
    assert.ok(names.includes(t.name), `no test named ${t.name}`);
  }
  // The host leaves out the same files, for the same stated reasons.
  assert.deepEqual(skippedFiles("host"), GUEST_SKIPPED_FILES);
  assert.ok(
    GUEST_SKIPPED_FILES.every((f) => f.when === "everywhere"),
    "every file left out in a guest is left out on the host too",
  );
  assert.deepEqual(skippedTests("host"), []);
  assert.equal(skippedFiles("kvm").length, GUEST_SKIPPED_FILES.length);
  assert.ok(skippedTests("tcg").length > skippedTests("kvm").length);
});
