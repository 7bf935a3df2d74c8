/**
 * A resolved profile as pprof's protobuf (google/pprof `profile.proto`),
 * gzipped, for `go tool pprof`, Pyroscope, Parca and every tool that reads
 * pprof.
 *
 * - Sample types `samples/count` and `cpu/nanoseconds` (the count times the
 *   sampling period, 1e9 / frequency, rounded to whole ns), `period_type`
 *   `cpu/nanoseconds`, `time_nanos` and `duration_nanos` from the run.
 * - One Location per distinct frame (address, mapping), leaf first in every
 *   sample as pprof wants it; with `--lines` each Location's lines list the
 *   inlined functions innermost first and the function they were inlined
 *   into last, as profile.proto specifies.
 * - Mappings as the processes had them (file, start, limit, offset, build
 *   id). Kernel frames get one mapping per kernel image or module, named
 *   as perf names them (`[kernel.kallsyms]`, `[ext4]`), covering the
 *   addresses seen. JIT frames keep their anonymous mapping's range but
 *   name the perf map they were resolved from.
 * - Labels on every sample: `pid` and `tid` (numbers), `cpu`, `comm` and
 *   `thread` (strings). The CPU is a string because profile.proto cannot
 *   tell a number label of 0 without a unit from no label (`go tool pprof`
 *   drops it), and CPU 0 is the most common value; a sampled task's pid
 *   and tid are never 0 (the idle task is not sent).
 * - A stack the kernel could not give is its own synthetic frame
 *   (`[user stack lost: fault]`, ...) with no mapping, so the samples add
 *   up to the true sample count.
 * - Comments carry the reconciliation and stack-accounting lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { decodePprof, encodePprof, pprofStacks } from "./pprof.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const bytes = await encodePprof(exampleProfile());
 * assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b]); // gzip
 * const p = await decodePprof(bytes);
 * assert.deepEqual(pprofStacks(p), new Map([
 *   ["app;main;work;spin", 3],
 *   ["app;main;work;write;ksys_write_[k]", 1],
 * ]));
 * ```
 * @module
 */
