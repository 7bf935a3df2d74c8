/**
 * The GitHub Actions workflow cannot run here, so it is checked: the YAML
 * parses (with the npm package `yaml`, run in its own process with a
 * frozen lock file), the VM matrix is exactly
 * the rows of lib/vm/vms.json plus the host, and every command a job runs
 * exists: `deno task` names in deno.json, `make` targets in the Makefile,
 * scripts in the tree, and `test:vm` names in the table.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadVmTable, RESERVED_NAMES } from "../../lib/vm/vms.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const WORKFLOW = `${ROOT}.github/workflows/vm.yml`;

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  name?: string;
  "runs-on": string;
  container?: { image: string; options?: string };
  strategy?: { matrix?: Record<string, unknown[]> };
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  name: string;
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

/**
 * The YAML parser: npm's `yaml`, exact version, its integrity in
 * tests/vm/yaml.lock.json. It runs in a process of its own, outside the
 * project's configuration (which does not list the package), so no source
 * file of the project imports it.
 */
const PARSE_YAML = `import { parse } from "npm:yaml@2.9.1";
console.log(JSON.stringify(parse(await Deno.readTextFile(Deno.args[0]))));`;

/** The workflow as parsed by npm's `yaml`. */
async function parseWorkflow(): Promise<Workflow> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      "--node-modules-dir=none",
      `--lock=${ROOT}tests/vm/yaml.lock.json`,
      "--frozen",
      PARSE_YAML,
      WORKFLOW,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const workflow = await parseWorkflow();
const table = await loadVmTable();
const tasks = Object.keys(
  JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks,
);
const makefile = await Deno.readTextFile(`${ROOT}Makefile`);

/** The shell commands of a job, with `${{ matrix.x }}` for each value. */
function commands(job: Job): string[] {
  const matrix = job.strategy?.matrix ?? {};
  const out: string[] = [];
  for (const step of job.steps) {
    if (!step.run) continue;
    const variants = Object.entries(matrix).reduce<string[]>(
      (texts, [key, values]) =>
        texts.flatMap((t) =>
          t.includes(`matrix.${key}`)
            ? values.map((v) =>
              t.replace(
                new RegExp(`\\$\\{\\{\\s*matrix\\.${key}\\s*\\}\\}`, "g"),
                String(v),
              )
            )
            : [t]
        ),
      [step.run],
    );
    for (const v of variants) {
      out.push(...v.split("\n").map((l) => l.trim()).filter(Boolean));
    }
  }
  return out;
}

Deno.test("workflow: parses, runs on push and pull requests, has the unit and VM jobs", () => {
  assert.equal(workflow.name, "vm");
  assert.ok("push" in workflow.on && "pull_request" in workflow.on);
  assert.deepEqual(Object.keys(workflow.jobs), ["unit", "vm"]);
  for (const job of Object.values(workflow.jobs)) {
    assert.match(job["runs-on"], /^ubuntu-/);
    assert.equal(job.container?.image, "debian:bookworm");
    assert.ok(job.steps.some((s) => s.uses === "actions/checkout@v4"));
  }
});

Deno.test("workflow: the VM matrix is every row of vms.json plus the host, one job each", () => {
  const vms = workflow.jobs.vm.strategy?.matrix?.vm as string[];
  assert.deepEqual(vms, [...table.vms.map((v) => v.name), "host"]);
  for (const name of vms) {
    assert.ok(
      table.vms.some((v) => v.name === name) || RESERVED_NAMES.includes(name),
      `${name} is no VM of lib/vm/vms.json`,
    );
  }
});

Deno.test("workflow: the VM jobs run test:vm <name>, cache the artifact folder, may use KVM", () => {
  const job = workflow.jobs.vm;
  const cmds = commands(job);
  for (const name of job.strategy!.matrix!.vm as string[]) {
    assert.ok(
      cmds.some((c) =>
        c.startsWith(`node_modules/.bin/deno task test:vm ${name} `) ||
        c === `node_modules/.bin/deno task test:vm ${name}`
      ),
      `no job runs test:vm ${name}`,
    );
  }
  const cache = job.steps.find((s) => s.uses === "actions/cache@v4");
  assert.ok(cache, "the VM jobs cache the artifact folder");
  assert.equal(cache.with?.path, job.env?.STREAMPROF_VM_CACHE);
  assert.match(String(cache.with?.key), /matrix\.vm/);
  // KVM needs the device: a privileged container sees the runner's /dev/kvm.
  assert.match(job.container?.options ?? "", /--privileged/);
  assert.ok(job.env?.TEST_DURATION, "a short TEST_DURATION");
});

Deno.test("workflow: every command a job runs exists (deno tasks, make targets, scripts, VM names)", async () => {
  for (const [id, job] of Object.entries(workflow.jobs)) {
    for (const cmd of commands(job)) {
      for (const m of cmd.matchAll(/\bdeno task ([\w:-]+)/g)) {
        assert.ok(tasks.includes(m[1]), `${id}: no deno task ${m[1]}`);
      }
      for (const m of cmd.matchAll(/\bmake ([\w-]+)/g)) {
        assert.match(
          makefile,
          new RegExp(`^${m[1]}:`, "m"),
          `${id}: no make target ${m[1]}`,
        );
      }
      for (
        const m of cmd.matchAll(/(?:^|\s)(?:source|\.|bash|sh) (\S+\.sh)\b/g)
      ) {
        await Deno.stat(`${ROOT}${m[1]}`);
      }
      for (const m of cmd.matchAll(/(?:^|\s)(node_modules\/\.bin\/deno)\b/g)) {
        // Installed by `make setup`, which the same job runs first.
        assert.ok(
          commands(job).some((c) => /\bmake setup\b/.test(c)),
          `${id}: runs ${m[1]} without make setup`,
        );
      }
      const vm = /\btest:vm (\S+)/.exec(cmd)?.[1];
      if (vm) {
        assert.ok(
          table.vms.some((v) => v.name === vm) || vm === "host" ||
            vm === "all",
          `${id}: test:vm ${vm} names no VM`,
        );
      }
    }
  }
});
