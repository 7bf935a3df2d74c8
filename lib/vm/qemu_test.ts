import assert from "node:assert/strict";
import {
  chooseAccel,
  kernelCmdline,
  kvmProbeVerdict,
  QEMU_WRAPPER,
  qemuArgs,
} from "./qemu.ts";
import type { VmSpec } from "./vms.ts";

const vm = (arch: "arm64" | "x86_64"): VmSpec => ({
  name: "t",
  arch,
  kernel: { line: "6.1", suites: ["bookworm"], flavour: "amd64" },
  cpus: 2,
  memoryMiB: 1024,
  description: "",
});
const paths = {
  kernel: "/c/kernel",
  initramfs: "/c/initramfs.cpio",
  projectDir: "/p",
  resultsDir: "/r",
};

function after(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

Deno.test("arm64 under TCG: virt machine, cpu max with impdef pauth, PL011 console", () => {
  const [bin, args] = qemuArgs(vm("arm64"), { accel: "tcg", ...paths });
  assert.equal(bin, "qemu-system-aarch64");
  assert.deepEqual(after(args, "-M"), ["virt"]);
  assert.deepEqual(after(args, "-accel"), ["tcg"]);
  assert.deepEqual(after(args, "-cpu"), ["max,pauth-impdef=on"]);
  assert.deepEqual(after(args, "-smp"), ["2"]);
  assert.deepEqual(after(args, "-m"), ["1024M"]);
  assert.deepEqual(after(args, "-kernel"), ["/c/kernel"]);
  assert.deepEqual(after(args, "-initrd"), ["/c/initramfs.cpio"]);
  assert.match(after(args, "-append")[0], /^console=ttyAMA0 panic=-1 /);
  assert.ok(args.includes("-no-reboot"));
  assert.deepEqual(after(args, "-nic"), ["none"]);
  const fs = after(args, "-fsdev");
  assert.equal(
    fs[0],
    "local,id=project,path=/p,security_model=none,multidevs=remap,readonly=on",
  );
  assert.equal(
    fs[1],
    "local,id=results,path=/r,security_model=none,multidevs=remap",
  );
  assert.deepEqual(
    after(args, "-device").filter((d) => d.startsWith("virtio-9p")),
    [
      "virtio-9p-pci,fsdev=project,mount_tag=project",
      "virtio-9p-pci,fsdev=results,mount_tag=results",
    ],
  );
});

Deno.test("x86_64: TCG uses cpu max, KVM uses cpu host; serial console ttyS0", () => {
  const [bin, tcg] = qemuArgs(vm("x86_64"), { accel: "tcg", ...paths });
  assert.equal(bin, "qemu-system-x86_64");
  assert.deepEqual(after(tcg, "-cpu"), ["max"]);
  const [, kvm] = qemuArgs(vm("x86_64"), { accel: "kvm", ...paths });
  assert.deepEqual(after(kvm, "-accel"), ["kvm"]);
  assert.deepEqual(after(kvm, "-cpu"), ["host"]);
  assert.match(kernelCmdline("x86_64"), /^console=ttyS0 /);
  assert.match(kernelCmdline("arm64", ["debug"]), / debug$/);
});

Deno.test("chooseAccel: explicit choice wins; a foreign arch is always TCG", async () => {
  assert.equal((await chooseAccel(vm("arm64"), "kvm")).accel, "kvm");
  assert.equal((await chooseAccel(vm("x86_64"), "tcg")).accel, "tcg");
  const foreign = Deno.build.arch === "x86_64" ? vm("arm64") : vm("x86_64");
  assert.equal((await chooseAccel(foreign, "auto")).accel, "tcg");
});

Deno.test("QEMU_WRAPPER kills the command when our end of its stdin closes", async () => {
  const child = new Deno.Command("sh", {
    args: ["-c", QEMU_WRAPPER, "sh", "sh", "-c", "echo $$; exec sleep 1000"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  const pid = Number(new TextDecoder().decode(value).trim());
  assert.ok(pid > 0);
  assert.ok(alive(pid));
  const t0 = performance.now();
  await child.stdin.close();
  const st = await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  assert.ok(performance.now() - t0 < 5000);
  assert.equal(st.success, false); // killed, not a clean exit
  assert.equal(alive(pid), false);
});

Deno.test("QEMU_WRAPPER passes the command's exit code through", async () => {
  const child = new Deno.Command("sh", {
    args: ["-c", QEMU_WRAPPER, "sh", "sh", "-c", "exit 3"],
    stdin: "piped",
  }).spawn();
  const st = await child.status;
  await child.stdin.close();
  assert.equal(st.code, 3);
});

function alive(pid: number): boolean {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) [ZX] /.test(s);
  } catch {
    return false;
  }
}

Deno.test("kvmProbeVerdict: only a kernel that ran to its final panic proves KVM", () => {
  const end =
    "[    0.612] Kernel panic - not syncing: VFS: Unable to mount root fs";
  // What this machine's software KVM printed for Debian's 6.1 kernel.
  const internal = [
    "KVM internal error. Suberror: 1",
    "extra data[0]: 0x0000000000000001",
    "emulation failure",
    "RAX=ffff888004840040 RBX=0000000000000000",
  ].join("\n");
  const cases: [Parameters<typeof kvmProbeVerdict>[0], boolean, RegExp][] = [
    [{ code: 0, console: [end], stderr: "", seconds: 0.8 }, true, /0\.8 s/],
    [
      { code: null, timedOut: true, console: [], stderr: internal, seconds: 4 },
      false,
      /^KVM internal error\. Suberror: 1 \(emulation failure\)$/,
    ],
    [
      {
        code: null,
        timedOut: true,
        console: ["[ 1.0] Memory: 1M"],
        stderr: "",
        seconds: 10,
      },
      false,
      /did not reach its end within 10 s/,
    ],
    [
      {
        code: 1,
        console: [],
        stderr: "qemu: could not access KVM kernel module\n",
        seconds: 0.1,
      },
      false,
      /^QEMU exited 1: qemu: could not access KVM/,
    ],
    [
      { code: 0, console: ["booting"], stderr: "", seconds: 1 },
      false,
      /before the kernel reached its end/,
    ],
  ];
  for (const [outcome, works, reason] of cases) {
    const v = kvmProbeVerdict(outcome);
    assert.equal(v.works, works, JSON.stringify(outcome));
    assert.match(v.reason, reason);
  }
});
