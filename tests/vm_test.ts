/**
 * VM integration tests: boots every VM of lib/vm/vms.json for real (QEMU,
 * TCG here unless a KVM probe boot passes) and checks that the guest runs
 * the kernel its line resolved to (`uname -r` in the line, `uname -m` of
 * the arch) and that libbpf's BPF_MAP_TYPE_RINGBUF probe says supported.
 * Then, on the `default` VM: a failing guest command fails with the kernel
 * log, a hung guest times out cleanly, Ctrl-C stops the run and no QEMU is
 * left behind, `-- command` returns the command's status and output,
 * `--share`, `--cpus`, `--memory` and `--kernel-version` do what they say,
 * a copied cache uses its own files. (The whole suite on every VM is
 * `deno task test:vm all`.)
 *
 * Outside CI, a missing QEMU skips these tests with a visible message; in CI
 * (CI=true) they fail instead: the VM suite must run there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { haveCommand } from "../lib/vm/exec.ts";
import { runVm, SMOKE_CMD } from "../lib/vm/run_vm.ts";
import {
  ARCHES,
  findVm,
  loadVmTable,
  releaseInLine,
  type VmSpec,
} from "../lib/vm/vms.ts";
import { kernelPackagePattern } from "../lib/vm/kernel_resolve.ts";
import { readManifest, vmCacheRoot } from "../lib/vm/cache.ts";
import { planVm } from "../lib/vm/artifacts.ts";
import { reportFiles, runDeno, watchStderr } from "./run_command.ts";
import { withTempDir } from "./temp_dir.ts";

const inCI = Deno.env.get("CI") === "true";
const table = await loadVmTable();
const MAIN = new URL("../lib/vm/main.ts", import.meta.url).pathname;

/** Why a VM cannot run here (QEMU missing), or null. */
async function cannotRun(vm: VmSpec): Promise<string | null> {
  const bin = ARCHES[vm.arch].qemu;
  return (await haveCommand(bin)) ? null : `${bin} is not installed`;
}

/** Runs `main.ts test <args>`; returns exit code, stdout and stderr. */
function runner(args: string[], env: Record<string, string> = {}) {
  return runDeno([MAIN, "test", ...args], { env });
}

/**
 * {@link runner} with both reports asked for, right after the VM name (a
 * `-- command` stays last), into a temporary folder; returns how it ended
 * with the JSON report and the JUnit text (undefined where none was
 * written).
 */
function runnerReported(args: string[]) {
  return withTempDir(async (dir) => {
    const r = await runner([
      args[0],
      ...reportFiles(dir, "r"),
      ...args.slice(1),
    ]);
    const read = (f: string) =>
      Deno.readTextFile(`${dir}/${f}`).catch(() => undefined);
    const json = await read("r.json");
    return {
      ...r,
      // deno-lint-ignore no-explicit-any
      json: (json === undefined ? undefined : JSON.parse(json)) as any,
      junit: await read("r.xml"),
    };
  });
}

const reasons = new Map<string, string | null>();
for (const vm of table.vms) reasons.set(vm.name, await cannotRun(vm));
for (const [name, reason] of reasons) {
  if (!reason) continue;
  console.error(
    inCI
      ? `CI=true and VM ${name} cannot run: its tests will FAIL: ${reason}`
      : `SKIPPING VM ${name} tests (not in CI): ${reason}`,
  );
}
const ignore = (name: string) => !inCI && reasons.get(name) !== null;
const requireRunnable = (name: string) => {
  const r = reasons.get(name);
  if (r) throw new Error(`VM ${name} cannot run: ${r}`);
};

/**
 * A test that boots VM `vm`: skipped outside CI where it cannot run, failed
 * in CI; with the sanitizers off, as QEMU's children and pipes may end
 * after the test's last await.
 */
function vmTest(vm: string, name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: ignore(vm),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      requireRunnable(vm);
      await fn();
    },
  });
}

/** PIDs of QEMU processes whose command line mentions `needle`. */
function qemuProcesses(needle: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      const argv0 = cmd.split("\0")[0].split("/").pop() ?? "";
      if (argv0.startsWith("qemu-system") && cmd.includes(needle)) {
        pids.push(Number(e.name));
      }
    } catch { /* exited */ }
  }
  return pids;
}

