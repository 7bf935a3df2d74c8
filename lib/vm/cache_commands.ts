/**
 * The cache commands of the VM runner: `list` (`deno task vm:list`),
 * `fetch` and `prune` (`deno task vm:prune`), each split into what it
 * finds (run) and how it shows it (render).
 *
 * @module
 */
import { EnvironmentError, ExitCode, UsageError } from "../common/errors.ts";
import { formatBytes } from "../common/format.ts";
import {
  optionsHelp,
  type OptionTable,
  parseOptions,
} from "../common/options.ts";
import {
  type CacheStatus,
  cacheStatus,
  planVm,
  type VmPlan,
} from "./artifacts.ts";
import { vmCacheRoot } from "./cache.ts";
import { type BuildState, buildState, ensureBootFiles } from "./initramfs.ts";
import { planPrune, prune } from "./prune.ts";
import { type AccelChoice, chooseAccel } from "./qemu.ts";
import { renderResultsTable } from "./results_table.ts";
import { loadVmTable, selectVms, type VmSpec, type VmTable } from "./vms.ts";

/** The options of `list`. */
const LIST_OPTIONS = {
  json: { type: "boolean", help: "print the list as JSON" },
} as const;

/** Usage of `list`. */
export const LIST_HELP = `Usage: deno task vm:list [--json]

Lists the rows of lib/vm/vms.json: arch, kernel line and what it resolves to
in the cached archive metadata, CPUs, memory, accelerator, whether the
artifacts are cached and intact (checksums checked), and their size. Never
downloads.

Options:
${optionsHelp(LIST_OPTIONS)}`;

/** The options of `fetch`. */
const FETCH_OPTIONS = {
  "kernel-version": {
    type: "string",
    value: "V",
    help: "this kernel package version (one VM)",
  },
  refresh: { type: "boolean", help: "fetch the archive metadata again" },
} as const;

/** Usage of `fetch`. */
export const FETCH_HELP =
  `Usage: deno run -A lib/vm/main.ts fetch <vm|all> [--kernel-version V] [--refresh]

Resolves, downloads, verifies and builds the kernel image and initramfs of
the VM(s) without booting them. A second run downloads nothing.

Options:
${optionsHelp(FETCH_OPTIONS)}`;

/** The options of `prune`. */
const PRUNE_OPTIONS = {
  "dry-run": { type: "boolean", help: "list what would go, remove nothing" },
} as const;

/** Usage of `prune`. */
export const PRUNE_HELP = `Usage: deno task vm:prune [--dry-run]

Removes from the VM cache what no row of lib/vm/vms.json uses any more:
packages and Deno binaries of other versions, builds and runs of rows that
are gone, archive metadata of suites no row lists, the old private apt tree.
Uses the cached archive metadata (never downloads).

Options:
${optionsHelp(PRUNE_OPTIONS)}`;

const log = (line: string) => console.error(line);

/**
 * The cache column of `vm:list`: what is cached, damaged or missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCache } from "./cache_commands.ts";
 * const ok = { cached: true, missing: [], corrupt: [], bytes: 3 << 20 };
 * assert.equal(describeCache(ok), "yes");
 * assert.equal(
 *   describeCache({ ...ok, cached: false, missing: ["a"], corrupt: ["b: sha256 differs"] }),
 *   "1 damaged, 1 to fetch (fetched on the next run)",
 * );
 * ```
 */
export function describeCache(status: CacheStatus): string {
  if (status.cached) return "yes";
  const parts = [];
  if (status.corrupt.length) parts.push(`${status.corrupt.length} damaged`);
  if (status.missing.length) parts.push(`${status.missing.length} to fetch`);
  return `${parts.join(", ")} (fetched on the next run)`;
}

/**
 * The build column of `vm:list`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeBuildState } from "./cache_commands.ts";
 * assert.equal(describeBuildState({ bytes: 0 }), "no");
 * assert.equal(describeBuildState({ bytes: 0, problem: "the inputs changed" }), "stale: the inputs changed (rebuilt on the next run)");
 * ```
 */
export function describeBuildState(state: BuildState): string {
  if (state.images) return "yes";
  if (state.problem) return `stale: ${state.problem} (rebuilt on the next run)`;
  return "no";
}

/** What `vm:list` knows about one row, read from the cache only. */
export interface ListRow {
  vm: VmSpec;
  /** The row's plan against the cached metadata; undefined without it. */
  plan?: VmPlan;
  status?: CacheStatus;
  build: BuildState;
  accel: AccelChoice;
}

/** Reads the state of every row from the cache (never downloads). */
export async function listRows(
  table: VmTable,
  root: string,
): Promise<ListRow[]> {
  const rows: ListRow[] = [];
  for (const vm of table.vms) {
    const plan = await planVm(table, vm, { root, log, offline: true }).catch(
      (err) => {
        if (err instanceof EnvironmentError) return undefined;
        throw err;
      },
    );
    rows.push({
      vm,
      plan,
      status: plan ? await cacheStatus(plan.needs, root) : undefined,
      build: await buildState(root, vm.name),
      accel: await chooseAccel(vm, "auto"),
    });
  }
  return rows;
}

