/**
 * `deno task test`: every check and test of the project, in order, ending
 * with one plain `N passed, N failed` line. Exits 1 if anything failed.
 *
 * Steps: format, lint, type check; unit, property, fuzz and real-kernel
 * tests (`deno test`); the C harness tests; the VM suite (`test:vm all`).
 * `--skip-vm` leaves the VMs out (for a quick local run; refused in CI).
 *
 * @module
 */
import { parseArgs } from "node:util";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const { values } = parseArgs({
  args: Deno.args,
  options: {
    "skip-vm": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(`Usage: deno task test [--skip-vm]

Runs fmt --check, lint, type check, every deno test (unit, property, fuzz,
real kernel), the C harness tests and the VM suite; prints 'N passed, N failed'.
--skip-vm   leave out the VM suite (not allowed when CI=true)`);
  Deno.exit(0);
}
const inCI = Deno.env.get("CI") === "true";
if (values["skip-vm"] && inCI) {
  console.error(
    "run_all: --skip-vm is not allowed in CI: the VM suite must run",
  );
  Deno.exit(2);
}

let passed = 0;
let failed = 0;
const failures: string[] = [];
// deno-lint-ignore no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

/**
 * Runs a command, streaming its output, and returns code and output.
 * (Spawned like lib/vm/guest_suite.ts's runChild, but not shared: this
 * one passes the bytes through unchanged and keeps all of them for the
 * summary; that one prefixes lines, keeps a tail and has a time limit.)
 */
async function run(cmd: string[], env?: Record<string, string>) {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const dec = new TextDecoder();
  const pump = async (
    s: ReadableStream<Uint8Array>,
    to: typeof Deno.stdout,
  ) => {
    for await (const chunk of s) {
      out += dec.decode(chunk, { stream: true });
      await to.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { code: status.code, out: stripAnsi(out) };
}

/** A step that counts as one test. */
async function step(name: string, cmd: string[]) {
  console.log(`\n== ${name}: ${cmd.join(" ")}`);
  const r = await run(cmd);
  if (r.code === 0) passed++;
  else {
    failed++;
    failures.push(`${name} (exit ${r.code})`);
  }
}

/** A step whose runner reports counts; they are added up. */
async function counted(name: string, cmd: string[], pattern: RegExp) {
  console.log(`\n== ${name}: ${cmd.join(" ")}`);
  const r = await run(cmd);
  const m = [...r.out.matchAll(pattern)].at(-1);
  if (!m) {
    failed++;
    failures.push(`${name}: no result line (exit ${r.code})`);
    return;
  }
  const p = Number(m.groups!.passed);
  const f = Number(m.groups!.failed);
  passed += p;
  failed += f;
  if (f > 0 || r.code !== 0) {
    if (f === 0) failed++;
    failures.push(`${name}: ${f} failed (exit ${r.code})`);
  }
}

const denoSummary =
  /(?:ok|FAILED) \| (?<passed>\d+) passed(?: \(\d+ steps?\))? \| (?<failed>\d+) failed/g;
const plainSummary =
  /^(?:\w+: )?(?<passed>\d+) passed, (?<failed>\d+) failed/gm;

await step("format", [DENO, "fmt", "--check"]);
await step("lint", [DENO, "lint"]);
// --doc: the examples in doc comments are type-checked, and run below.
await step("types", [
  DENO,
  "check",
  "--doc",
  "mod.ts",
  "cli.ts",
  "lib/",
  "tests/",
  "bench/",
]);
await counted(
  "deno tests (unit, property, fuzz, real kernel, the benchmarks' own)",
  [
    DENO,
    "test",
    "-A",
    "--no-check",
    "--doc",
    "mod.ts",
    "lib/",
    "tests/",
    "bench/",
  ],
  denoSummary,
);
try {
  Deno.statSync(`${ROOT}harness-c/Makefile`);
  await counted(
    "harness-c tests",
    ["make", "-s", "-C", "harness-c", "test"],
    plainSummary,
  );
} catch (err) {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}
if (!values["skip-vm"]) {
  await counted(
    "VM suite (test:vm all)",
    [DENO, "run", "-A", "lib/vm/main.ts", "test", "all"],
    plainSummary,
  );
}

console.log("");
for (const f of failures) console.log(`FAILED: ${f}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
