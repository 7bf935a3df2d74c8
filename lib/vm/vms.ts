/**
 * The VM table (`vms.json`): which guests `deno task test:vm` can boot.
 *
 * @module
 */
import { UsageError } from "../common/errors.ts";

/** Guest architectures the runner knows how to boot. */
export type Arch = "x86_64" | "arm64";

/** Facts about one guest architecture. */
export interface ArchInfo {
  /** Debian's architecture name (`dpkg --print-architecture`). */
  debian: string;
  /** What `uname -m` prints in the guest. */
  uname: string;
  /** Multiarch triplet of the library folders. */
  triplet: string;
  /** Path of the dynamic loader inside the guest. */
  loader: string;
  /** QEMU system emulator binary. */
  qemu: string;
  /** Serial console device name in the guest. */
  console: string;
  /** npm package that ships Deno for this architecture. */
  denoNpm: string;
}

/**
 * Per-architecture facts, keyed by {@link Arch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARCHES } from "./vms.ts";
 * assert.equal(ARCHES.arm64.uname, "aarch64");
 * assert.equal(ARCHES.x86_64.debian, "amd64");
 * ```
 */
export const ARCHES: Record<Arch, ArchInfo> = {
  x86_64: {
    debian: "amd64",
    uname: "x86_64",
    triplet: "x86_64-linux-gnu",
    loader: "/lib64/ld-linux-x86-64.so.2",
    qemu: "qemu-system-x86_64",
    console: "ttyS0",
    denoNpm: "@deno/linux-x64-glibc",
  },
  arm64: {
    debian: "arm64",
    uname: "aarch64",
    triplet: "aarch64-linux-gnu",
    loader: "/lib/ld-linux-aarch64.so.1",
    qemu: "qemu-system-aarch64",
    console: "ttyAMA0",
    denoNpm: "@deno/linux-arm64-glibc",
  },
};

/**
 * The kernel of a VM: a Debian kernel *line* (major.minor), resolved at run
 * time to the newest matching package of its suites (see kernel_resolve.ts),
 * so a row does not go stale at the next point release.
 */
export interface KernelLine {
  /** `major.minor`, e.g. `6.1`. */
  line: string;
  /** Suites searched, e.g. `["bookworm", "bookworm-security"]`. */
  suites: string[];
  /** Debian kernel flavour; default the arch's Debian name (`amd64`, `arm64`). */
  flavour: string;
}

/** One row of the table. */
export interface VmSpec {
  name: string;
  arch: Arch;
  kernel: KernelLine;
  cpus: number;
  memoryMiB: number;
  description: string;
}

/** The whole table. */
export interface VmTable {
  /** Deno version for the guests (npm `@deno/linux-*-glibc`). */
  deno: string;
  /** Debian suites and packages of the guest userland. */
  userland: { suites: string[]; packages: string[] };
  /** Kernel modules to load in every guest (dependencies are added). */
  modules: string[];
  vms: VmSpec[];
}

const ARCH_ALIASES: Record<string, Arch> = {
  x86_64: "x86_64",
  amd64: "x86_64",
  x64: "x86_64",
  arm64: "arm64",
  aarch64: "arm64",
};

/**
 * Normalises an architecture name (`amd64`, `aarch64`, ...) to an {@link Arch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeArch } from "./vms.ts";
 * assert.equal(normalizeArch("aarch64"), "arm64");
 * assert.equal(normalizeArch("amd64"), "x86_64");
 * ```
 */
export function normalizeArch(name: string): Arch {
  const arch = ARCH_ALIASES[name.toLowerCase()];
  if (!arch) {
    throw new Error(
      `unknown arch "${name}" (known: ${Object.keys(ARCH_ALIASES).join(", ")})`,
    );
  }
  return arch;
}

function str(v: unknown, where: string): string {
  if (typeof v !== "string" || v.trim() === "") {
    throw new Error(`${where}: expected a non-empty string`);
  }
  return v;
}

function strList(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${where}: expected a list`);
  return v.map((x, i) => str(x, `${where}[${i}]`));
}

function posInt(v: unknown, where: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${where}: expected a positive integer`);
  }
  return v;
}

/**
 * Validates parsed `vms.json` content and returns a typed table.
 * Errors name the offending row and field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseVmTable } from "./vms.ts";
 * const table = parseVmTable(JSON.parse(Deno.readTextFileSync(new URL("./vms.json", import.meta.url))));
 * assert.deepEqual(table.vms.slice(0, 2).map((vm) => vm.name), ["default", "profiler-x86"]);
 * assert.throws(() => parseVmTable({ vms: [] }), /userland: expected an object/);
 * ```
 */
