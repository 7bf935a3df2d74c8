/**
 * Kernel modules for the guest: find them in an unpacked Debian kernel
 * package, read their dependencies from each module's `.modinfo` section,
 * and return them in load order (dependencies first), decompressed, so the
 * guest's init only has to `insmod` them one by one (no depmod, no modprobe).
 *
 * @module
 */

/**
 * Reads the `.modinfo` section of an ELF64 little-endian kernel module:
 * `key=value` strings, several values per key possible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modinfo } from "./kmod.ts";
 * // A real module comes from an unpacked kernel package (the VM cache);
 * // for 9p.ko on 6.1 `modinfo(bytes).depends` is ["netfs,9pnet"].
 * assert.throws(() => modinfo(new Uint8Array(64)), /not an ELF file/);
 * ```
 */
export function modinfo(elf: Uint8Array): Record<string, string[]> {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (
    elf.length < 64 || elf[0] !== 0x7f || elf[1] !== 0x45 || elf[2] !== 0x4c ||
    elf[3] !== 0x46
  ) throw new Error("not an ELF file");
  if (elf[4] !== 2 || elf[5] !== 1) {
    throw new Error("only ELF64 little-endian modules are supported");
  }
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shentsize = dv.getUint16(0x3a, true);
  const shnum = dv.getUint16(0x3c, true);
  const shstrndx = dv.getUint16(0x3e, true);
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      name: dv.getUint32(o, true),
      offset: Number(dv.getBigUint64(o + 0x18, true)),
      size: Number(dv.getBigUint64(o + 0x20, true)),
    };
  };
  const strtab = sh(shstrndx);
  const cstr = (off: number) => {
    let end = off;
    while (end < elf.length && elf[end] !== 0) end++;
    return new TextDecoder().decode(elf.subarray(off, end));
  };
  const out: Record<string, string[]> = {};
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    if (cstr(strtab.offset + s.name) !== ".modinfo") continue;
    const text = new TextDecoder().decode(
      elf.subarray(s.offset, s.offset + s.size),
    );
    for (const entry of text.split("\0")) {
      const eq = entry.indexOf("=");
      if (eq <= 0) continue;
      (out[entry.slice(0, eq)] ??= []).push(entry.slice(eq + 1));
    }
  }
  return out;
}

/**
 * A module's canonical name: file name without `.ko[.xz|.zst|.gz]`, `-` as `_`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { moduleName } from "./kmod.ts";
 * assert.equal(moduleName("kernel/drivers/char/hw_random/virtio-rng.ko.xz"), "virtio_rng");
 * ```
 */
export function moduleName(path: string): string {
  return path.split("/").pop()!.replace(/\.ko(\.(xz|zst|gz))?$/, "")
    .replace(/-/g, "_");
}

/** What {@link loadOrder} returns. */
export interface LoadOrder {
  /** Modules to insmod, dependencies first. */
  order: string[];
  /** Wanted names built into the kernel (nothing to load). */
  builtin: string[];
  /** Wanted names that are neither modules nor built in. */
  missing: string[];
}

/**
 * Orders the wanted modules and their dependencies so that each module
 * comes after everything it depends on. Built-in and unknown names are
 * reported, not loaded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadOrder } from "./kmod.ts";
 * const deps: Record<string, string[]> = { "9p": ["9pnet", "netfs"], "9pnet": [], netfs: [] };
 * assert.deepEqual(
 *   loadOrder(["9p", "virtio"], (m) => deps[m], (m) => m in deps, (m) => m === "virtio"),
 *   { order: ["9pnet", "netfs", "9p"], builtin: ["virtio"], missing: [] },
 * );
 * ```
 */
export function loadOrder(
  wanted: string[],
  depsOf: (name: string) => string[],
  isModule: (name: string) => boolean,
  isBuiltin: (name: string) => boolean,
): LoadOrder {
  const order: string[] = [];
  const builtin: string[] = [];
  const missing: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (raw: string, top: boolean) => {
    const name = raw.replace(/-/g, "_");
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      throw new Error(`module dependency cycle at ${name}`);
    }
    if (!isModule(name)) {
      if (isBuiltin(name)) {
        if (top) builtin.push(name);
      } else missing.push(name);
      state.set(name, "done");
      return;
    }
    state.set(name, "visiting");
    for (const d of depsOf(name)) if (d) visit(d, false);
    state.set(name, "done");
    order.push(name);
  };
  for (const w of wanted) visit(w, true);
  return { order, builtin, missing };
}

/**
 * Decompresses a module file (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`) with the
 * host's `xz`/`zstd`/`gzip`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readModule } from "./kmod.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/m.ko`, "module bytes");
 * await new Deno.Command("gzip", { args: ["-k", `${dir}/m.ko`] }).output();
 * assert.equal(new TextDecoder().decode(await readModule(`${dir}/m.ko.gz`)), "module bytes");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readModule(path: string): Promise<Uint8Array> {
  const tool = path.endsWith(".xz")
    ? "xz"
    : path.endsWith(".zst")
    ? "zstd"
    : path.endsWith(".gz")
    ? "gzip"
    : "";
  if (!tool) return await Deno.readFile(path);
  const out = await new Deno.Command(tool, {
    args: ["-dc", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `${tool} -dc ${path}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return out.stdout;
}

/** A module ready to put into the initramfs. */
export interface GuestModule {
  name: string;
  /** Decompressed ELF bytes. */
  data: Uint8Array;
}

/** What {@link resolveKernelModules} returns. */
export interface ResolvedModules extends Omit<LoadOrder, "order"> {
  modules: GuestModule[];
}

/**
 * Finds the wanted modules (plus dependencies) in `modDir`
 * (`.../lib/modules/<kver>`), in load order, decompressed.
 *
 * @example
 * ```ts ignore
 * // ignored: needs an unpacked Debian kernel package (the VM cache).
 * const r = await resolveKernelModules("/tmp/k/usr/lib/modules/6.12.117+deb13-arm64", ["9p", "9pnet_virtio"]);
 * r.modules.map((m) => m.name); // ["netfs", "9pnet", "9p", "9pnet_virtio"]
 * ```
 */
export async function resolveKernelModules(
  modDir: string,
  wanted: string[],
): Promise<ResolvedModules> {
  const paths = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) {
        paths.set(moduleName(e.name), p);
      }
    }
  };
  await walk(`${modDir}/kernel`);
  const builtins = new Set<string>();
  try {
    for (
      const l of (await Deno.readTextFile(`${modDir}/modules.builtin`)).split(
        "\n",
      )
    ) if (l.trim()) builtins.add(moduleName(l.trim()));
  } catch { /* none listed */ }
  const data = new Map<string, Uint8Array>();
  const deps = new Map<string, string[]>();
  for (const name of new Set(wanted.map((w) => w.replace(/-/g, "_")))) {
    await (async function load(n: string) {
      if (deps.has(n) || !paths.has(n)) return;
      const elf = await readModule(paths.get(n)!);
      data.set(n, elf);
      const d = (modinfo(elf).depends ?? []).join(",").split(",").filter(
        Boolean,
      ).map((x) => x.replace(/-/g, "_"));
      deps.set(n, d);
      for (const x of d) await load(x);
    })(name);
  }
  const lo = loadOrder(
    wanted,
    (n) => deps.get(n) ?? [],
    (n) => paths.has(n),
    (n) => builtins.has(n),
  );
  return {
    modules: lo.order.map((name) => ({ name, data: data.get(name)! })),
    builtin: lo.builtin,
    missing: lo.missing,
  };
}
