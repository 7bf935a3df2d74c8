/**
 * Which exact Debian package a row's kernel line means today: the newest
 * `linux-image-<abi>-<flavour>-unsigned` whose version is in the line, over
 * the row's suites, from verified indexes (debian_archive.ts). The
 * `-unsigned` flavour is the same image as the signed one without the
 * signature wrapper; `-cloud`, `-rt` and `-dbg` packages never match.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveKernel } from "./kernel_resolve.ts";
 * const entry = (p: string, v: string, suite: string) => ({
 *   package: p, version: v, architecture: "amd64", filename: `pool/${p}.deb`,
 *   size: 1, sha256: "0".repeat(64), suite,
 * });
 * const index = [
 *   entry("linux-image-6.1.0-50-amd64-unsigned", "6.1.176-1", "bookworm"),
 *   entry("linux-image-6.1.0-57-amd64-unsigned", "6.1.192-3", "bookworm-security"),
 *   entry("linux-image-6.1.0-57-rt-amd64-unsigned", "6.1.192-3", "bookworm-security"),
 *   entry("linux-image-6.12.117+deb12-amd64-unsigned", "6.12.117-1~deb12u1", "bookworm-security"),
 * ];
 * const line = { line: "6.1", suites: ["bookworm", "bookworm-security"], flavour: "amd64" };
 * assert.equal(resolveKernel(line, index).version, "6.1.192-3");
 * assert.equal(resolveKernel(line, index, "6.1.176-1").package, "linux-image-6.1.0-50-amd64-unsigned");
 * ```
 * @module
 */
import { UsageError } from "../common/errors.ts";
import type { PackageEntry } from "./debian_archive.ts";
import { compareDebianVersions } from "./debian_version.ts";
import { FetchError } from "./errors.ts";
import type { KernelLine } from "./vms.ts";

/**
 * The package names of a flavour's kernels: `linux-image-` + an ABI
 * (`6.1.0-57`, `6.12.117+deb13`, `5.10.0-45`) + `-<flavour>-unsigned`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelPackagePattern } from "./kernel_resolve.ts";
 * const re = kernelPackagePattern("arm64");
 * assert.match("linux-image-6.12.117+deb13-arm64-unsigned", re);
 * assert.doesNotMatch("linux-image-6.12.117+deb13-cloud-arm64-unsigned", re);
 * assert.doesNotMatch("linux-image-6.1.0-57-arm64-dbg", re);
 * ```
 */
export function kernelPackagePattern(flavour: string): RegExp {
  const f = flavour.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(
    `^linux-image-(\\d+\\.\\d+\\.\\d+(?:-\\d+|\\+deb\\d+))-${f}-unsigned$`,
  );
}

/** Whether an index entry is a kernel of `kernel`'s line and flavour. */
export function inKernelLine(kernel: KernelLine, e: PackageEntry): boolean {
  return kernelPackagePattern(kernel.flavour).test(e.package) &&
    e.version.startsWith(`${kernel.line}.`);
}

/**
 * Every package of the line in the row's suites, newest first; the same
 * version listed by two suites (a point release taking in a security
 * update) counts once, from the first suite of the row that lists it.
 */
export function kernelCandidates(
  kernel: KernelLine,
  entries: PackageEntry[],
): PackageEntry[] {
  const bySuite = (e: PackageEntry) => kernel.suites.indexOf(e.suite);
  const seen = new Set<string>();
  return entries
    .filter((e) => bySuite(e) >= 0 && inKernelLine(kernel, e))
    .sort((a, b) =>
      compareDebianVersions(b.version, a.version) || bySuite(a) - bySuite(b)
    )
    .filter((e) => {
      const id = `${e.package}=${e.version}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
}

/** A resolved kernel: the package, and whether `--kernel-version` chose it. */
export interface ResolvedKernel extends PackageEntry {
  line: string;
  pinned: boolean;
}

/**
 * The kernel to boot: the newest of the line, or exactly `pin`. A pin the
 * indexes do not list is a UsageError that lists the versions they do; a
 * line with no package at all is a FetchError (the row or the mirror is
 * wrong).
 */
export function resolveKernel(
  kernel: KernelLine,
  entries: PackageEntry[],
  pin?: string,
): ResolvedKernel {
  const candidates = kernelCandidates(kernel, entries);
  const where = `${kernel.suites.join(", ")} (${kernel.flavour})`;
  if (pin !== undefined) {
    const hit = candidates.find((e) => e.version === pin);
    if (!hit) {
      throw new UsageError(
        `--kernel-version ${pin}: no ${kernel.line} kernel of that version in ${where}; available: ${
          candidates.map((e) => e.version).join(", ") || "none"
        }`,
      );
    }
    return { ...hit, line: kernel.line, pinned: true };
  }
  if (candidates.length === 0) {
    throw new FetchError(
      `no linux-image-${kernel.line}.*-${kernel.flavour}-unsigned package in ${where}`,
      {
        hint:
          "check the row's kernel.line and kernel.suites in lib/vm/vms.json",
      },
    );
  }
  return { ...candidates[0], line: kernel.line, pinned: false };
}

/**
 * The newest version of a userland package over `suites` (an index may list
 * one version per suite: bookworm, its updates and its security fixes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newestPackage } from "./kernel_resolve.ts";
 * const e = (v: string, suite: string) => ({ package: "libc6", version: v, architecture: "arm64",
 *   filename: "f", size: 1, sha256: "0".repeat(64), suite });
 * assert.equal(newestPackage("libc6", ["bookworm", "bookworm-security"],
 *   [e("2.36-9+deb12u13", "bookworm"), e("2.36-9+deb12u14", "bookworm-security")]).suite, "bookworm-security");
 * ```
 */
export function newestPackage(
  name: string,
  suites: string[],
  entries: PackageEntry[],
): PackageEntry {
  const hits = entries.filter((e) =>
    e.package === name && suites.includes(e.suite)
  ).sort((a, b) => compareDebianVersions(b.version, a.version));
  if (hits.length === 0) {
    throw new FetchError(`package ${name} is not in ${suites.join(", ")}`, {
      hint: "check userland.packages in lib/vm/vms.json",
    });
  }
  return hits[0];
}