import {
  Function as PprofFunction,
  Label,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "pprof-format";
import type { ProfileFrame, ResolvedProfile } from "../profile/model.ts";

/** Addresses from here up are kernel addresses (x86_64 and arm64). */
export const KERNEL_ADDRESS_START = 1n << 63n;

/**
 * The sampling period in whole ns: 1e9 / frequency, rounded; 0 when the
 * frequency is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { samplingPeriodNs } from "./pprof.ts";
 * assert.equal(samplingPeriodNs(99), 10101010);
 * assert.equal(samplingPeriodNs(1000), 1000000);
 * assert.equal(samplingPeriodNs(0), 0);
 * ```
 */
export function samplingPeriodNs(frequencyHz: number): number {
  return frequencyHz > 0 ? Math.round(1e9 / frequencyHz) : 0;
}

/**
 * A wall-clock time in ns as an exact int64. The model keeps it as a
 * number (ms since the epoch x 1e6), which above 2^53 is off by up to 128
 * ns; a time within 1 µs of a whole ms is that ms exactly.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { exactNanos } from "./pprof.ts";
 * assert.equal(exactNanos(1764594000123 * 1e6), 1764594000123000000n);
 * ```
 */
export function exactNanos(ns: number): bigint {
  const ms = Math.round(ns / 1e6);
  return Math.abs(ns - ms * 1e6) < 1000
    ? BigInt(ms) * 1_000_000n
    : BigInt(Math.round(ns));
}

/** Whether every frame of the profile was resolved with source lines. */
function hasLines(p: ResolvedProfile): boolean {
  return p.frames.some((f) => f.line !== undefined || f.inlined !== undefined);
}

/**
 * The profile as a pprof-format `Profile` (not yet encoded).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { toPprof } from "./pprof.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const p = toPprof(exampleProfile());
 * const s = (i: number | bigint) => p.stringTable.strings[Number(i)];
 * assert.deepEqual(p.sampleType.map((t) => `${s(t.type)}/${s(t.unit)}`),
 *   ["samples/count", "cpu/nanoseconds"]);
 * assert.equal(p.period, 10101010);
 * assert.deepEqual(p.sample.map((x) => x.value), [[3, 30303030], [1, 10101010]]);
 * ```
 */
export function toPprof(p: ResolvedProfile): Profile {
  const st = new StringTable();
  const str = (s: string) => st.dedup(s);
  const period = samplingPeriodNs(p.meta.frequencyHz);
  const lines = hasLines(p);

  // Mappings: the model's (user and JIT), then one per kernel module.
  const mappings: Mapping[] = [];
  const mappingFor = new Map<string, number>();
  const addMapping = (
    key: string,
    m: {
      start: bigint;
      limit: bigint;
      offset: bigint;
      file: string;
      buildId?: string;
    },
  ): number => {
    let id = mappingFor.get(key);
    if (id !== undefined) return id;
    id = mappings.length + 1;
    mappings.push(
      new Mapping({
        id,
        memoryStart: m.start,
        memoryLimit: m.limit,
        fileOffset: m.offset,
        filename: str(m.file),
        buildId: m.buildId ? str(m.buildId) : 0,
        hasFunctions: true,
        hasFilenames: lines,
        hasLineNumbers: lines,
        hasInlineFrames: lines,
      }),
    );
    mappingFor.set(key, id);
    return id;
  };
  // The range of kernel addresses seen, per module.
  const kernelRanges = new Map<string, { start: bigint; limit: bigint }>();
  for (const f of p.frames) {
    if (f.kind !== "kernel" || f.address === undefined) continue;
    const r = kernelRanges.get(f.module);
    if (!r) {
      kernelRanges.set(f.module, { start: f.address, limit: f.address + 1n });
    } else {
      if (f.address < r.start) r.start = f.address;
      if (f.address + 1n > r.limit) r.limit = f.address + 1n;
    }
  }
  const mappingOf = (f: ProfileFrame): number => {
    if (f.kind === "kernel") {
      const r = kernelRanges.get(f.module);
      if (!r) return 0;
      return addMapping(`k|${f.module}`, { ...r, offset: 0n, file: f.module });
    }
    if (f.mapping === undefined) return 0;
    const m = p.mappings[f.mapping];
    if (f.kind === "jit") {
      return addMapping(`j|${f.mapping}|${f.module}`, { ...m, file: f.module });
    }
    return addMapping(`u|${f.mapping}`, m);
  };

  // Functions: one per (name, source file).
  const functions: PprofFunction[] = [];
  const functionFor = new Map<string, number>();
  const fn = (name: string, file?: string): number => {
    const key = `${name}\0${file ?? ""}`;
    let id = functionFor.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      functions.push(
        new PprofFunction({
          id,
          name: str(name),
          systemName: str(name),
          filename: file ? str(file) : 0,
        }),
      );
      functionFor.set(key, id);
    }
    return id;
  };

  // Locations: one per frame, id = frame index + 1.
  const locations = p.frames.map((f, i) => {
    const ls: Line[] = [];
    for (const inl of f.inlined ?? []) {
      ls.push(
        new Line({ functionId: fn(inl.name, inl.file), line: inl.line ?? 0 }),
      );
    }
    ls.push(new Line({ functionId: fn(f.name, f.file), line: f.line ?? 0 }));
    return new Location({
      id: i + 1,
      mappingId: mappingOf(f),
      address: f.address ?? 0,
      line: ls,
    });
  });

  const keys = {
    pid: str("pid"),
    tid: str("tid"),
    cpu: str("cpu"),
    comm: str("comm"),
    thread: str("thread"),
  };
  const samples = p.samples.map((s) =>
    new Sample({
      locationId: s.stack.map((i) => i + 1),
      value: [s.count, s.count * period],
      label: [
        new Label({ key: keys.pid, num: s.pid }),
        new Label({ key: keys.tid, num: s.tid }),
        new Label({ key: keys.cpu, str: str(String(s.cpu)) }),
        new Label({ key: keys.comm, str: str(s.comm) }),
        new Label({ key: keys.thread, str: str(s.thread) }),
      ],
    })
  );

  const comments = [
    `streamprof profile of ${p.meta.host} (${p.meta.kernel}, ${p.meta.arch}) at ${p.meta.frequencyHz} Hz on ${p.meta.cpus} CPUs: ${p.totalSamples} samples`,
    p.reconciliation.line,
    p.reconciliation.stackLine,
  ].filter((c) => c !== "").map(str);

  const cpu = new ValueType({ type: str("cpu"), unit: str("nanoseconds") });
  return new Profile({
    sampleType: [
      new ValueType({ type: str("samples"), unit: str("count") }),
      cpu,
    ],
    sample: samples,
    mapping: mappings,
    location: locations,
    function: functions,
    stringTable: st,
    // Wall-clock ns since the epoch exceed 2^53: as a float, a time of
    // whole milliseconds can come out a few hundred ns early, and a store
    // that keeps milliseconds (Pyroscope) then files it 1 ms early. The
    // start is a millisecond clock reading: make it exact as an int64.
    timeNanos: BigInt(Math.round(p.meta.startTimeNs / 1e6)) * 1_000_000n,
    durationNanos: Math.round(p.meta.durationNs),
    periodType: cpu,
    period,
    comment: comments,
    defaultSampleType: cpu.type,
  });
}

