/**
 * Opening, configuring and loading `profiler.bpf.o`, and reading its exact
 * per-CPU counters.
 *
 * Every failure says what was attempted and what to do, and leaves nothing
 * open: a half-configured object is closed before the error is thrown.
 *
 * @example
 * ```ts ignore
 * const obj = ProfilerObject.open({ ringBytes: 8 << 20 });
 * console.log(obj.readCounters().samplesSeen);
 * obj.close();
 * ```
 * @module
 */
import {
  BPF_NAMES,
  CONFIG_OFFSETS,
  CONFIG_SIZE,
  COUNTER_FIELDS,
  COUNTERS_SIZE,
} from "../parser/layout.ts";
import { BPF_MAP_TYPE, checkPtr, checkRc, cstr, libbpf } from "./libbpf.ts";
import { lastErrno, libc, SysError } from "./libc.ts";
import { bpfPrivileges, PRIVILEGE_HINT } from "./privileges.ts";

/** The counters of `struct profiler_counters`, summed or for one CPU. */
export type ProfilerCounters = Record<typeof COUNTER_FIELDS[number], number>;

/**
 * The BPF objects that produce ProfileEvents. Both use the same ring map,
 * counters map and config struct, so one consumer serves both.
 */
export const EVENT_SOURCES = {
  /** CPU sampling on perf events: the profiler. */
  profiler: {
    file: "profiler.bpf.o",
    program: BPF_NAMES.program,
    rodata: BPF_NAMES.rodata,
    stacks: true,
  },
  /**
   * One event per system call of one process (raw_tp/sys_enter): a source
   * not limited by the perf sampling rate, for stress benchmarks.
   */
  stress: {
    file: "stress.bpf.o",
    program: "on_sys_enter",
    rodata: "stress.rodata",
    stacks: false,
  },
} as const;

/** Name of an event source. */
export type EventSource = keyof typeof EVENT_SOURCES;

/** Load-time settings of the BPF object. */
export interface LoadOptions {
  /** Which object to load (default "profiler"). */
  source?: EventSource;
  /** Folder holding profiler.bpf.o (default: $ANTIMETAL_BPF_PATH, else ebpf/build). */
  bpfDir?: string;
  /** Ring buffer size in bytes: a power of two, multiple of the page size (default 8 MiB). */
  ringBytes?: number;
  /** Stack map entries (default 16384). */
  stackEntries?: number;
  /** Only sample this process (tgid); 0 or absent = every process. */
  targetPid?: number;
  /** Count idle samples but do not send them (default true). */
  skipIdle?: boolean;
  /** Probe stack depth to flag truncated stacks (default true). */
  detectTruncation?: boolean;
}

/** Default folder of the BPF objects: $ANTIMETAL_BPF_PATH, else ebpf/build. */
export function defaultBpfDir(): string {
  return Deno.env.get("ANTIMETAL_BPF_PATH") ??
    new URL("../../ebpf/build", import.meta.url).pathname;
}

/** Sums per-CPU counter values. */
export function sumCounters(perCpu: ProfilerCounters[]): ProfilerCounters {
  const total = Object.fromEntries(
    COUNTER_FIELDS.map((f) => [f, 0]),
  ) as ProfilerCounters;
  for (const c of perCpu) for (const f of COUNTER_FIELDS) total[f] += c[f];
  return total;
}

/** A loaded profiler.bpf.o. */
export class ProfilerObject {
  /** Path of the object file. */
  readonly path: string;
  /** Ring buffer size in bytes. */
  readonly ringBytes: number;
  /** fd of the ring buffer map. */
  readonly ringFd: number;
  /** fd of the per-CPU counters map. */
  readonly countersFd: number;
  /** The on_cpu_sample program (libbpf `struct bpf_program *`). */
  readonly program: Deno.PointerObject;
  #obj: Deno.PointerObject | null;
  readonly #possibleCpus: number;
  readonly #countersBuf: Uint8Array<ArrayBuffer>;

  /** Opens, configures and loads the object. Throws with a clear message. */
  static open(o: LoadOptions = {}): ProfilerObject {
    const dir = o.bpfDir ?? defaultBpfDir();
    const src = EVENT_SOURCES[o.source ?? "profiler"];
    const path = `${dir.replace(/\/$/, "")}/${src.file}`;
    try {
      const st = Deno.statSync(path);
      if (!st.isFile) throw new Error("not a regular file");
    } catch (err) {
      throw new Error(
        `BPF object not found at ${path} (${
          (err as Error).message
        }): run 'make build-ebpf', or set ANTIMETAL_BPF_PATH to the folder holding ${src.file}`,
      );
    }
    const ringBytes = o.ringBytes ?? 8 << 20;
    const page = libc().pageSize;
    if (ringBytes < page || (ringBytes & (ringBytes - 1)) !== 0) {
      throw new RangeError(
        `ring size ${ringBytes} must be a power of two and at least the page size (${page})`,
      );
    }
    const priv = bpfPrivileges();
    if (!priv.ok) {
      throw new Error(`missing privileges (${priv.detail}). ${PRIVILEGE_HINT}`);
    }
    const b = libbpf().symbols;
    const obj = b.bpf_object__open_file(cstr(path), null);
    if (obj === null) {
      throw new SysError(
        `cannot open BPF object ${path}`,
        lastErrno(),
        "Is it a BPF ELF object built by 'make build-ebpf'? Rebuild it",
      );
    }
    try {
      return new ProfilerObject(obj, path, ringBytes, src, o);
    } catch (err) {
      b.bpf_object__close(obj);
      throw err;
    }
  }