const opts = {
  guestCmd: SMOKE_CMD,
  duration: "5s",
  timeoutS: 240,
  bootTimeoutS: 120,
  accel: "auto" as const,
  showOutput: false,
  log: (l: string) => console.error(l),
};

for (const vm of table.vms) {
  vmTest(
    vm.name,
    `vm ${vm.name}: boots the newest ${vm.kernel.line} kernel of ${
      vm.kernel.suites.join("/")
    } on ${vm.arch}, uname matches, libbpf ringbuf probe = 1`,
    async () => {
      const r = await runVm(table, vm, opts);
      const detail = `${r.reason}\n${r.lastLines.join("\n")}`;
      assert.equal(r.pass, true, detail);
      assert.equal(r.unameM, ARCHES[vm.arch].uname, detail);
      assert.ok(
        releaseInLine(r.unameR ?? "", vm.kernel.line),
        `uname -r ${r.unameR} is not ${vm.kernel.line}.x`,
      );
      assert.match(
        r.kernelPackage ?? "",
        kernelPackagePattern(vm.kernel.flavour),
      );
      assert.ok(r.kernelVersion?.startsWith(`${vm.kernel.line}.`));
      // The package's ABI is the release the guest runs.
      const abi = kernelPackagePattern(vm.kernel.flavour).exec(
        r.kernelPackage!,
      )![1];
      assert.equal(r.unameR, `${abi}-${vm.kernel.flavour}`);
      const smoke = r.json as { ringbuf?: number; osRelease?: string };
      assert.equal(smoke?.ringbuf, 1, JSON.stringify(r.json));
      assert.equal(smoke.osRelease, r.unameR);
      console.error(
        `  ${vm.name}: init after ${r.times.guestBootToInit} s guest / ${r.times.qemuToInit} s wall; QEMU ran ${r.times.qemu} s`,
      );
    },
  );
}

const def = findVm(table, "default");

vmTest(
  "default",
  "vm default: a failing guest command fails with its exit code and the kernel log",
  async () => {
    const r = await runVm(table, def, {
      ...opts,
      guestCmd: "echo streamprof-test-marker > /dev/kmsg; exit 7",
    });
    assert.equal(r.pass, false);
    assert.equal(r.exitCode, 7);
    assert.equal(r.reason, "guest command exited 7");
    assert.ok(
      r.dmesg.some((l) => l.includes("streamprof-test-marker")),
      r.dmesg.join("\n"),
    );
  },
);

vmTest(
  "default",
  "vm default: a hung guest times out with the reason; no QEMU is left",
  async () => {
    const r = await runVm(table, def, {
      ...opts,
      guestCmd: "echo hanging; sleep 600",
      timeoutS: 25,
    });
    assert.equal(r.pass, false);
    assert.match(
      r.reason,
      /^timeout after 25 s while running the guest command/,
    );
    assert.ok(r.lastLines.some((l) => l.includes("hanging")));
    assert.deepEqual(qemuProcesses(`${vmCacheRoot()}/runs/default`), []);
  },
);

vmTest(
  "default",
  "vm default: test:vm CLI passes, writes JSON and JUnit; SIGINT or SIGKILL of the runner stops QEMU",
  async () => {
    const out = await runnerReported(["default", "--smoke", "--quiet"]);
    const text = out.stdout + out.stderr;
    assert.equal(out.code, 0, text);
    assert.match(text, /^1 passed, 0 failed/m);
    assert.equal(out.json?.pass, true);
    assert.equal(out.json.results[0].json.ringbuf, 1);
    assert.match(out.junit ?? "no JUnit file", /tests="1" failures="0"/);
    await withTempDir(async (dir) => {
      // Ctrl-C while the guest runs: an orderly stop (QEMU killed, results
      // written, "interrupted", exit 1). SIGKILL of the runner itself: QEMU
      // gone too (the wrapper watches our stdin pipe).
      for (const sig of ["SIGINT", "SIGKILL"] as const) {
        const runner = watchStderr([
          Deno.execPath(),
          "run",
          "-A",
          MAIN,
          "test",
          "default",
          "--guest-cmd",
          "sleep 600",
          ...reportFiles(dir, "i"),
        ]);
        try {
          await runner.readUntil((err) => err.includes("init after"));
          assert.equal(
            qemuProcesses(`${vmCacheRoot()}/runs/default`).length,
            1,
            runner.stderr,
          );
        } finally {
          runner.child.kill(sig);
        }
        // Read to the end: the runner still reports after SIGINT.
        const err = await runner.readAll();
        const st = await runner.child.status;
        if (sig === "SIGINT") {
          assert.equal(st.code, 1, err);
          assert.match(err, /default: FAIL \(interrupted\)/);
          const j = JSON.parse(await Deno.readTextFile(`${dir}/i.json`));
          assert.equal(j.pass, false);
          assert.equal(j.results[0].outcome, "interrupted");
        }
        let left = qemuProcesses(`${vmCacheRoot()}/runs/default`);
        for (let i = 0; i < 20 && left.length; i++) {
          await new Promise((r) => setTimeout(r, 100));
          left = qemuProcesses(`${vmCacheRoot()}/runs/default`);
        }
        assert.deepEqual(left, [], `QEMU left after ${sig}`);
      }
    });
  },
);

