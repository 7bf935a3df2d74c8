import assert from "node:assert/strict";
import { UsageError } from "../common/errors.ts";
import { pickPackages } from "./debian_archive.ts";
import { compareDebianVersions } from "./debian_version.ts";
import { FetchError } from "./errors.ts";
import {
  kernelCandidates,
  newestPackage,
  resolveKernel,
} from "./kernel_resolve.ts";

/** A recorded, trimmed Packages index of bookworm-security/amd64. */
const recorded = pickPackages(
  await Deno.readTextFile(
    new URL(
      "../../tests/vm/fixtures/Packages-bookworm-security-amd64",
      import.meta.url,
    ),
  ),
  () => true,
  "bookworm-security",
);
const line61 = {
  line: "6.1",
  suites: ["bookworm", "bookworm-security"],
  flavour: "amd64",
};

Deno.test("resolution against a recorded Packages index: the newest -unsigned kernel of the line", () => {
  assert.equal(recorded.length, 11);
  const k = resolveKernel(line61, recorded);
  assert.equal(k.package, "linux-image-6.1.0-57-amd64-unsigned");
  assert.equal(k.version, "6.1.192-3");
  assert.equal(k.suite, "bookworm-security");
  assert.equal(
    k.filename,
    "pool/updates/main/l/linux/linux-image-6.1.0-57-amd64-unsigned_6.1.192-3_amd64.deb",
  );
  assert.match(k.sha256, /^[0-9a-f]{64}$/);
  assert.equal(k.pinned, false);
  // Never the cloud, rt, dbg, signed or meta packages; never 6.12 for 6.1.
  assert.deepEqual(
    kernelCandidates(line61, recorded).map((e) => e.package),
    [
      "linux-image-6.1.0-57-amd64-unsigned",
      "linux-image-6.1.0-56-amd64-unsigned",
      "linux-image-6.1.0-55-amd64-unsigned",
    ],
  );
  const k612 = resolveKernel({ ...line61, line: "6.12" }, recorded);
  assert.equal(k612.package, "linux-image-6.12.117+deb12-amd64-unsigned");
  assert.equal(k612.version, "6.12.117-1~deb12u1");
});

Deno.test("--kernel-version pins one; a version the index lacks is a usage error listing what it has", () => {
  const k = resolveKernel(line61, recorded, "6.1.192-1");
  assert.equal(k.package, "linux-image-6.1.0-55-amd64-unsigned");
  assert.equal(k.pinned, true);
  assert.throws(
    () => resolveKernel(line61, recorded, "6.1.999-1"),
    (e) =>
      e instanceof UsageError &&
      e.message.includes("available: 6.1.192-3, 6.1.192-2, 6.1.192-1"),
  );
});

Deno.test("a line with no package, or only in suites the row does not list, is a FetchError", () => {
  assert.throws(
    () => resolveKernel({ ...line61, line: "5.10" }, recorded),
    FetchError,
  );
  assert.throws(
    () => resolveKernel({ ...line61, suites: ["bookworm"] }, recorded),
    /no linux-image-6\.1\.\*-amd64-unsigned package in bookworm \(amd64\)/,
  );
});

Deno.test("userland: the newest version over the userland suites", () => {
  const libc = newestPackage("libc6", ["bookworm-security"], recorded);
  assert.equal(libc.version, "2.36-9+deb12u7");
  const newer = { ...libc, version: "2.36-9+deb12u14", suite: "bookworm" };
  assert.equal(
    newestPackage("libc6", ["bookworm", "bookworm-security"], [
      libc,
      newer,
    ]).suite,
    "bookworm",
  );
  assert.throws(
    () => newestPackage("nope", ["bookworm"], recorded),
    FetchError,
  );
});

Deno.test("compareDebianVersions orders as dpkg does", () => {
  const ordered = [
    "1.0~rc1",
    "1.0",
    "1.0-1",
    "1.0-1+b1",
    "1.0a",
    "1.0.1",
    "1.2",
    "1.10",
    "1:0.1",
    "2:0.0",
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const c = Math.sign(compareDebianVersions(ordered[i], ordered[j]));
      assert.equal(c, Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.ok(compareDebianVersions("6.12.117-1~deb12u1", "6.12.117-1") < 0);
  assert.ok(compareDebianVersions("6.1.192-3", "6.1.192-2") > 0);
});
