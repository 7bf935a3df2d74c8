/**
 * Opening, configuring and loading `profiler.bpf.o` (or `stress.bpf.o`),
 * checking that its maps have the layout this library reads and writes, and
 * reading its exact per-CPU counters.
 *
 * Every failure is a typed error (lib/common/errors.ts) that says what was
 * attempted and what to do, and leaves nothing open: a half-configured
 * object is closed before the error is thrown.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root and the BPF object (tests/kernel covers it).
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
import {
  BpfObjectError,
  KernelFeatureError,
  PrivilegeError,
  UsageError,
} from "../common/errors.ts";
import { BPF_MAP_TYPE, checkPtr, checkRc, cstr, libbpf } from "./libbpf.ts";
import { describeErrno, lastErrno, libc, SysError } from "./libc.ts";
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
  },
  /**
   * One event per system call of one process (raw_tp/sys_enter): a source
   * not limited by the perf sampling rate, for stress benchmarks.
   */
  stress: {
    file: "stress.bpf.o",
    program: BPF_NAMES.stressProgram,
    rodata: BPF_NAMES.stressRodata,
  },
} as const;

/** Name of an event source. */
export type EventSource = keyof typeof EVENT_SOURCES;

/** The default ring buffer size: 8 MiB. */
export const DEFAULT_RING_BYTES = 8 << 20;
/** The largest ring buffer size accepted: 1 GiB (the mapping is twice it). */
export const MAX_RING_BYTES = 1 << 30;

/** Load-time settings of the BPF object. */
export interface LoadOptions {
  /** Which object to load (default "profiler"). */
  source?: EventSource;
  /** Folder holding the object (default: see {@link defaultBpfDir}). */
  bpfDir?: string;
  /** Ring buffer size in bytes: a power of two from a page to 1 GiB (default 8 MiB). */
  ringBytes?: number;
  /** Only sample this process (tgid); 0 or absent = every process. */
  targetPid?: number;
  /** Only sample this thread (tid); 0 or absent = every thread. */
  targetTid?: number;
  /** Count idle samples but do not send them (default true). */
  skipIdle?: boolean;
  /** Carry each sample's user and kernel frames in its record (default true). */
  collectStacks?: boolean;
}

/**
 * Default folder of the BPF objects: $STREAMPROF_BPF_PATH, else
 * $ANTIMETAL_BPF_PATH (the methodology's name, kept as an alias), else
 * ebpf/build. An empty value counts as unset.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { defaultBpfDir } from "./profiler_object.ts";
 * assert.ok(defaultBpfDir().length > 0);
 * ```
 */
export function defaultBpfDir(): string {
  for (const name of ["STREAMPROF_BPF_PATH", "ANTIMETAL_BPF_PATH"]) {
    const v = Deno.env.get(name);
    if (v !== undefined && v.trim() !== "") return v;
  }
  return new URL("../../ebpf/build", import.meta.url).pathname;
}

/**
 * Sums per-CPU counter values.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { sumCounters, zeroCounters } from "./profiler_object.ts";
 * const a = { ...zeroCounters(), samplesSeen: 2 };
 * assert.equal(sumCounters([a, a]).samplesSeen, 4);
 * ```
 */
export function sumCounters(perCpu: ProfilerCounters[]): ProfilerCounters {
  const total = zeroCounters();
  for (const c of perCpu) for (const f of COUNTER_FIELDS) total[f] += c[f];
  return total;
}

/** Counters that are all zero. */
export function zeroCounters(): ProfilerCounters {
  return Object.fromEntries(
    COUNTER_FIELDS.map((f) => [f, 0]),
  ) as ProfilerCounters;
}

/** The layout a map must have for this library to read or write it. */
export interface MapLayout {
  /** The map's name in the object. */
  name: string;
  /** BPF_MAP_TYPE_* number. */
  type: number;
  /** Key size in bytes. */
  keySize: number;
  /** Value size in bytes; for .rodata the least size (the struct may lead it). */
  valueSize: number;
  /** Whether valueSize is a lower bound rather than exact. */
  valueAtLeast?: boolean;
  /** Entries, when the library depends on the number. */
  entries?: number;
}

/**
 * Every map the consumer reads or writes, with the layout it expects: the
 * ring (written by the kernel, mapped by us), the per-CPU counters (read
 * with a buffer of possible CPUs x value size: a larger value would make
 * the kernel write past it) and the configuration in .rodata.
 */