vmTest(
  "default",
  "vm default: a copied cache (STREAMPROF_VM_CACHE) boots its own files; a damaged initramfs and package in the copy are reported, re-fetched and rebuilt",
  async () => {
    // Make sure the real cache holds the VM, then copy what it needs.
    const warm = await runVm(table, def, { ...opts, guestCmd: "true" });
    assert.equal(warm.pass, true, warm.reason);
    const root = vmCacheRoot();
    await withTempDir(async (copy) => {
      for (
        const part of [
          "manifest.json",
          "index",
          "debs",
          "deno",
          "build",
          "fixtures",
          "kvm-probe.json",
        ]
      ) {
        const cp = await new Deno.Command("cp", {
          args: ["-a", `${root}/${part}`, `${copy}/`],
        }).output();
        assert.equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
      }
      const originalBuild = await Deno.readTextFile(
        `${root}/build/default/build.json`,
      );
      const { manifest } = await readManifest(copy);
      const zlib = Object.values(manifest.artifacts).find((a) =>
        a.key.startsWith("deb/arm64/zlib1g=")
      )!.file.replace(/^debs\/arm64\//, "");
      for (
        const f of [
          `${copy}/build/default/initramfs.cpio`,
          `${copy}/debs/arm64/${zlib}`,
        ]
      ) {
        const bytes = await Deno.readFile(f);
        bytes[bytes.length >> 1] ^= 0xff;
        await Deno.writeFile(f, bytes);
      }
      const out = await runner(["default", "--smoke", "--quiet"], {
        STREAMPROF_VM_CACHE: copy,
      });
      const text = out.stdout + out.stderr;
      assert.equal(out.code, 0, text);
      assert.match(
        text,
        new RegExp(
          `default: the cached initramfs ${copy}/build/default/initramfs\\.cpio has sha256 \\w+, recorded \\w+: rebuilding`,
        ),
      );
      assert.match(
        text,
        /deb\/arm64\/zlib1g=\S+: .* has sha256 \w+, recorded \w+: fetching it again/,
      );
      const cmd = await Deno.readTextFile(`${copy}/runs/default/qemu.cmd`);
      assert.ok(
        cmd.includes(`-initrd ${copy}/build/default/initramfs.cpio`),
        cmd,
      );
      assert.ok(cmd.includes(`-kernel ${copy}/build/default/kernel`), cmd);
      assert.equal(
        await Deno.readTextFile(`${root}/build/default/build.json`),
        originalBuild,
      );
    }, "vm-cache-copy-");
  },
);

vmTest(
  "default",
  "vm default: `-- command` runs it as root in the project folder and returns its status and output",
  async () => {
    const r = await runnerReported([
      "default",
      "--",
      "sh",
      "-c",
      'echo "out:$(id -u):$(pwd):$1"; echo err >&2; exit 7',
      "sh",
      "it's one argument",
    ]);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^out:0:\/project:it's one argument$/m);
    assert.match(r.stdout, /^err$/m);
    assert.equal(r.json?.results[0].exitCode, 7);
    assert.equal(r.json.pass, false);
    const ok = await runner(["default", "-q", "--", "true"]);
    assert.equal(ok.code, 0, ok.stderr);
  },
);

vmTest(
  "default",
  "vm default: --share DIR[:rw] shows a host folder at the same path; --cpus and --memory override the row",
  async () => {
    const ro = await Deno.makeTempDir({ prefix: "vm-share-ro-" });
    const rw = await Deno.makeTempDir({ prefix: "vm-share-rw-" });
    try {
      await Deno.writeTextFile(`${ro}/in.txt`, "from the host\n");
      const r = await runner([
        "default",
        "--share",
        ro,
        "--share",
        `${rw}:rw`,
        "--cpus",
        "1",
        "--memory",
        "1G",
        "--",
        "sh",
        "-c",
        `cat ${ro}/in.txt; (echo x > ${ro}/no) 2>/dev/null || echo read-only; ` +
        `echo from the guest > ${rw}/out.txt; nproc; ` +
        `awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.deepEqual(lines.slice(0, 3), ["from the host", "read-only", "1"]);
      // MemTotal is the RAM less what the kernel keeps: a bit under 1024 MiB.
      const mib = Number(lines[3]);
      assert.ok(mib > 800 && mib <= 1024, `MemTotal ${mib} MiB`);
      assert.equal(
        await Deno.readTextFile(`${rw}/out.txt`),
        "from the guest\n",
      );
    } finally {
      await Deno.remove(ro, { recursive: true });
      await Deno.remove(rw, { recursive: true });
    }
  },
);

vmTest(
  "profiler-x86",
  "vm profiler-x86: --kernel-version pins an older kernel of the line; results and cache record it",
  async () => {
    const vm = findVm(table, "profiler-x86");
    const plan = await planVm(table, vm, { log: () => {} });
    const older = plan!.kernelCandidates[1];
    assert.ok(older, "the 6.1 line has an older package in the index");
    const r = await runnerReported([
      "profiler-x86",
      "--kernel-version",
      older.version,
      "-q",
      "--",
      "uname",
      "-r",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const abi = kernelPackagePattern("amd64").exec(older.package)![1];
    assert.equal(r.stdout.trim(), `${abi}-amd64`);
    assert.equal(r.json?.results[0].kernelVersion, older.version);
    assert.equal(r.json.results[0].kernelPackage, older.package);
    const m = (await readManifest(vmCacheRoot())).manifest;
    assert.equal(m.resolutions["profiler-x86"].version, older.version);
    assert.equal(m.resolutions["profiler-x86"].pinned, true);
    // Unpinned again: back to the newest.
    const back = await runVm(table, vm, { ...opts, guestCmd: "true" });
    assert.equal(back.kernelVersion, plan!.kernel.version);
  },
);

const oldest = findVm(table, "ebpf-kernel-5.8");

vmTest(
  "ebpf-kernel-5.8",
  "vm ebpf-kernel-5.8: doctor passes in the guest; an object the guest kernel rejects fails with the clear message (exit 3), not a hang",
  async () => {
    // The guest sees the project read-only at /project: put the rejected
    // object in the (git-ignored) .cache folder inside it.
    const { writeRejectedObject } = await import("./kernel/bpf_fixtures.ts");
    await writeRejectedObject(
      new URL("../.cache/vm-fault", import.meta.url).pathname,
    );
    const r = await runVm(table, oldest, {
      ...opts,
      guestCmd:
        "deno run -A cli.ts doctor && ANTIMETAL_BPF_PATH=/project/.cache/vm-fault " +
        "deno run -A cli.ts profile --duration 2s --no-status",
    });
    // The whole console: the kernel log printed on failure pushes the
    // command's own lines out of the last-lines tail.
    const out = r.consoleLog
      ? await Deno.readTextFile(r.consoleLog)
      : r.lastLines.join("\n");
    assert.equal(r.pass, false, out);
    assert.equal(r.exitCode, 3, `${r.reason}\n${out}`);
    assert.match(out, /\[ok {2}\] BPF ring buffer map: supported/);
    assert.match(out, /doctor: this machine can run streamprof/);
    assert.match(
      out,
      /loading BPF object \/project\/\.cache\/vm-fault\/profiler\.bpf\.o: EINVAL/,
    );
    assert.match(out, /The kernel rejected the object/);
  },
);
