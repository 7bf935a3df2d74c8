/**
 * `vm:prune`: what in the VM cache no row of the table uses any more, and
 * removing it. A row's artifacts are those of its plan against the cached
 * archive metadata (no download); a row that cannot be planned offline
 * keeps every package of its arch that could belong to it.
 *
 * @module
 */
import { type Log, planSuites, planVm } from "./artifacts.ts";
import {
  type Artifact,
  type Manifest,
  readManifest,
  writeManifest,
} from "./cache.ts";
import { inKernelLine } from "./kernel_resolve.ts";
import { ARCHES, type VmSpec, type VmTable } from "./vms.ts";

/** One thing to remove. */
export interface PruneItem {
  /** Path relative to the cache root ("" when only a manifest entry goes). */
  path: string;
  bytes: number;
  why: string;
  /** The manifest entry it frees, if any. */
  key?: string;
}

/** What {@link planPrune} decided. */
export interface PrunePlan {
  remove: PruneItem[];
  /** Notes on what is kept and why (rows that could not be planned). */
  kept: string[];
}

async function sizeOf(path: string): Promise<number> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory) return st.size;
  let n = 0;
  for await (const e of Deno.readDir(path)) {
    n += await sizeOf(`${path}/${e.name}`);
  }
  return n;
}

async function entries(dir: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e);
  } catch { /* absent */ }
  return out.sort((a, b) => a.name < b.name ? -1 : 1);
}

/**
 * Decides what to remove under `root` for `table`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planPrune } from "./prune.ts";
 * import { loadVmTable } from "./vms.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/build/removed-row`, { recursive: true });
 * await Deno.writeTextFile(`${root}/build/removed-row/kernel`, "x");
 * const plan = await planPrune(await loadVmTable(), root, () => {});
 * assert.deepEqual(plan.remove.map((r) => r.path), ["build/removed-row"]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function planPrune(
  table: VmTable,
  root: string,
  log: Log,
): Promise<PrunePlan> {
  const { manifest, problem } = await readManifest(root);
  const { used, unplanned, kept } = await usedKeys(table, root, log);
  const { remove, referenced } = await unusedArtifacts(
    table,
    root,
    manifest,
    used,
    unplanned,
  );
  // Files no manifest entry names (left by an interrupted download); not
  // when the manifest itself is unusable (then every file looks orphaned).
  if (problem) kept.push(`${problem}: packages and Deno binaries are kept`);
  else remove.push(...await orphanFiles(root, referenced, remove));
  remove.push(...await unusedFolders(table, root));
  return { remove, kept };
}

/**
 * The manifest keys the rows' plans use (against cached metadata), the
 * rows that could not be planned, and notes about those.
 */
async function usedKeys(table: VmTable, root: string, log: Log) {
  const used = new Set<string>();
  const kept: string[] = [];
  const unplanned: VmSpec[] = [];
  for (const vm of table.vms) {
    const plan = await planVm(table, vm, { root, log, offline: true }).catch(
      () => undefined,
    );
    if (!plan) {
      unplanned.push(vm);
      kept.push(
        `${vm.name}: no cached metadata to resolve ${vm.kernel.line} against; every ${vm.arch} package that could be its kernel or userland is kept`,
      );
      continue;
    }
    for (const n of plan.needs) used.add(n.key);
  }
  return { used, unplanned, kept };
}

/** Whether a package key could belong to a row that could not be planned. */
function couldBelongTo(table: VmTable, vms: VmSpec[], key: string): boolean {
  const m = /^deb\/([^/]+)\/([^=]+)=(.+)$/.exec(key);
  return m !== null && vms.some((vm) =>
    ARCHES[vm.arch].debian === m[1] &&
    (table.userland.packages.includes(m[2]) ||
      inKernelLine(vm.kernel, {
        package: m[2],
        version: m[3],
        architecture: m[1],
        filename: "",
        size: 0,
        sha256: "",
        suite: vm.kernel.suites[0],
      }))
  );
}

/**
 * Manifest entries no row uses, and the files the kept entries name. An
 * entry of an older key format may name a file a kept entry uses: then only
 * the entry goes.
 */