/** Pipes bytes through a CompressionStream or DecompressionStream. */
async function pipeThrough(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/**
 * The gzipped protobuf `go tool pprof` reads (`--pprof FILE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { encodePprof } from "./pprof.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const bytes = await encodePprof(exampleProfile());
 * assert.equal(bytes[0], 0x1f);
 * ```
 */
export async function encodePprof(p: ResolvedProfile): Promise<Uint8Array> {
  return await pipeThrough(toPprof(p).encode(), new CompressionStream("gzip"));
}

/**
 * Reads a pprof file, gzipped or not.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { decodePprof, encodePprof } from "./pprof.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const p = await decodePprof(await encodePprof(exampleProfile()));
 * assert.equal(p.sample.length, 2);
 * ```
 */
export async function decodePprof(bytes: Uint8Array): Promise<Profile> {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b
    ? await pipeThrough(bytes, new DecompressionStream("gzip"))
    : bytes;
  return Profile.decode(raw);
}

/**
 * A pprof profile back as folded-style stacks, `thread;root;...;leaf` ->
 * samples (the first sample type), for checking that it describes the same
 * samples as the folded and speedscope outputs. Each location stands for
 * the function at its address (the outermost of an inlined chain, as
 * folded stacks name it); kernel addresses get `_[k]`, and locations whose
 * mapping is a perf map get `_[j]`, as folded stacks mark them.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pprofStacks, toPprof } from "./pprof.ts";
 * import { exampleProfile } from "./test_profile.ts";
 * const stacks = pprofStacks(toPprof(exampleProfile()));
 * assert.equal(stacks.get("app;main;work;spin"), 3);
 * ```
 */
export function pprofStacks(p: Profile): Map<string, number> {
  const s = (i: number | bigint) => p.stringTable.strings[Number(i)];
  const fnName = new Map<number, string>();
  for (const f of p.function) fnName.set(Number(f.id), s(f.name));
  const mapFile = new Map<number, string>();
  for (const m of p.mapping) mapFile.set(Number(m.id), s(m.filename));
  const label = new Map<number, string>();
  for (const l of p.location) {
    const outer = l.line[l.line.length - 1];
    let name = outer ? fnName.get(Number(outer.functionId)) ?? "" : "";
    if (BigInt(l.address) >= KERNEL_ADDRESS_START) name += "_[k]";
    else if (/perf-\d+\.map$/.test(mapFile.get(Number(l.mappingId)) ?? "")) {
      name += "_[j]";
    }
    label.set(Number(l.id), name.replaceAll(";", ":"));
  }
  const threadKey = p.stringTable.strings.indexOf("thread");
  const out = new Map<string, number>();
  for (const x of p.sample) {
    const t = x.label.find((l) => Number(l.key) === threadKey);
    const parts = [
      (t ? s(t.str) : "").replaceAll(";", ":").replaceAll(" ", "_"),
    ];
    for (let i = x.locationId.length - 1; i >= 0; i--) {
      parts.push(label.get(Number(x.locationId[i])) ?? "?");
    }
    const key = parts.join(";");
    out.set(key, (out.get(key) ?? 0) + Number(x.value[0]));
  }
  return out;
}
