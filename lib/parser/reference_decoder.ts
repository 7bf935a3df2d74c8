/**
 * A plain TypeScript reference decoder, for tests and benchmarks only.
 *
 * It is written for obviousness, not speed, with a DataView and no shared
 * code with the WASM parser, so that the two can check each other: every
 * test input is decoded by both and must agree.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { referenceEncodeRecords, referenceWalk } from "./reference_decoder.ts";
 * const bytes = referenceEncodeRecords([{ timestampNs: 5n, pid: 1, tid: 2,
 *   userStackId: -1, kernelStackId: 0, cpu: 0, flags: 0 }]);
 * assert.equal(referenceWalk(bytes).events[0].pid, 1);
 * ```
 * @module
 */
import {
  BUSY_BIT,
  DISCARD_BIT,
  EVENT_OFFSETS as O,
  EVENT_SIZE,
  EventFlags,
  MODULE_ABI,
  RECORD_HEADER_SIZE,
  RECORD_SIZE,
  STACK_DEPTH,
} from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import type { CpuBatchStats, StopReason, WalkStats } from "./walk_stats.ts";

const MAX_CPUS = MODULE_ABI.MAX_CPUS;

/** Decodes the 32-byte event at `offset` of `view`. */
export function referenceDecodeEvent(
  view: DataView,
  offset: number,
): ProfileEvent {
  return {
    timestampNs: view.getBigUint64(offset + O.timestampNs, true),
    pid: view.getInt32(offset + O.pid, true),
    tid: view.getInt32(offset + O.tid, true),
    userStackId: view.getInt32(offset + O.userStackId, true),
    kernelStackId: view.getInt32(offset + O.kernelStackId, true),
    cpu: view.getUint32(offset + O.cpu, true),
    flags: view.getUint32(offset + O.flags, true),
  };
}

/** Encodes one event into `view` at `offset`. */
export function referenceEncodeEvent(
  view: DataView,
  offset: number,
  e: ProfileEvent,
): void {
  view.setBigUint64(offset + O.timestampNs, e.timestampNs, true);
  view.setInt32(offset + O.pid, e.pid, true);
  view.setInt32(offset + O.tid, e.tid, true);
  view.setInt32(offset + O.userStackId, e.userStackId, true);
  view.setInt32(offset + O.kernelStackId, e.kernelStackId, true);
  view.setUint32(offset + O.cpu, e.cpu, true);
  view.setUint32(offset + O.flags, e.flags, true);
}

/** Encodes events as committed ring buffer records (40 bytes each). */
export function referenceEncodeRecords(events: ProfileEvent[]): Uint8Array {
  const out = new Uint8Array(events.length * RECORD_SIZE);
  const view = new DataView(out.buffer);
  events.forEach((e, i) => {
    view.setUint32(i * RECORD_SIZE, EVENT_SIZE, true);
    referenceEncodeEvent(view, i * RECORD_SIZE + RECORD_HEADER_SIZE, e);
  });
  return out;
}

/** A sample with its stacks, for {@link referenceEncodeSamples}. */
export interface ReferenceSample {
  /** The event; its stack fields and FRAMES flag are set from the frames. */
  event: ProfileEvent;
  /** User frames (innermost first), or a negative errno for a failed walk. */
  user: bigint[] | number;
  /** Kernel frames, or a negative errno. */
  kernel: bigint[] | number;
}

/**
 * Encodes samples as the profiler's records with frames: the event with
 * PE_FLAG_FRAMES and the frame counts (or errnos) in its stack fields, then
 * the user frames, then the kernel frames.
 */
export function referenceEncodeSamples(samples: ReferenceSample[]): Uint8Array {
  const framesOf = (f: bigint[] | number) => (Array.isArray(f) ? f : []);
  const sizes = samples.map((s) =>
    RECORD_HEADER_SIZE + EVENT_SIZE +
    8 * (framesOf(s.user).length + framesOf(s.kernel).length)
  );
  const out = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
  const view = new DataView(out.buffer);
  let off = 0;
  samples.forEach((s, i) => {
    const u = framesOf(s.user);
    const k = framesOf(s.kernel);
    view.setUint32(off, sizes[i] - RECORD_HEADER_SIZE, true);
    referenceEncodeEvent(view, off + RECORD_HEADER_SIZE, {
      ...s.event,
      userStackId: Array.isArray(s.user) ? u.length : s.user,
      kernelStackId: Array.isArray(s.kernel) ? k.length : s.kernel,
      flags: (s.event.flags | EventFlags.FRAMES) >>> 0,
    });
    let f = off + RECORD_HEADER_SIZE + EVENT_SIZE;
    for (const ip of [...u, ...k]) {
      view.setBigUint64(f, ip, true);
      f += 8;
    }
    off += sizes[i];
  });
  return out;
}