async function unusedArtifacts(
  table: VmTable,
  root: string,
  manifest: Manifest,
  used: Set<string>,
  unplanned: VmSpec[],
): Promise<{ remove: PruneItem[]; referenced: Set<string> }> {
  const referenced = new Set<string>();
  const dropped: Artifact[] = [];
  for (const a of Object.values(manifest.artifacts)) {
    if (used.has(a.key) || couldBelongTo(table, unplanned, a.key)) {
      referenced.add(a.file);
    } else dropped.push(a);
  }
  const remove: PruneItem[] = [];
  for (const a of dropped) {
    const shared = referenced.has(a.file);
    remove.push({
      path: shared ? "" : a.file,
      bytes: shared ? 0 : await sizeOf(`${root}/${a.file}`),
      why: `${a.key} is used by no row${
        shared ? " (its file is, under another entry: only the entry goes)" : ""
      }`,
      key: a.key,
    });
  }
  return { remove, referenced };
}

/** Files under debs/ and deno/ that no manifest entry names. */
async function orphanFiles(
  root: string,
  referenced: Set<string>,
  already: PruneItem[],
): Promise<PruneItem[]> {
  const out: PruneItem[] = [];
  const covers = (path: string, rel: string) =>
    path === rel || path.startsWith(`${rel}/`);
  for (const top of ["debs", "deno"]) {
    for (const arch of await entries(`${root}/${top}`)) {
      for (const e of await entries(`${root}/${top}/${arch.name}`)) {
        const rel = `${top}/${arch.name}/${e.name}`;
        if ([...referenced].some((f) => covers(f, rel))) continue;
        if (already.some((r) => r.path && covers(r.path, rel))) continue;
        out.push({
          path: rel,
          bytes: await sizeOf(`${root}/${rel}`),
          why: "no manifest entry names it",
        });
      }
    }
  }
  return out;
}

/**
 * Builds and runs of rows that are gone, metadata of suites (and arches)
 * no row lists or of an earlier layout, fixtures of arches no row has, the
 * private apt tree of earlier versions.
 */
async function unusedFolders(
  table: VmTable,
  root: string,
): Promise<PruneItem[]> {
  const out: PruneItem[] = [];
  const item = async (path: string, why: string) =>
    out.push({ path, bytes: await sizeOf(`${root}/${path}`), why });
  const names = new Set(table.vms.map((v) => v.name));
  for (const top of ["build", "runs"]) {
    for (const e of await entries(`${root}/${top}`)) {
      if (names.has(e.name) || (top === "runs" && e.name === "host")) continue;
      await item(`${top}/${e.name}`, `no row is named ${e.name}`);
    }
  }
  const suites = new Set(table.vms.flatMap((vm) => planSuites(table, vm)));
  const debArches = new Set(table.vms.map((vm) => ARCHES[vm.arch].debian));
  for (const e of await entries(`${root}/index`)) {
    if (!suites.has(e.name)) {
      await item(`index/${e.name}`, `no row lists the suite ${e.name}`);
      continue;
    }
    for (const f of await entries(`${root}/index/${e.name}`)) {
      if (f.isDirectory && debArches.has(f.name)) continue;
      await item(
        `index/${e.name}/${f.name}`,
        f.isDirectory ? `no row is ${f.name}` : "metadata of an earlier layout",
      );
    }
  }
  const host = Deno.build.arch === "aarch64" ? "arm64" : "x86_64";
  const arches = new Set<string>([host, ...table.vms.map((vm) => vm.arch)]);
  for (const e of await entries(`${root}/fixtures`)) {
    if (!arches.has(e.name)) {
      await item(`fixtures/${e.name}`, `no row is ${e.name}`);
    }
  }
  if ((await entries(`${root}/apt`)).length) {
    await item(
      "apt",
      "the private apt tree of earlier versions (packages now come from the verified archive indexes)",
    );
  }
  return out;
}

/** Removes what `plan` lists and drops its manifest entries. */
export async function prune(root: string, plan: PrunePlan): Promise<void> {
  const read = await readManifest(root);
  for (const item of plan.remove) {
    if (item.path) {
      await Deno.remove(`${root}/${item.path}`, { recursive: true }).catch(
        () => {},
      );
    }
    if (item.key) delete read.manifest.artifacts[item.key];
  }
  if (plan.remove.some((i) => i.key)) await writeManifest(root, read.manifest);
}