export function mapLayouts(source: EventSource = "profiler"): MapLayout[] {
  return [
    {
      name: BPF_NAMES.ringbuf,
      type: BPF_MAP_TYPE.RINGBUF,
      keySize: 0,
      valueSize: 0,
    },
    {
      name: BPF_NAMES.counters,
      type: BPF_MAP_TYPE.PERCPU_ARRAY,
      keySize: 4,
      valueSize: COUNTERS_SIZE,
      entries: 1,
    },
    {
      name: EVENT_SOURCES[source].rodata,
      type: BPF_MAP_TYPE.ARRAY,
      keySize: 4,
      valueSize: CONFIG_SIZE,
      valueAtLeast: true,
      entries: 1,
    },
  ];
}

const MAP_TYPE_NAMES: Record<number, string> = {
  [BPF_MAP_TYPE.ARRAY]: "array",
  [BPF_MAP_TYPE.PERCPU_ARRAY]: "percpu_array",
  [BPF_MAP_TYPE.STACK_TRACE]: "stack_trace",
  [BPF_MAP_TYPE.RINGBUF]: "ringbuf",
};
const typeName = (t: number) => MAP_TYPE_NAMES[t] ?? `type ${t}`;

/**
 * Checks one opened (not yet loaded) map against its expected layout;
 * returns the mismatches as sentences naming the map and both values.
 */
export function mapLayoutProblems(
  map: Deno.PointerObject,
  want: MapLayout,
): string[] {
  const bpf = libbpf().symbols;
  const problems: string[] = [];
  const type = bpf.bpf_map__type(map);
  if (type !== want.type) {
    problems.push(
      `map "${want.name}" is a ${typeName(type)} map, expected ${
        typeName(want.type)
      }`,
    );
  }
  const key = bpf.bpf_map__key_size(map);
  if (key !== want.keySize) {
    problems.push(
      `map "${want.name}" has ${key}-byte keys, expected ${want.keySize}`,
    );
  }
  const value = bpf.bpf_map__value_size(map);
  if (want.valueAtLeast ? value < want.valueSize : value !== want.valueSize) {
    problems.push(
      `map "${want.name}" has ${value}-byte values, expected ${
        want.valueAtLeast ? "at least " : ""
      }${want.valueSize}`,
    );
  }
  const entries = bpf.bpf_map__max_entries(map);
  if (want.entries !== undefined && entries !== want.entries) {
    problems.push(
      `map "${want.name}" has ${entries} entries, expected ${want.entries}`,
    );
  }
  return problems;
}

/** Hint for a load that failed with this errno. */
function loadHint(errno: number): string {
  if (errno === 1 || errno === 13) return PRIVILEGE_HINT;
  if (errno === 24 || errno === 23) {
    return "The process ran out of file descriptors (each map and program is one): raise the limit with 'ulimit -n'";
  }
  if (errno === 12) {
    return "The kernel could not allocate the maps: try a smaller --ring-bytes, or check the memlock limit (ulimit -l)";
  }
  return "The kernel rejected the object: the verifier log above says why";
}

/** A loaded profiler.bpf.o (or stress.bpf.o). */
export class ProfilerObject {
  /** Path of the object file. */
  readonly path: string;
  /** Ring buffer size in bytes. */
  readonly ringBytes: number;
  /** fd of the ring buffer map. */
  readonly ringFd: number;
  /** fd of the per-CPU counters map. */
  readonly countersFd: number;
  /** The sampling program (libbpf `struct bpf_program *`). */
  readonly program: Deno.PointerObject;
  /** Whether records carry stack frames (the collectStacks option). */
  readonly collectStacks: boolean;
  #obj: Deno.PointerObject | null;
  readonly #possibleCpus: number;
  readonly #countersBuf: Uint8Array<ArrayBuffer>;

  /** Opens, configures and loads the object. Throws a typed, clear error. */
  static open(o: LoadOptions = {}): ProfilerObject {
    const dir = o.bpfDir ?? defaultBpfDir();
    const source = o.source ?? "profiler";
    const src = EVENT_SOURCES[source];
    const path = `${dir.replace(/\/$/, "")}/${src.file}`;
    try {
      const st = Deno.statSync(path);
      if (!st.isFile) throw new Error("not a regular file");
    } catch (err) {
      throw new BpfObjectError(
        "not-found",
        `BPF object not found at ${path} (${(err as Error).message})`,
        {
          hint:
            `run 'make build-ebpf', or set STREAMPROF_BPF_PATH (or ANTIMETAL_BPF_PATH) to the folder holding ${src.file}`,
        },
      );
    }
    const ringBytes = o.ringBytes ?? DEFAULT_RING_BYTES;
    const page = libc().pageSize;
    if (
      !Number.isInteger(ringBytes) || ringBytes < page ||
      ringBytes > MAX_RING_BYTES || !Number.isInteger(Math.log2(ringBytes))
    ) {
      throw new UsageError(
        `ring size ${ringBytes} must be a power of two from the page size (${page}) to ${MAX_RING_BYTES} bytes`,
      );
    }
    const priv = bpfPrivileges();
    if (!priv.ok) {
      throw new PrivilegeError(`missing privileges (${priv.detail})`, {
        hint: PRIVILEGE_HINT,
      });
    }
    const bpf = libbpf().symbols;
    const obj = bpf.bpf_object__open_file(cstr(path), null);
    if (obj === null) {
      const errno = lastErrno();
      throw new BpfObjectError(
        "invalid",
        `cannot open BPF object ${path}: ${describeErrno(errno)}`,
        {
          hint: "Is it a BPF ELF object built by 'make build-ebpf'? Rebuild it",
        },
      );
    }
    try {
      return new ProfilerObject(obj, path, ringBytes, source, o);
    } catch (err) {
      bpf.bpf_object__close(obj);
      throw err;
    }
  }

