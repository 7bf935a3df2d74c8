/**
 * Opening one sampling perf event per CPU with perf_event_open(2).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { samplingAttr } from "./perf_event.ts";
 * assert.equal(samplingAttr({ frequency: 99 }).byteLength, 128);
 * ```
 * @module
 */
import { KernelFeatureError } from "../common/errors.ts";
import { describeErrno, libc, SysError } from "./libc.ts";

/** perf_event_open syscall numbers (the generic table on arm64). */
const NR_PERF_EVENT_OPEN: Record<string, bigint> = {
  x86_64: 298n,
  aarch64: 241n,
};
const PERF_TYPE_HARDWARE = 0;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_HW_CPU_CYCLES = 0;
const PERF_COUNT_SW_CPU_CLOCK = 0;
const PERF_FLAG_FD_CLOEXEC = 8n;
/** sizeof(struct perf_event_attr) in current uapi headers (VER8). */
const ATTR_SIZE = 128;
const ATTR_FLAG_DISABLED = 1n << 0n;
const ATTR_FLAG_FREQ = 1n << 10n;

/** How each CPU is sampled. */
export interface SamplingOptions {
  /** Samples per second per CPU (frequency mode). */
  frequency?: number;
  /** Or: one sample every `period` events (ns of CPU time for cpu-clock). */
  period?: number;
  /** Use the hardware cycles counter instead of the software cpu-clock. */
  hardwareEvents?: boolean;
}

/** Builds a `struct perf_event_attr` for sampling. */
export function samplingAttr(o: SamplingOptions): Uint8Array<ArrayBuffer> {
  const attr = new Uint8Array(ATTR_SIZE);
  const v = new DataView(attr.buffer);
  v.setUint32(
    0,
    o.hardwareEvents ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE,
    true,
  );
  v.setUint32(4, ATTR_SIZE, true);
  v.setBigUint64(
    8,
    BigInt(
      o.hardwareEvents ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK,
    ),
    true,
  );
  let flags = ATTR_FLAG_DISABLED; // libbpf enables it once the program is attached
  if (o.period !== undefined) {
    if (!(o.period >= 1)) {
      throw new RangeError(`period must be >= 1, got ${o.period}`);
    }
    v.setBigUint64(16, BigInt(Math.floor(o.period)), true);
  } else {
    const f = o.frequency ?? 99;
    if (!(f >= 1) || !Number.isFinite(f)) {
      throw new RangeError(`frequency must be >= 1 Hz, got ${f}`);
    }
    v.setBigUint64(16, BigInt(Math.floor(f)), true);
    flags |= ATTR_FLAG_FREQ;
  }
  v.setBigUint64(40, flags, true);
  return attr;
}

/**
 * kernel.perf_event_max_sample_rate: the kernel's cap on samples per second
 * per CPU, or undefined if it cannot be read.
 */
export function perfMaxSampleRate(): number | undefined {
  try {
    const v = Number(
      Deno.readTextFileSync("/proc/sys/kernel/perf_event_max_sample_rate"),
    );
    return v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens a sampling event on `cpu` for every process (pid -1). Returns the fd.
 * Throws a SysError whose message says what to do about the usual failures.
 */
export function openSamplingEvent(cpu: number, o: SamplingOptions): number {
  const nr = NR_PERF_EVENT_OPEN[Deno.build.arch];
  if (nr === undefined) {
    throw new Error(
      `perf_event_open: unsupported architecture ${Deno.build.arch}`,
    );
  }
  // Check the rate the kernel allows first: perf_event_open() only says
  // EINVAL, and a rate above the limit is a named kernel limit, not a bug.
  const max = perfMaxSampleRate();
  if (
    o.period === undefined && max !== undefined && (o.frequency ?? 99) > max
  ) {
    throw new KernelFeatureError(
      "sample-rate",
      `${
        o.frequency ?? 99
      } Hz is above kernel.perf_event_max_sample_rate (${max})`,
      {
        hint:
          `sample at ${max} Hz or less, or raise the limit: sysctl kernel.perf_event_max_sample_rate=${
            o.frequency ?? 99
          } (the kernel lowers it again if sampling takes too long)`,
      },
    );
  }
  const attr = samplingAttr(o);
  const l = libc();
  const fd = l.symbols.syscall(
    nr,
    Deno.UnsafePointer.of(attr),
    -1n,
    BigInt(cpu),
    -1n,
    PERF_FLAG_FD_CLOEXEC,
  );
  if (fd >= 0n) return Number(fd);
  const errno = l.errno();
  const what = `perf_event_open(${
    o.hardwareEvents ? "hardware cycles" : "software cpu-clock"
  }, cpu ${cpu})`;
  if (o.hardwareEvents && [2, 19, 95].includes(errno)) {
    throw new KernelFeatureError(
      "pmu",
      `${what}: ${describeErrno(errno)}`,
      {
        hint:
          "No hardware PMU is available on this machine (common in VMs): drop --hardware-events to sample with the software cpu-clock",
      },
    );
  }
  if (errno === 1 || errno === 13) {
    throw new SysError(
      what,
      errno,
      "Run as root, or grant CAP_PERFMON (and CAP_BPF) to the process",
    );
  }
  if (errno === 22 && o.period === undefined) {
    throw new SysError(
      what,
      errno,
      `Is ${o.frequency} Hz above kernel.perf_event_max_sample_rate (${
        perfMaxSampleRate() ?? "unknown"
      })?`,
    );
  }
  throw new SysError(what, errno);
}