/** The rows as `vm:list --json` prints them. */
export function listJson(rows: ListRow[]): unknown[] {
  return rows.map(({ vm, plan, status, build, accel }) => ({
    ...vm,
    resolved: plan
      ? {
        package: plan.kernel.package,
        version: plan.kernel.version,
        suite: plan.kernel.suite,
      }
      : null,
    accel: accel.accel,
    cached: status?.cached ?? false,
    cachedBytes: status?.bytes ?? 0,
    missing: status?.missing ?? null,
    damaged: status?.corrupt ?? [],
    manifestProblem: status?.manifestProblem,
    built: build.images !== undefined,
    buildBytes: build.bytes,
    buildProblem: build.problem,
  }));
}

/** The rows as `vm:list` prints them: the table, then any warnings. */
export function renderList(rows: ListRow[]): string {
  const table = renderResultsTable({
    header: [
      "vm",
      "arch",
      "kernel line",
      "resolves to (cached metadata)",
      "cpus",
      "memory",
      "accel",
      "cached",
      "built",
      "size",
    ],
    rows: rows.map(({ vm, plan, status, build, accel }) => [
      vm.name,
      vm.arch,
      `${vm.kernel.line} (${vm.kernel.suites.join(", ")})`,
      plan
        ? `${plan.kernel.version} ${plan.kernel.package} (${plan.kernel.suite})`
        : "not resolved yet (no metadata cached)",
      String(vm.cpus),
      `${vm.memoryMiB} MiB`,
      accel.accel,
      status ? describeCache(status) : "-",
      describeBuildState(build),
      formatBytes((status?.bytes ?? 0) + build.bytes),
    ]),
  }, 90);
  const lines = [table];
  const problem = rows.find((r) => r.status?.manifestProblem)?.status
    ?.manifestProblem;
  if (problem) lines.push(`\nwarning: ${problem}: nothing counts as cached`);
  for (const { vm, status } of rows) {
    for (const c of status?.corrupt ?? []) {
      lines.push(`damaged (${vm.name}): ${c}`);
    }
  }
  return lines.join("\n");
}

/**
 * What every cache command starts with: its options, the VM table and the
 * cache root; undefined once `--help` has printed `help`.
 */
async function startCommand<T extends OptionTable>(
  options: T,
  help: string,
  args: string[],
  o: { positionals?: boolean } = {},
) {
  const values = parseOptions(options, args, o);
  if (values.help) {
    console.log(help);
    return undefined;
  }
  return { values, table: await loadVmTable(), root: vmCacheRoot() };
}

/** `vm:list [--json]`. */
export async function listCommand(args: string[]): Promise<number> {
  const start = await startCommand(LIST_OPTIONS, LIST_HELP, args);
  if (!start) return ExitCode.OK;
  const { values, table, root } = start;
  const rows = await listRows(table, root);
  if (values.json) {
    console.log(JSON.stringify(listJson(rows), null, 2));
    return ExitCode.OK;
  }
  console.log(renderList(rows));
  console.log(`\ncache: ${root}\nguest Deno ${table.deno}`);
  return ExitCode.OK;
}

/** `fetch <vm|all>`. */
export async function fetchCommand(args: string[]): Promise<number> {
  const start = await startCommand(FETCH_OPTIONS, FETCH_HELP, args, {
    positionals: true,
  });
  if (!start) return ExitCode.OK;
  const { values, table, root } = start;
  const vms = selectVms(table, values.positionals[0]);
  if (values["kernel-version"] !== undefined && vms.length !== 1) {
    throw new UsageError("--kernel-version pins the kernel of one VM");
  }
  for (const vm of vms) {
    const t0 = performance.now();
    log(`${vm.name}: ${vm.description}`);
    const plan = (await planVm(table, vm, {
      root,
      log,
      kernelVersion: values["kernel-version"],
      refresh: values.refresh,
    }))!;
    const { images } = await ensureBootFiles(table, plan, { root, log });
    log(
      `${vm.name}: ready (${plan.kernel.package} ${plan.kernel.version}, uname ${images.kernelRelease}) in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
  }
  return ExitCode.OK;
}

/** `vm:prune [--dry-run]`. */
export async function pruneCommand(args: string[]): Promise<number> {
  const start = await startCommand(PRUNE_OPTIONS, PRUNE_HELP, args);
  if (!start) return ExitCode.OK;
  const { values, table, root } = start;
  const plan = await planPrune(table, root, log);
  let bytes = 0;
  for (const item of plan.remove) {
    console.log(
      `${values["dry-run"] ? "would remove" : "remove"} ${
        item.path ? `${item.path} (${formatBytes(item.bytes)})` : "the entry"
      }: ${item.why}`,
    );
    bytes += item.bytes;
  }
  for (const k of plan.kept) console.log(`keep: ${k}`);
  if (!values["dry-run"]) await prune(root, plan);
  console.log(
    `${values["dry-run"] ? "would free" : "freed"} ${
      formatBytes(bytes)
    } in ${plan.remove.length} item(s); cache ${root}`,
  );
  return ExitCode.OK;
}
