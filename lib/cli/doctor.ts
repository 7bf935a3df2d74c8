/**
 * `streamprof doctor`: can this machine run the profiler, and if not, what
 * to fix. Probes the kernel with libbpf rather than guessing from versions.
 *
 * @example
 * ```sh
 * deno task doctor --json out/doctor.json
 * ```
 * @module
 */
import { optionsHelp, parseOptions } from "../common/options.ts";
import { checkWritable, writeOutputs } from "../common/output_file.ts";
import { BPF_MAP_TYPE, BPF_PROG_TYPE, libbpf } from "../bpf/libbpf.ts";
import { libc } from "../bpf/libc.ts";
import { bpfPrivileges, PRIVILEGE_HINT } from "../bpf/privileges.ts";
import { openSamplingEvent, perfMaxSampleRate } from "../bpf/perf_event.ts";
import {
  defaultBpfDir,
  mapLayouts,
  ProfilerObject,
} from "../bpf/profiler_object.ts";
import { DEFAULT_RATES } from "../validate/run_validation.ts";
import {
  BpfObjectError,
  ExitCode,
  KernelFeatureError,
  PrivilegeError,
} from "../common/errors.ts";
import { describeEnvironment } from "../common/environment.ts";

/** One finding. */
export interface DoctorCheck {
  name: string;
  /** fail: the profiler cannot run; warn: a feature is missing; ok/info. */
  status: "ok" | "fail" | "warn" | "info";
  detail: string;
  /** What to do about a fail or warn. */
  fix?: string;
}

/** The options of `doctor`. */
export const DOCTOR_OPTIONS = {
  json: { type: "string", value: "FILE", help: "write the checks as JSON" },
} as const;

/** Usage text of `doctor`. */
export const DOCTOR_HELP = `Usage: streamprof doctor [options]

Checks kernel version, BTF, privileges, BPF ring buffer and perf_event program
support (probed with libbpf), the software CPU clock, the hardware PMU, the
kernel's sample rate limit against validate's default rates, and that
profiler.bpf.o has the map layout this version reads and loads. Says what to
fix.

Options:
${optionsHelp(DOCTOR_OPTIONS)}

Exit codes: 0 the profiler can run here, 3 it cannot (or --json could not be
written), 2 usage error.`;

function readSysctl(path: string): string {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return "unavailable";
  }
}

/** What to do about an object that failed, by what failed. */
function objectFix(err: unknown, failedBefore: boolean): string {
  if (err instanceof BpfObjectError) {
    if (err.problem === "not-found" || err.problem === "invalid") {
      return `run 'make build-ebpf' or set STREAMPROF_BPF_PATH (now ${defaultBpfDir()})`;
    }
    if (err.problem === "layout") {
      return "the object was built from another version of ebpf/: rebuild it (make build-ebpf)";
    }
    if (err.problem === "rejected") {
      return failedBefore
        ? "the kernel refused it: see the FAIL lines above"
        : err.hint ??
          "the kernel's verifier refused it: its log above says why";
    }
  }
  if (err instanceof PrivilegeError) return PRIVILEGE_HINT;
  if (err instanceof KernelFeatureError) {
    return failedBefore
      ? `this kernel lacks a feature the profiler needs (${err.feature}): see the FAIL lines above`
      : `this kernel lacks a feature the profiler needs (${err.feature})`;
  }
  return "an unexpected error: please report it";
}

