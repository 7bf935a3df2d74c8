// The commands end to end on the real kernel, and every error a user will
// hit: each must give a clear message and a meaningful exit code.
import assert from "node:assert/strict";
import { runDoctor } from "../../lib/cli/doctor.ts";
import { watchStderr } from "../run_command.ts";
import { withRejectedObject } from "./bpf_fixtures.ts";
import {
  assertBpf,
  bpfIgnore,
  DENO,
  ROOT,
  runCli,
  runCliReports,
} from "./require_bpf.ts";

Deno.test({
  name: "cli: validate at 1 and 10 kHz passes and writes JSON and JUnit XML",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const r = await runCliReports(
      ["validate", "--rates", "1000,10000", "--duration", "2s"],
      { junit: true },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const report = r.json;
    assert.equal(report?.pass, true);
    assert.deepEqual(
      report.rows.map((x: { requestedHz: number }) => x.requestedHz),
      [1000, 10000],
    );
    for (const row of report.rows) {
      assert.equal(row.dropped, 0);
      assert.equal(row.consumed, row.produced);
      assert.equal(row.counters.eventsSubmitted, row.consumed);
      assert.ok(row.consumerMemoryBytes < 20e6, `${row.consumerMemoryBytes}`);
      assert.ok(
        row.achievedPerCpuSecond > row.requestedHz * 0.5,
        `${row.achievedPerCpuSecond}`,
      );
    }
    assert.match(
      r.junit ?? "no JUnit file",
      /<testsuite name="streamprof validate" tests="3" failures="0"/,
    );
    assert.match(r.stdout, /1 kHz sampling: no drops\s+\| PASS/);
    assert.match(r.stdout, /validate: PASS/);
  },
});

Deno.test("cli: every command has --help and exits 0", async () => {
  for (const cmd of ["profile", "validate", "stability", "doctor"]) {
    const r = await runCli([cmd, "--help"]);
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, new RegExp(`Usage: streamprof ${cmd}`));
  }
  const top = await runCli(["--help"]);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Commands:/);
});

Deno.test("cli: usage errors exit 2 with a message", async () => {
  for (
    const [args, pattern] of [
      [["validate", "--rates", "abc"], /--rates must be a positive integer/],
      [["validate", "--duration", "soon"], /invalid --duration "soon"/],
      [["profile", "--bogus"], /Unknown option '--bogus'/],
      [["profile", "--freq", "0"], /--freq must be a positive integer/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["profile", "--pid", "999999999"], /--pid 999999999: no such process/],
    ] as [string[], RegExp][]
  ) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

Deno.test({
  name:
    "cli: without CAP_BPF/CAP_PERFMON profile and validate say to run as root (exit 3)",
  async fn() {
    for (
      const cmd of [["profile", "--duration", "1s"], [
        "validate",
        "--rates",
        "1000",
        "--duration",
        "1s",
      ]]
    ) {
      const r = await runCli(cmd, { dropCaps: true });
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        r.stderr,
        /missing privileges \(CAP_BPF no, CAP_PERFMON no, CAP_SYS_ADMIN no\)/,
      );
      assert.match(r.stderr, /run it as root/);
    }
    const d = await runCli(["doctor"], { dropCaps: true });
    assert.equal(d.code, 3);
    assert.match(d.stdout, /\[FAIL\] privileges/);
  },
});

Deno.test("cli: ANTIMETAL_BPF_PATH pointing nowhere is a clear error (exit 3)", async () => {
  const r = await runCli(["profile", "--duration", "1s"], {
    env: { ANTIMETAL_BPF_PATH: "/nonexistent/streamprof" },
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stderr,
    /BPF object not found at \/nonexistent\/streamprof\/profiler\.bpf\.o/,
  );
  assert.match(r.stderr, /ANTIMETAL_BPF_PATH/);
});

Deno.test({
  name: "cli: a corrupt BPF object is a clear error (exit 3)",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const dir = await Deno.makeTempDir();
    const junk = new Uint8Array(4096);
    crypto.getRandomValues(junk);
    await Deno.writeFile(`${dir}/profiler.bpf.o`, junk);
    const r = await runCli(["profile", "--duration", "1s"], {
      env: { ANTIMETAL_BPF_PATH: dir },
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot open BPF object .*profiler\.bpf\.o/);
    assert.match(r.stderr, /Rebuild it/);
  },
});

Deno.test({
  name:
    "cli: an object the kernel's verifier rejects is a clear error (exit 3)",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const r = await withRejectedObject((dir) =>
      runCli(["profile", "--duration", "1s"], {
        env: { ANTIMETAL_BPF_PATH: dir },
      })
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /loading BPF object .*: EINVAL/);
    assert.match(r.stderr, /The kernel rejected the object/);
  },
});

Deno.test({
  name:
    "cli: a kernel that cannot create the ring buffer map gets the 'needs 5.8' message (exit 3)",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    // No pre-5.8 kernel can be fetched here, so make the real kernel answer
    // BPF_MAP_CREATE the way 5.7 answers an unknown map type: EINVAL, via a
    // seccomp filter around the real CLI (tests/kernel/fixtures).
    const dir = await Deno.makeTempDir();
    const src =
      new URL("./fixtures/refuse_map_create.c", import.meta.url).pathname;
    const cc = await new Deno.Command("gcc", {
      args: [
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        src,
        "-o",
        `${dir}/refuse_map_create`,
      ],
    }).output();
    assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
    const wrapper = [`${dir}/refuse_map_create`];
    const v = await runCli(
      ["validate", "--rates", "1000", "--duration", "1s"],
      { wrapper },
    );
    assert.equal(v.code, 3, v.stderr);
    assert.match(
      v.stderr,
      /has no BPF ring buffer \(BPF_MAP_TYPE_RINGBUF needs Linux 5\.8 or newer\)/,
    );
    const d = await runCli(["doctor"], { wrapper });
    assert.equal(d.code, 3, d.stdout);
    assert.match(
      d.stdout,
      /\[FAIL\] BPF ring buffer map: not supported by this kernel/,
    );
    assert.match(d.stdout, /fix: needs Linux 5\.8\+/);
    assert.match(
      d.stdout,
      /profiler.bpf.o: this kernel .*has no BPF ring buffer[^\n]*\n +fix: this kernel lacks a feature the profiler needs \(ringbuf\): see the FAIL lines above/,
    );
  },
});

