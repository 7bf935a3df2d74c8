/**
 * VM integration tests: boots every VM of lib/vm/vms.json for real (QEMU,
 * TCG here) and checks that the guest reports the expected `uname -m` and
 * kernel `major.minor`, and that libbpf's BPF_MAP_TYPE_RINGBUF probe says
 * supported. Then, on the `default` VM: a failing guest command fails with
 * the kernel log, a hung guest times out cleanly, Ctrl-C stops the run, and
 * no QEMU is left behind.
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
  kernelMajorMinor,
  loadVmTable,
  type VmSpec,
} from "../lib/vm/vms.ts";
import { vmCacheRoot } from "../lib/vm/cache.ts";

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
    name:
      `vm ${vm.name}: boots ${vm.arch} ${vm.kernel.version}, uname matches, libbpf ringbuf probe = 1`,
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
        r.unameR?.startsWith(kernelMajorMinor(vm.kernel) + "."),
        `uname -r ${r.unameR} is not ${kernelMajorMinor(vm.kernel)}.x`,
      );
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
      for (const part of ["manifest.json", "apt", "debs", "deno", "build"]) {
        const cp = await new Deno.Command("cp", {
          args: ["-a", `${root}/${part}`, `${copy}/`],
        }).output();
        assert.equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
      }
      const originalBuild = await Deno.readTextFile(
        `${root}/build/default/build.json`,
      );
      const zlib = [...Deno.readDirSync(`${copy}/debs/arm64`)]
        .find((e) => e.name.startsWith("zlib1g_"))!.name;
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
        /deb\/arm64\/zlib1g: .* has sha256 \w+, recorded \w+: fetching it again/,
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
