/**
 * A plain TypeScript reference decoder, for tests and benchmarks only.
 *
 * It is written for obviousness, not speed, with a DataView and no shared
 * code with the WASM parser, so that the two can check each other: every
 * test input is decoded by both and must agree.
 *
 * @example
 * ```ts
 * import { referenceEncodeRecords, referenceWalk } from "./reference_decoder.ts";
 * const bytes = referenceEncodeRecords([{ timestampNs: 5n, pid: 1, tid: 2,
 *   userStackId: -1, kernelStackId: 0, cpu: 0, flags: 0 }]);
 * console.log(referenceWalk(bytes).events[0].pid); // 1
 * ```
 * @module
 */
import {
  BUSY_BIT,
  DISCARD_BIT,
  EVENT_OFFSETS as O,
  EVENT_SIZE,
  RECORD_HEADER_SIZE,
  RECORD_SIZE,
} from "./layout.ts";
import type { ProfileEvent } from "./profile_event.ts";
import type { CpuBatchStats, StopReason, WalkStats } from "./walk_stats.ts";

const MAX_CPUS = 1024;

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

/** State a stream carries from batch to batch: last timestamp per CPU. */
export type ReferenceStreamState = Map<number, bigint>;

/**
 * Walks a record stream the way the kernel lays it out and returns every
 * decoded event with the batch statistics. `state` carries per-CPU last
 * timestamps across batches (pass the same map to continue a stream).
 */
export function referenceWalk(
  bytes: Uint8Array,
  state: ReferenceStreamState = new Map(),
  batchCapacity = Infinity,
): { events: ProfileEvent[]; stats: WalkStats } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: ProfileEvent[] = [];
  const perCpu = new Map<number, CpuBatchStats>();
  let discarded = 0, shortRecords = 0, longRecords = 0, pastEnd = 0;
  let outOfOrder = 0, badCpu = 0;
  let stop: StopReason = "end";
  let off = 0;
  while (bytes.byteLength - off >= RECORD_HEADER_SIZE) {
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
    } else if (len < EVENT_SIZE) {
      shortRecords++;
    } else if (len > EVENT_SIZE) {
      longRecords++;
    } else {
      if (events.length >= batchCapacity) {
        stop = "batch-full";
        break;
      }
      const e = referenceDecodeEvent(view, off + RECORD_HEADER_SIZE);
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
      events.push(e);
    }
    off += total;
  }
  if (stop === "end" && off !== bytes.byteLength) {
    // 1-7 bytes left: the data ends inside a header.
    pastEnd++;
    stop = "past-end";
  }
  return {
    events,
    stats: {
      events: events.length,
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
    },
  };
}