Deno.test({
  name:
    "cli: --hardware-events fails clearly where no PMU exists, works where one does",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const pmu = runDoctor().find((c) => c.name === "hardware PMU (cycles)")!;
    const r = await runCli([
      "profile",
      "--hardware-events",
      "--duration",
      "1s",
      "--no-status",
    ]);
    if (pmu.status === "ok") {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /reconciled:/);
    } else {
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /No hardware PMU is available on this machine/);
      assert.match(r.stderr, /drop --hardware-events/);
    }
  },
});

async function interruptAfter(args: string[], marker: RegExp, waitMs: number) {
  const cli = watchStderr([DENO, "run", "-A", `${ROOT}cli.ts`, ...args], {
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
  });
  // Wait until it says it is running, then a little more, then Ctrl-C.
  await cli.readUntil((err) => marker.test(err));
  await new Promise((r) => setTimeout(r, waitMs));
  cli.child.kill("SIGINT");
  const [status, out, err] = await Promise.all([
    cli.child.status,
    new Response(cli.child.stdout).text(),
    cli.readAll(),
  ]);
  return { code: status.code, stdout: out, stderr: err };
}

Deno.test({
  name: "cli: Ctrl-C ends profile early with a complete, reconciled summary",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const r = await interruptAfter(
      ["profile", "--duration", "60s", "--no-status"],
      /Ctrl-C/,
      1500,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /interrupted after \d+\.\d s/);
    assert.match(r.stdout, /Top processes/);
    assert.match(
      r.stdout,
      /reconciled: produced (\d+) = consumed \1 \+ dropped 0/,
    );
  },
});

Deno.test({
  name: "cli: Ctrl-C mid-validate flushes partial results to JSON and exits 1",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const dir = await Deno.makeTempDir();
    const r = await interruptAfter(
      [
        "validate",
        "--rates",
        "1000,10000",
        "--duration",
        "30s",
        "--json",
        `${dir}/v.json`,
      ],
      /validate: 1000 Hz on/,
      1500,
    );
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/v.json`));
    assert.equal(report.interrupted, true);
    assert.equal(report.pass, false);
    assert.equal(
      report.rows.length,
      1,
      "the interrupted rate is finished and kept",
    );
    assert.equal(report.rows[0].reconciliation.balanced, true);
    assert.match(r.stdout, /validate: INTERRUPTED/);
  },
});

Deno.test({
  name: "cli: doctor passes here and writes JSON",
  ignore: bpfIgnore,
  async fn() {
    assertBpf();
    const r = await runCliReports(["doctor"]);
    assert.equal(r.code, 0, r.stdout);
    const d = r.json;
    assert.equal(d?.ok, true);
    const names = d.checks.map((c: { name: string }) => c.name);
    for (
      const n of [
        "kernel",
        "privileges",
        "BPF ring buffer map",
        "perf_event BPF programs",
      ]
    ) {
      assert.ok(names.includes(n), n);
    }
  },
});