/** State a stream carries from batch to batch: last timestamp per CPU. */
export type ReferenceStreamState = Map<number, bigint>;

/** A decoded event with the frames its record carried (null: none). */
export interface ReferenceDecoded {
  /** The event as on the wire (stack fields: frame counts or errnos). */
  event: ProfileEvent;
  /** User frames, when the record carried a non-empty user stack. */
  user: bigint[] | null;
  /** Kernel frames, when the record carried a non-empty kernel stack. */
  kernel: bigint[] | null;
}

/**
 * Table sizes to model, as the WASM parser's `tables` option: a walk stops
 * ("tables-full") before a record with frames when two new stacks, its
 * frames or one new aggregation key might not fit (the parser checks room
 * up front, whether or not the stacks are new), and, when aggregating,
 * before a plain event while the aggregation table is full.
 */
export interface ReferenceTables {
  stacks: number;
  frames: number;
  aggregates: number;
  /** Whether the walk aggregates. */
  aggregate: boolean;
  /** Stacks, frames and keys held (carried across walks, updated). */
  held?: { stacks: Set<string>; frames: number; keys: Set<string> };
}

/** The identity of a stack: its process (-1 for kernel) and frames. */
export function referenceStackKey(pid: number, frames: bigint[]): string {
  return `${pid}:${frames.join(",")}`;
}

/** What a stack field turns into: its frames' key, or why there are none. */
function stackPart(
  frames: boolean,
  pid: number,
  id: number,
  f: bigint[] | null,
): string {
  if (!frames) return "not-collected";
  if (f !== null) return referenceStackKey(pid, f);
  return id < 0 ? "fault" : "empty";
}

/**
 * The aggregation key of a decoded event, by content: pid, tid, cpu and
 * both stacks (or why they are missing).
 */
export function referenceAggregateKey(d: ReferenceDecoded): string {
  const e = d.event;
  const frames = (e.flags & EventFlags.FRAMES) !== 0;
  return `${e.pid}/${e.tid}/${e.cpu}/${
    stackPart(frames, e.pid, e.userStackId, d.user)
  }/${stackPart(frames, -1, e.kernelStackId, d.kernel)}`;
}

/**
 * Walks a record stream the way the kernel lays it out and returns every
 * decoded event (with the frames of its record) and the batch statistics.
 * `state` carries per-CPU last timestamps across batches (pass the same map
 * to continue a stream); `tables` models the parser's table limits.
 */