/** Runs every check. */
export function runDoctor(): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const env = describeEnvironment();
  const [maj, min] = env.kernel.split(/[.-]/).map(Number);
  const kernelOk = maj > 5 || (maj === 5 && min >= 8);
  checks.push({
    name: "kernel",
    status: kernelOk ? "ok" : "fail",
    detail: `${env.kernel} on ${env.arch}, ${env.onlineCpus} CPUs online`,
    fix: kernelOk ? undefined : "the BPF ring buffer needs Linux 5.8 or newer",
  });
  const btf = (() => {
    try {
      return Deno.statSync("/sys/kernel/btf/vmlinux").isFile;
    } catch {
      return false;
    }
  })();
  checks.push({
    name: "BTF",
    status: btf ? "ok" : "info",
    detail: btf
      ? "/sys/kernel/btf/vmlinux present"
      : "no /sys/kernel/btf/vmlinux (not needed: profiler.bpf.o uses no CO-RE)",
  });
  const priv = bpfPrivileges();
  checks.push({
    name: "privileges",
    status: priv.ok ? "ok" : "fail",
    detail: `euid ${libc().symbols.geteuid()}, ${priv.detail}`,
    fix: priv.ok ? undefined : PRIVILEGE_HINT,
  });
  let bpf: ReturnType<typeof libbpf>["symbols"] | undefined;
  try {
    bpf = libbpf().symbols;
    checks.push({ name: "libbpf", status: "ok", detail: "libbpf.so.1 loaded" });
  } catch (err) {
    checks.push({
      name: "libbpf",
      status: "fail",
      detail: (err as Error).message,
      fix: "install libbpf1 (make setup)",
    });
  }
  if (bpf && !priv.ok) {
    checks.push({
      name: "BPF features",
      status: "info",
      detail:
        "not probed: without privileges libbpf's probes cannot tell 'forbidden' from 'unsupported'",
    });
  }
  if (bpf && priv.ok) {
    const probe = (name: string, rc: number, need: string) =>
      checks.push({
        name,
        status: rc === 1 ? "ok" : "fail",
        detail: rc === 1
          ? "supported"
          : rc === 0
          ? "not supported by this kernel"
          : `probe failed: ${libc().describe(-rc)}`,
        fix: rc === 1
          ? undefined
          : rc === 0
          ? need
          : "run as root to probe BPF features",
      });
    probe(
      "BPF ring buffer map",
      bpf.libbpf_probe_bpf_map_type(BPF_MAP_TYPE.RINGBUF, null),
      "needs Linux 5.8+ with CONFIG_BPF_SYSCALL",
    );
    probe(
      "BPF per-CPU array map",
      bpf.libbpf_probe_bpf_map_type(BPF_MAP_TYPE.PERCPU_ARRAY, null),
      "needs CONFIG_BPF_SYSCALL",
    );
    probe(
      "perf_event BPF programs",
      bpf.libbpf_probe_bpf_prog_type(BPF_PROG_TYPE.PERF_EVENT, null),
      "needs CONFIG_BPF_EVENTS",
    );
  }
  for (const hw of [false, true]) {
    try {
      const fd = openSamplingEvent(0, { frequency: 99, hardwareEvents: hw });
      libc().symbols.close(fd);
      checks.push({
        name: hw ? "hardware PMU (cycles)" : "software cpu-clock events",
        status: "ok",
        detail: "perf_event_open works",
      });
    } catch (err) {
      checks.push({
        name: hw ? "hardware PMU (cycles)" : "software cpu-clock events",
        status: hw ? "warn" : "fail",
        detail: (err as Error).message,
        fix: hw
          ? "--hardware-events will not work here; the default cpu-clock does"
          : "check privileges and kernel.perf_event_paranoid",
      });
    }
  }
  // A default rate above the kernel's limit is refused at attach: say so
  // now, with the command that fixes it.
  const maxRate = perfMaxSampleRate();
  const tooFast = DEFAULT_RATES.filter((r) =>
    maxRate !== undefined && r > maxRate
  );
  checks.push({
    name: "sample rate limit",
    status: tooFast.length ? "warn" : "ok",
    detail: maxRate === undefined
      ? "kernel.perf_event_max_sample_rate unreadable"
      : `kernel.perf_event_max_sample_rate ${maxRate}${
        tooFast.length
          ? `: below validate's default ${
            tooFast.join(", ")
          } Hz (those rates will be refused)`
          : ", at or above every default rate"
      }`,
    fix: tooFast.length
      ? `sysctl kernel.perf_event_max_sample_rate=${
        Math.max(...tooFast)
      }, or validate --rates ${
        DEFAULT_RATES.filter((r) => !tooFast.includes(r)).join(",") || "100"
      }`
      : undefined,
  });
  checks.push({
    name: "perf sysctls",
    status: "info",
    detail: `perf_event_max_sample_rate ${
      readSysctl("/proc/sys/kernel/perf_event_max_sample_rate")
    }, perf_event_paranoid ${
      readSysctl("/proc/sys/kernel/perf_event_paranoid")
    }, perf_event_max_stack ${
      readSysctl("/proc/sys/kernel/perf_event_max_stack")
    }`,
  });
  if (bpf) {
    // The object: the same map layout checks as every run makes at open,
    // then a load. The fix depends on what failed, by the error's type.
    const failedBefore = checks.some((c) => c.status === "fail");
    try {
      const obj = ProfilerObject.open({ ringBytes: 1 << 16 });
      obj.close();
      checks.push({
        name: "profiler.bpf.o",
        status: "ok",
        detail:
          `${obj.path} loads; its maps have the layout this version reads (${
            mapLayouts().map((m) => m.name).join(", ")
          })`,
      });
    } catch (err) {
      checks.push({
        name: "profiler.bpf.o",
        status: "fail",
        detail: (err as Error).message,
        fix: objectFix(err, failedBefore),
      });
    }
  }
  return checks;
}

/** Runs `doctor` with command-line arguments; returns the exit code. */
export async function doctorCommand(args: string[]): Promise<number> {
  const v = parseOptions(DOCTOR_OPTIONS, args);
  if (v.help) {
    console.log(DOCTOR_HELP);
    return ExitCode.OK;
  }
  if (v.json) checkWritable(v.json, "--json");
  const checks = runDoctor();
  const mark = { ok: "ok  ", fail: "FAIL", warn: "warn", info: "info" };
  for (const c of checks) {
    console.log(
      `[${mark[c.status]}] ${c.name}: ${c.detail}${
        c.fix ? `\n       fix: ${c.fix}` : ""
      }`,
    );
  }
  const ok = checks.every((c) => c.status !== "fail");
  console.log(
    ok
      ? "doctor: this machine can run streamprof"
      : "doctor: streamprof cannot run here (see FAIL lines)",
  );
  const errors = v.json
    ? await writeOutputs([{
      what: "--json",
      path: v.json,
      data: () => JSON.stringify({ ok, checks }, null, 2) + "\n",
    }])
    : [];
  for (const e of errors) console.error(`doctor: ${e}`);
  return ok && errors.length === 0 ? ExitCode.OK : ExitCode.ENVIRONMENT;
}