  private constructor(
    obj: Deno.PointerObject,
    path: string,
    ringBytes: number,
    src: typeof EVENT_SOURCES[EventSource],
    o: LoadOptions,
  ) {
    const b = libbpf().symbols;
    this.#obj = obj;
    this.path = path;
    this.ringBytes = ringBytes;
    const map = (name: string) =>
      checkPtr(
        b.bpf_object__find_map_by_name(obj, cstr(name)),
        `BPF object ${path} has no map "${name}"`,
        "Was it built from this version of ebpf/ (make build-ebpf)?",
      );
    const ring = map(BPF_NAMES.ringbuf);
    const counters = map(BPF_NAMES.counters);
    const rodata = map(src.rodata);
    this.program = checkPtr(
      b.bpf_object__find_program_by_name(obj, cstr(src.program)),
      `BPF object ${path} has no program "${src.program}"`,
    );
    checkRc(
      b.bpf_map__set_max_entries(ring, ringBytes),
      "sizing the ring buffer",
    );
    if (src.stacks) {
      checkRc(
        b.bpf_map__set_max_entries(
          map(BPF_NAMES.stacks),
          o.stackEntries ?? 16384,
        ),
        "sizing the stack map",
      );
    }
    this.#writeConfig(rodata, o);

    const probe = b.libbpf_probe_bpf_map_type(BPF_MAP_TYPE.RINGBUF, null);
    if (probe < 0) {
      throw new SysError(
        "probing the kernel for BPF ring buffer support",
        -probe,
        -probe === 1 || -probe === 13 ? PRIVILEGE_HINT : undefined,
      );
    }
    if (probe !== 1) {
      throw new Error(
        `this kernel (${Deno.osRelease()}) has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF needs Linux 5.8 or newer); run 'cli.ts doctor' for details`,
      );
    }
    const rc = b.bpf_object__load(obj);
    if (rc < 0) {
      const errno = -rc;
      const hint = errno === 1 || errno === 13
        ? PRIVILEGE_HINT
        : "The kernel rejected the object; the verifier log above says why ('cli.ts doctor' checks the kernel's features)";
      throw new SysError(`loading BPF object ${path}`, errno, hint);
    }
    this.ringFd = checkRc(b.bpf_map__fd(ring), "ring buffer map fd");
    this.countersFd = checkRc(b.bpf_map__fd(counters), "counters map fd");
    this.#possibleCpus = checkRc(
      b.libbpf_num_possible_cpus(),
      "counting possible CPUs",
    );
    this.#countersBuf = new Uint8Array(this.#possibleCpus * COUNTERS_SIZE);
  }

  #writeConfig(rodata: Deno.PointerObject, o: LoadOptions): void {
    const sizeBuf = new BigUint64Array(1);
    const p = checkPtr(
      libbpf().symbols.bpf_map__initial_value(
        rodata,
        new Uint8Array(sizeBuf.buffer),
      ),
      "reading the BPF object's .rodata",
    );
    if (Number(sizeBuf[0]) < CONFIG_SIZE) {
      throw new Error(
        `.rodata of ${this.path} is ${
          sizeBuf[0]
        } bytes, smaller than struct profiler_config (${CONFIG_SIZE}): object and library disagree`,
      );
    }
    const cfg = new DataView(
      Deno.UnsafePointerView.getArrayBuffer(p, CONFIG_SIZE),
    );
    cfg.setUint32(CONFIG_OFFSETS.targetPid, o.targetPid ?? 0, true);
    cfg.setUint32(CONFIG_OFFSETS.skipIdle, o.skipIdle === false ? 0 : 1, true);
    cfg.setUint32(
      CONFIG_OFFSETS.detectTruncation,
      o.detectTruncation === false ? 0 : 1,
      true,
    );
  }

  /** Reads the counters of every possible CPU. */
  readPerCpuCounters(): ProfilerCounters[] {
    if (this.#obj === null) throw new Error("BPF object is closed");
    const key = new Uint8Array(4);
    checkRc(
      libbpf().symbols.bpf_map_lookup_elem(
          this.countersFd,
          key,
          this.#countersBuf,
        ) < 0
        ? -(lastErrno())
        : 0,
      "reading the per-CPU counters",
    );
    const v = new DataView(this.#countersBuf.buffer);
    const out: ProfilerCounters[] = [];
    for (let cpu = 0; cpu < this.#possibleCpus; cpu++) {
      const c = {} as ProfilerCounters;
      COUNTER_FIELDS.forEach((f, i) => {
        c[f] = Number(v.getBigUint64(cpu * COUNTERS_SIZE + i * 8, true));
      });
      out.push(c);
    }
    return out;
  }

  /** Reads the counters summed over every CPU. */
  readCounters(): ProfilerCounters {
    return sumCounters(this.readPerCpuCounters());
  }

  /** Closes the object (maps, programs). Idempotent. */
  close(): void {
    if (this.#obj === null) return;
    libbpf().symbols.bpf_object__close(this.#obj);
    this.#obj = null;
  }
}
