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

const inCI = Deno.env.get("CI") === "true";
const table = await loadVmTable();
const MAIN = new URL("../lib/vm/main.ts", import.meta.url).pathname;

/** Why a VM cannot run here (QEMU missing), or null. */
async function cannotRun(vm: VmSpec): Promise<string | null> {
  const bin = ARCHES[vm.arch].qemu;
  return (await haveCommand(bin)) ? null : `${bin} is not installed`;
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
  Deno.test({
    name: `vm ${vm.name}: boots the newest ${vm.kernel.line} kernel of ${
      vm.kernel.suites.join("/")
    } on ${vm.arch}, uname matches, libbpf ringbuf probe = 1`,
    ignore: ignore(vm.name),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      requireRunnable(vm.name);
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
  });
}

const def = findVm(table, "default");

Deno.test({
  name:
    "vm default: a failing guest command fails with its exit code and the kernel log",
  ignore: ignore("default"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("default");
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
});

Deno.test({
  name: "vm default: a hung guest times out with the reason; no QEMU is left",
  ignore: ignore("default"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("default");
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
});

Deno.test({
  name:
    "vm default: test:vm CLI passes, writes JSON and JUnit; SIGINT or SIGKILL of the runner stops QEMU",
  ignore: ignore("default"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("default");
    const dir = await Deno.makeTempDir();
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          MAIN,
          "test",
          "default",
          "--smoke",
          "--quiet",
          "--json",
          `${dir}/r.json`,
          "--junit",
          `${dir}/r.xml`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      assert.match(text, /^1 passed, 0 failed/m);
      const j = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
      assert.equal(j.pass, true);
      assert.equal(j.results[0].json.ringbuf, 1);
      const xml = await Deno.readTextFile(`${dir}/r.xml`);
      assert.match(xml, /tests="1" failures="0"/);

      // Ctrl-C while the guest runs: an orderly stop (QEMU killed, results
      // written, "interrupted", exit 1). SIGKILL of the runner itself: QEMU
      // gone too (the wrapper watches our stdin pipe).
      for (const sig of ["SIGINT", "SIGKILL"] as const) {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            MAIN,
            "test",
            "default",
            "--guest-cmd",
            "sleep 600",
            "--json",
            `${dir}/i.json`,
            "--junit",
            `${dir}/i.xml`,
          ],
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const dec = new TextDecoder();
        let err = "";
        const reader = child.stderr.getReader();
        try {
          while (!err.includes("init after")) {
            const { value, done } = await reader.read();
            if (done) break;
            err += dec.decode(value);
          }
          assert.equal(
            qemuProcesses(`${vmCacheRoot()}/runs/default`).length,
            1,
            err,
          );
        } finally {
          child.kill(sig);
        }
        // Read to the end: the runner still reports after SIGINT.
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          err += dec.decode(value);
        }
        reader.releaseLock();
        const st = await child.status;
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
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "vm default: a copied cache (STREAMPROF_VM_CACHE) boots its own files; a damaged initramfs and package in the copy are reported, re-fetched and rebuilt",
  ignore: ignore("default"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("default");
    // Make sure the real cache holds the VM, then copy what it needs.
    const warm = await runVm(table, def, { ...opts, guestCmd: "true" });
    assert.equal(warm.pass, true, warm.reason);
    const root = vmCacheRoot();
    const copy = await Deno.makeTempDir({ prefix: "vm-cache-copy-" });
    try {
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
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "test", "default", "--smoke", "--quiet"],
        env: { STREAMPROF_VM_CACHE: copy },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr);
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
    } finally {
      await Deno.remove(copy, { recursive: true });
    }
  },
});

/** Runs `main.ts test <args>`; returns exit code, stdout and stderr. */
async function runner(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "test", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

Deno.test({
  name:
    "vm default: `-- command` runs it as root in the project folder and returns its status and output",
  ignore: ignore("default"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("default");
    const dir = await Deno.makeTempDir();
    try {
      const r = await runner([
        "default",
        "--json",
        `${dir}/r.json`,
        "--junit",
        `${dir}/r.xml`,
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
      const j = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
      assert.equal(j.results[0].exitCode, 7);
      assert.equal(j.pass, false);
      const ok = await runner(["default", "-q", "--", "true"]);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "vm default: --share DIR[:rw] shows a host folder at the same path; --cpus and --memory override the row",
  ignore: ignore("default"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("default");
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
});

Deno.test({
  name:
    "vm profiler-x86: --kernel-version pins an older kernel of the line; results and cache record it",
  ignore: ignore("profiler-x86"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("profiler-x86");
    const vm = findVm(table, "profiler-x86");
    const plan = await planVm(table, vm, { log: () => {} });
    const older = plan!.kernelCandidates[1];
    assert.ok(older, "the 6.1 line has an older package in the index");
    const dir = await Deno.makeTempDir();
    try {
      const r = await runner([
        "profiler-x86",
        "--kernel-version",
        older.version,
        "--json",
        `${dir}/r.json`,
        "-q",
        "--",
        "uname",
        "-r",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const abi = kernelPackagePattern("amd64").exec(older.package)![1];
      assert.equal(r.stdout.trim(), `${abi}-amd64`);
      const j = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
      assert.equal(j.results[0].kernelVersion, older.version);
      assert.equal(j.results[0].kernelPackage, older.package);
      const m = (await readManifest(vmCacheRoot())).manifest;
      assert.equal(m.resolutions["profiler-x86"].version, older.version);
      assert.equal(m.resolutions["profiler-x86"].pinned, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    // Unpinned again: back to the newest.
    const back = await runVm(table, vm, { ...opts, guestCmd: "true" });
    assert.equal(back.kernelVersion, plan!.kernel.version);
  },
});

const oldest = findVm(table, "ebpf-kernel-5.8");

Deno.test({
  name:
    "vm ebpf-kernel-5.8: doctor passes in the guest; an object the guest kernel rejects fails with the clear message (exit 3), not a hang",
  ignore: ignore("ebpf-kernel-5.8"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireRunnable("ebpf-kernel-5.8");
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
});
