import assert from "node:assert/strict";
import {
  ARCHES,
  findVm,
  loadVmTable,
  normalizeArch,
  parseVmTable,
  releaseInLine,
} from "./vms.ts";

const row = (over: Record<string, unknown> = {}) => ({
  name: "a",
  arch: "arm64",
  kernel: { line: "6.1", suites: ["bookworm", "bookworm-security"] },
  cpus: 2,
  memoryMiB: 1024,
  ...over,
});
const table = (vms: unknown[]) => ({
  deno: "2.9.6",
  userland: { suites: ["bookworm"], packages: ["libc6"] },
  modules: ["9p"],
  vms,
});

Deno.test("shipped vms.json: the six-VM matrix, old names kept, new names say arch and kernel", async () => {
  const t = await loadVmTable();
  // Expected data, row by row (its shape is results_table_test's, its
  // content is the shipped matrix: nothing to share).
  assert.deepEqual(
    t.vms.map((v) => [v.name, v.arch, v.kernel.line, v.kernel.suites[0]]),
    [
      ["default", "arm64", "6.12", "trixie"],
      ["profiler-x86", "x86_64", "6.1", "bookworm"],
      ["ebpf-kernel-5.8", "arm64", "5.10", "bullseye"],
      ["arm64-6.1", "arm64", "6.1", "bookworm"],
      ["x86_64-5.10", "x86_64", "5.10", "bullseye"],
      ["x86_64-6.12", "x86_64", "6.12", "trixie"],
    ],
  );
  // Every line on both arches.
  for (const line of ["5.10", "6.1", "6.12"]) {
    assert.deepEqual(
      t.vms.filter((v) => v.kernel.line === line).map((v) => v.arch).sort(),
      ["arm64", "x86_64"],
      line,
    );
  }
  for (const vm of t.vms) {
    assert.equal(vm.kernel.flavour, ARCHES[vm.arch].debian);
    // Each line's security suite: kernels are updated there first.
    assert.ok(vm.kernel.suites.some((s) => s.endsWith("-security")), vm.name);
  }
  for (
    const p of [
      "libc6",
      "libgcc-s1",
      "libbpf1",
      "libelf1",
      "zlib1g",
      "libzstd1",
      "busybox-static",
      "util-linux",
      "libcap-ng0",
    ]
  ) {
    assert.deepEqual(t.userland.packages.includes(p), true, p);
  }
});

Deno.test("guest Deno version in vms.json matches package.json's deno", async () => {
  const t = await loadVmTable();
  const pkg = JSON.parse(
    await Deno.readTextFile(new URL("../../package.json", import.meta.url)),
  );
  assert.deepEqual(t.deno, pkg.devDependencies.deno);
});

Deno.test("parseVmTable normalises arch aliases and keeps fields", () => {
  const t = parseVmTable(
    table([row({ arch: "aarch64" }), row({ name: "b", arch: "amd64" })]),
  );
  assert.deepEqual(t.vms[0].arch, "arm64");
  assert.deepEqual(t.vms[1].arch, "x86_64");
  assert.deepEqual(t.vms[0].kernel.suites, ["bookworm", "bookworm-security"]);
  assert.deepEqual(t.vms[0].kernel.flavour, "arm64");
  assert.deepEqual(t.vms[1].kernel.flavour, "amd64");
  assert.deepEqual(t.vms[0].description, "");
  assert.deepEqual(t.modules, ["9p"]);
});

Deno.test("parseVmTable rejects bad rows with the row named", () => {
  assertThrows(
    () => parseVmTable(table([row(), row()])),
    Error,
    'vm "a": duplicate',
  );
  assertThrows(
    () => parseVmTable(table([row({ name: "all" })])),
    Error,
    'not "all" or "host"',
  );
  assertThrows(
    () => parseVmTable(table([row({ name: "host" })])),
    Error,
    'not "all" or "host"',
  );
  assertThrows(
    () => parseVmTable(table([row({ arch: "mips" })])),
    Error,
    "unknown arch",
  );
  assertThrows(() => parseVmTable(table([row({ cpus: 0 })])), Error, "cpus");
  assertThrows(
    () => parseVmTable(table([row({ memoryMiB: "1G" })])),
    Error,
    "memoryMiB",
  );
  assertThrows(
    () => parseVmTable(table([row({ kernel: { line: "6", suites: ["s"] } })])),
    Error,
    "kernel.line: expected major.minor",
  );
  assertThrows(
    () => parseVmTable(table([row({ kernel: { line: "6.1", suites: [] } })])),
    Error,
    "kernel.suites",
  );
  assertThrows(() => parseVmTable(table([])), Error, "non-empty");
  assertThrows(
    () => parseVmTable({ ...table([row()]), deno: 2 }),
    Error,
    "deno",
  );
});

Deno.test("findVm lists known names for an unknown one", () => {
  const t = parseVmTable(table([row()]));
  assertThrows(() => findVm(t, "nope"), Error, "known: a, all");
});

Deno.test("normalizeArch and ARCHES", () => {
  assert.deepEqual(normalizeArch("X86_64"), "x86_64");
  assert.deepEqual(ARCHES[normalizeArch("aarch64")].uname, "aarch64");
  assert.deepEqual(ARCHES.x86_64.debian, "amd64");
  assert.equal(releaseInLine("6.12.117+deb13-arm64", "6.12"), true);
  assert.equal(releaseInLine("6.12.117+deb13-arm64", "6.1"), false);
});

function assertThrows(fn: () => unknown, _type?: unknown, text = ""): void {
  assert.throws(fn, (e) => e instanceof Error && e.message.includes(text));
}