export function referenceWalk(
  bytes: Uint8Array,
  state: ReferenceStreamState = new Map(),
  batchCapacity = Infinity,
  tables?: ReferenceTables,
): { events: ProfileEvent[]; decoded: ReferenceDecoded[]; stats: WalkStats } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoded: ReferenceDecoded[] = [];
  const perCpu = new Map<number, CpuBatchStats>();
  let discarded = 0, shortRecords = 0, longRecords = 0, pastEnd = 0;
  let outOfOrder = 0, badCpu = 0, noFrames = 0;
  let userFrames = 0, kernelFrames = 0;
  const userStacks = { resolved: 0, truncated: 0, empty: 0, fault: 0 };
  const kernelStacks = { resolved: 0, truncated: 0, empty: 0, fault: 0 };
  const held = tables
    ? (tables.held ??= { stacks: new Set(), frames: 0, keys: new Set() })
    : undefined;
  let stop: StopReason = "end";
  let off = 0;
  while (bytes.byteLength - off >= RECORD_HEADER_SIZE) {
    // The module's record checks, written again here for the oracle: the
    // tests hold the module to this plain version of them.
    const hdr = view.getUint32(off, true);
    if (hdr & BUSY_BIT) {
      stop = "busy";
      break;
    }
    const len = hdr & ~(BUSY_BIT | DISCARD_BIT) >>> 0;
    const total = Math.ceil((len + RECORD_HEADER_SIZE) / 8) * 8;
    if (total > bytes.byteLength - off) {
      pastEnd++;
      stop = "past-end";
      break;
    }
    if (hdr & DISCARD_BIT) {
      discarded++;
      off += total;
      continue;
    }
    if (len < EVENT_SIZE) {
      shortRecords++;
      off += total;
      continue;
    }
    const at = off + RECORD_HEADER_SIZE;
    const e = referenceDecodeEvent(view, at);
    const frames = (e.flags & EventFlags.FRAMES) !== 0;
    let user: bigint[] | null = null;
    let kernel: bigint[] | null = null;
    if (!frames) {
      if (len !== EVENT_SIZE) {
        longRecords++;
        off += total;
        continue;
      }
      if (decoded.length >= batchCapacity) {
        stop = "batch-full";
        break;
      }
      if (held && tables!.aggregate && held.keys.size >= tables!.aggregates) {
        stop = "tables-full";
        break;
      }
    } else {
      const nu = Math.max(e.userStackId, 0);
      const nk = Math.max(e.kernelStackId, 0);
      if (nu > STACK_DEPTH || nk > STACK_DEPTH) {
        longRecords++;
        off += total;
        continue;
      }
      const want = EVENT_SIZE + 8 * (nu + nk);
      if (len !== want) {
        if (len < want) shortRecords++;
        else longRecords++;
        off += total;
        continue;
      }
      if (decoded.length >= batchCapacity) {
        stop = "batch-full";
        break;
      }
      if (
        held && (held.stacks.size + 2 > tables!.stacks ||
          held.frames + nu + nk > tables!.frames ||
          held.keys.size + 1 > tables!.aggregates)
      ) {
        stop = "tables-full";
        break;
      }
      const read = (from: number, n: number) =>
        Array.from(
          { length: n },
          (_, i) => view.getBigUint64(at + EVENT_SIZE + 8 * (from + i), true),
        );
      const classify = (
        id: number,
        n: number,
        truncatedFlag: number,
        o: typeof userStacks,
      ) => {
        if (id < 0) o.fault++;
        else if (n === 0) o.empty++;
        else if (e.flags & truncatedFlag) o.truncated++;
        else o.resolved++;
      };
      classify(e.userStackId, nu, EventFlags.USER_TRUNCATED, userStacks);
      classify(e.kernelStackId, nk, EventFlags.KERNEL_TRUNCATED, kernelStacks);
      if (nu > 0) user = read(0, nu);
      if (nk > 0) kernel = read(nu, nk);
      userFrames += nu;
      kernelFrames += nk;
      if (held) {
        for (const [pid, f] of [[e.pid, user], [-1, kernel]] as const) {
          if (f === null) continue;
          const k = referenceStackKey(pid, f);
          if (!held.stacks.has(k)) {
            held.stacks.add(k);
            held.frames += f.length;
          }
        }
      }
    }
    if (!frames) noFrames++;
    const d = { event: e, user, kernel };
    if (held && tables!.aggregate) held.keys.add(referenceAggregateKey(d));
    if (e.cpu < MAX_CPUS) {
      const s = perCpu.get(e.cpu) ?? { events: 0, outOfOrder: 0 };
      s.events++;
      if (e.timestampNs < (state.get(e.cpu) ?? 0n)) {
        s.outOfOrder++;
        outOfOrder++;
      }
      state.set(e.cpu, e.timestampNs);
      perCpu.set(e.cpu, s);
    } else {
      badCpu++;
    }
    decoded.push(d);
    off += total;
  }
  if (stop === "end" && off !== bytes.byteLength) {
    // 1-7 bytes left: the data ends inside a header.
    pastEnd++;
    stop = "past-end";
  }
  return {
    events: decoded.map((d) => d.event),
    decoded,
    stats: {
      events: decoded.length,
      discarded,
      malformed: shortRecords + longRecords + pastEnd,
      shortRecords,
      longRecords,
      pastEnd,
      stop,
      consumed: off,
      outOfOrder,
      badCpu,
      perCpu,
      noFrames,
      userStacks,
      kernelStacks,
      userFrames,
      kernelFrames,
    },
  };
}