export function parseVmTable(data: unknown): VmTable {
  if (typeof data !== "object" || data === null) {
    throw new Error("vms.json: expected an object");
  }
  const d = data as Record<string, unknown>;
  const userland = d.userland as Record<string, unknown> | undefined;
  if (typeof userland !== "object" || userland === null) {
    throw new Error("vms.json userland: expected an object");
  }
  if (!Array.isArray(d.vms) || d.vms.length === 0) {
    throw new Error("vms.json vms: expected a non-empty list");
  }
  const names = new Set<string>();
  const vms = d.vms.map((row: unknown, i: number): VmSpec => {
    if (typeof row !== "object" || row === null) {
      throw new Error(`vms.json vms[${i}]: expected an object`);
    }
    const r = row as Record<string, unknown>;
    const name = str(r.name, `vms.json vms[${i}].name`);
    const where = `vms.json vm "${name}"`;
    if (
      !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) ||
      RESERVED_NAMES.includes(name)
    ) {
      throw new Error(
        `${where}: name must be [A-Za-z0-9._-]+ and not ${
          RESERVED_NAMES.map((n) => `"${n}"`).join(" or ")
        }`,
      );
    }
    if (names.has(name)) throw new Error(`${where}: duplicate name`);
    names.add(name);
    const k = r.kernel as Record<string, unknown> | undefined;
    if (typeof k !== "object" || k === null) {
      throw new Error(`${where}.kernel: expected an object`);
    }
    const arch = normalizeArch(str(r.arch, `${where}.arch`));
    const line = str(k.line, `${where}.kernel.line`);
    if (!/^\d+\.\d+$/.test(line)) {
      throw new Error(
        `${where}.kernel.line: expected major.minor, got "${line}"`,
      );
    }
    const suites = strList(k.suites, `${where}.kernel.suites`);
    if (suites.length === 0) {
      throw new Error(`${where}.kernel.suites: expected at least one suite`);
    }
    return {
      name,
      arch,
      kernel: {
        line,
        suites,
        flavour: k.flavour === undefined
          ? ARCHES[arch].debian
          : str(k.flavour, `${where}.kernel.flavour`),
      },
      cpus: posInt(r.cpus, `${where}.cpus`),
      memoryMiB: posInt(r.memoryMiB, `${where}.memoryMiB`),
      description: typeof r.description === "string" ? r.description : "",
    };
  });
  return {
    deno: str(d.deno, "vms.json deno"),
    userland: {
      suites: strList(userland.suites, "vms.json userland.suites"),
      packages: strList(userland.packages, "vms.json userland.packages"),
    },
    modules: strList(d.modules ?? [], "vms.json modules"),
    vms,
  };
}

/** Names that select something other than one row: every row, the host. */
export const RESERVED_NAMES = ["all", "host"];

/** Path of the table shipped beside this module. */
export const VM_TABLE_PATH = new URL("./vms.json", import.meta.url);

/**
 * Reads and validates the VM table (default: `lib/vm/vms.json`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * assert.equal(findVm(table, "default").arch, "arm64");
 * ```
 */
export async function loadVmTable(
  path: string | URL = VM_TABLE_PATH,
): Promise<VmTable> {
  return parseVmTable(JSON.parse(await Deno.readTextFile(path)));
}

/**
 * Looks a VM up by name; an unknown name is a {@link UsageError} that
 * lists the known ones.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "../common/errors.ts";
 * import { findVm, loadVmTable } from "./vms.ts";
 * const table = await loadVmTable();
 * assert.equal(findVm(table, "profiler-x86").arch, "x86_64");
 * assert.throws(() => findVm(table, "nosuch"), UsageError);
 * ```
 */
export function findVm(table: VmTable, name: string): VmSpec {
  const vm = table.vms.find((v) => v.name === name);
  if (!vm) {
    throw new UsageError(
      `unknown VM "${name}" (known: ${
        table.vms.map((v) => v.name).join(", ")
      }, all)`,
    );
  }
  return vm;
}

/**
 * Whether a guest's `uname -r` belongs to a kernel line (`6.1.0-57-amd64`
 * to `6.1`, `6.12.117+deb13-arm64` to `6.12`, never `6.12` to `6.1`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { releaseInLine } from "./vms.ts";
 * assert.equal(releaseInLine("6.1.0-57-amd64", "6.1"), true);
 * assert.equal(releaseInLine("6.12.117+deb13-arm64", "6.1"), false);
 * assert.equal(releaseInLine("5.10.0-45-arm64", "5.10"), true);
 * ```
 */
export function releaseInLine(release: string, line: string): boolean {
  return release.startsWith(`${line}.`);
}

/**
 * The VMs a command-line name means: one row, every row for `all`, none
 * for `host` (the host column only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadVmTable, selectVms } from "./vms.ts";
 * const table = await loadVmTable();
 * assert.equal(selectVms(table, "all").length, table.vms.length);
 * assert.deepEqual(selectVms(table, "host"), []);
 * assert.throws(() => selectVms(table, undefined), /name a VM, 'all' or 'host'/);
 * ```
 */
export function selectVms(table: VmTable, name: string | undefined): VmSpec[] {
  if (!name) throw new UsageError("name a VM, 'all' or 'host'");
  if (name === "host") return [];
  return name === "all" ? table.vms : [findVm(table, name)];
}