  private constructor(
    obj: Deno.PointerObject,
    path: string,
    ringBytes: number,
    source: EventSource,
    o: LoadOptions,
  ) {
    const bpf = libbpf().symbols;
    const src = EVENT_SOURCES[source];
    this.#obj = obj;
    this.path = path;
    this.ringBytes = ringBytes;
    const rebuild =
      "Was it built from this version of ebpf/ (make build-ebpf)?";
    const map = (name: string) => {
      const m = bpf.bpf_object__find_map_by_name(obj, cstr(name));
      if (m === null) {
        throw new BpfObjectError(
          "invalid",
          `BPF object ${path} has no map "${name}"`,
          { hint: rebuild },
        );
      }
      return m;
    };
    // Every map we read or write must have the layout we read or write it
    // with, checked before anything touches it.
    const maps = new Map<string, Deno.PointerObject>();
    const problems: string[] = [];
    for (const want of mapLayouts(source)) {
      const m = map(want.name);
      maps.set(want.name, m);
      problems.push(...mapLayoutProblems(m, want));
    }
    if (problems.length > 0) {
      throw new BpfObjectError(
        "layout",
        `BPF object ${path} does not match this library: ${
          problems.join("; ")
        }`,
        { hint: rebuild },
      );
    }
    const prog = bpf.bpf_object__find_program_by_name(obj, cstr(src.program));
    if (prog === null) {
      throw new BpfObjectError(
        "invalid",
        `BPF object ${path} has no program "${src.program}"`,
        { hint: rebuild },
      );
    }
    this.program = prog;
    checkRc(
      bpf.bpf_map__set_max_entries(maps.get(BPF_NAMES.ringbuf)!, ringBytes),
      "sizing the ring buffer",
    );
    this.collectStacks = source === "profiler" && o.collectStacks !== false;
    this.#writeConfig(maps.get(src.rodata)!, o);

    const probe = bpf.libbpf_probe_bpf_map_type(BPF_MAP_TYPE.RINGBUF, null);
    if (probe < 0) {
      throw new SysError(
        "probing the kernel for BPF ring buffer support",
        -probe,
        -probe === 1 || -probe === 13 ? PRIVILEGE_HINT : undefined,
      );
    }
    if (probe !== 1) {
      throw new KernelFeatureError(
        "ringbuf",
        `this kernel (${Deno.osRelease()}) has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF needs Linux 5.8 or newer)`,
        { hint: "run 'cli.ts doctor' for details" },
      );
    }
    const rc = bpf.bpf_object__load(obj);
    if (rc < 0) {
      const errno = -rc;
      if (errno === 1 || errno === 13) {
        throw new PrivilegeError(
          `loading BPF object ${path}: ${describeErrno(errno)}`,
          { hint: PRIVILEGE_HINT },
        );
      }
      throw new BpfObjectError(
        "rejected",
        `loading BPF object ${path}: ${describeErrno(errno)}`,
        { hint: loadHint(errno) },
      );
    }
    this.ringFd = checkRc(
      bpf.bpf_map__fd(maps.get(BPF_NAMES.ringbuf)!),
      "ring buffer map fd",
    );
    this.countersFd = checkRc(
      bpf.bpf_map__fd(maps.get(BPF_NAMES.counters)!),
      "counters map fd",
    );
    this.#possibleCpus = checkRc(
      bpf.libbpf_num_possible_cpus(),
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
    const cfg = new DataView(
      Deno.UnsafePointerView.getArrayBuffer(p, CONFIG_SIZE),
    );
    cfg.setUint32(CONFIG_OFFSETS.targetPid, o.targetPid ?? 0, true);
    cfg.setUint32(CONFIG_OFFSETS.targetTid, o.targetTid ?? 0, true);
    cfg.setUint32(CONFIG_OFFSETS.skipIdle, o.skipIdle === false ? 0 : 1, true);
    cfg.setUint32(
      CONFIG_OFFSETS.collectStacks,
      this.collectStacks ? 1 : 0,
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
        ? -lastErrno()
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
