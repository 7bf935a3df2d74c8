import assert from "node:assert/strict";
import {
  ARCHES,
  findVm,
  kernelMajorMinor,
  loadVmTable,
  normalizeArch,
  parseVmTable,
} from "./vms.ts";

const row = (over: Record<string, unknown> = {}) => ({
  name: "a",
  arch: "arm64",
  kernel: { package: "linux-image-x", version: "6.1.1-1", suite: "bookworm" },
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

Deno.test("shipped vms.json parses and has the three VMs of issue 5", async () => {
  const t = await loadVmTable();
  assert.deepEqual(t.vms.map((v) => v.name), [
    "default",
    "profiler-x86",
    "ebpf-kernel-5.8",
  ]);
  assert.deepEqual(findVm(t, "default").arch, "arm64");
  assert.deepEqual(kernelMajorMinor(findVm(t, "default").kernel), "6.12");
  assert.deepEqual(findVm(t, "profiler-x86").arch, "x86_64");
  assert.deepEqual(kernelMajorMinor(findVm(t, "profiler-x86").kernel), "6.1");
  assert.deepEqual(
    kernelMajorMinor(findVm(t, "ebpf-kernel-5.8").kernel),
    "5.10",
  );
  for (
    const p of [
      "libc6",
      "libgcc-s1",
      "libbpf1",
      "libelf1",
      "zlib1g",
      "libzstd1",
      "busybox-static",
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
  assert.deepEqual(t.vms[0].kernel.suite, "bookworm");
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
    'not "all"',
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
    () => parseVmTable(table([row({ kernel: { package: "x", suite: "s" } })])),
    Error,
    "kernel.version",
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
  assertThrows(() =>
    kernelMajorMinor({ package: "p", version: "x", suite: "s" })
  );
});

function assertThrows(fn: () => unknown, _type?: unknown, text = ""): void {
  assert.throws(fn, (e) => e instanceof Error && e.message.includes(text));
}
