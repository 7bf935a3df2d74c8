/**
 * When to poll the ring next: pure functions of what the last poll saw, so
 * the policy is tested as a table (poll_policy_test.ts) and the C consumer's
 * twin (harness-c, `adaptive_delay_ms`) can be held to the same rules.
 *
 * Timer polling costs less CPU than a wake-up per event (FIELD-NOTES:
 * libbpf's per-event wake-ups cost 12-17% of a core at 10 kHz on 2 CPUs),
 * and each Deno timer wake-up costs ~70 us of process CPU (measured), so we
 * sleep between polls as long as the ring allows:
 * - after a poll that consumed data, until the ring should be about an
 *   eighth full at the measured rate (at once after a burst of more);
 * - after an empty poll, a little longer each time (1, 2, 4 ... ms), so a
 *   quiet ring costs few wake-ups but a burst that starts is met within
 *   the last wait, never the whole maximum;
 * - after a poll that stopped at a record still being written, 1 ms;
 * never longer than the maximum interval ({@link maxPollInterval}).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { nextPollDelay } from "./poll_policy.ts";
 * // 1 MiB consumed in 10 ms of an 8 MiB ring: an eighth fills in 10 ms.
 * assert.equal(nextPollDelay({ consumed: 1 << 20, elapsedMs: 10,
 *   ringBytes: 8 << 20, pending: 0, lastDelayMs: 5, maxMs: 100 }), 0);
 * assert.equal(nextPollDelay({ consumed: 0, elapsedMs: 4,
 *   ringBytes: 8 << 20, pending: 0, lastDelayMs: 4, maxMs: 100 }), 8);
 * ```
 * @module
 */
import { perfMaxSampleRate } from "../bpf/perf_event.ts";
import type { SamplingOptions } from "../bpf/perf_event.ts";
import type { LoadOptions } from "../bpf/profiler_object.ts";
import {
  RECORD_HEADER_SIZE,
  RECORD_MAX,
  RECORD_SIZE,
} from "../parser/layout.ts";

// Bounds and the record the policy reads: alike elf_file.ts's only in shape.
/** The longest the reader may sleep, in ms, when nothing bounds the rate. */
export const STRESS_MAX_POLL_MS = 10;
/** The longest it may sleep for CPU sampling: a live view stays fresh. */
export const SAMPLING_MAX_POLL_MS = 100;

/** What the last poll saw. */
export interface PollOutcome {
  /** Bytes the poll consumed. */
  consumed: number;
  /** ms since the poll before it. */
  elapsedMs: number;
  /** Ring data size in bytes. */
  ringBytes: number;
  /** Bytes produced but not consumed (a record still being written). */
  pending: number;
  /** The delay chosen last time, ms. */
  lastDelayMs: number;
  /** The cap, ms (see {@link maxPollInterval}). */
  maxMs: number;
}

/** ms to wait before the next poll. */
export function nextPollDelay(p: PollOutcome): number {
  const eighth = p.ringBytes / 8;
  if (p.consumed >= eighth) return 0;
  if (p.consumed > 0) {
    const fillMs = eighth / (p.consumed / Math.max(p.elapsedMs, 0.001));
    return Math.max(1, Math.min(p.maxMs, fillMs));
  }
  if (p.pending > 0) return 1;
  return Math.min(p.maxMs, Math.max(1, p.lastDelayMs * 2));
}

/**
 * The default cap on the wait between polls. For CPU sampling the worst
 * case is known up front: at most one record per sample per CPU, each at
 * most a full record with two full stacks, and the kernel caps the sample
 * rate at kernel.perf_event_max_sample_rate. The cap is the time that rate
 * takes to fill a quarter of the ring, at most 100 ms. The stress source
 * has no such bound (it is as fast as a process can make system calls), so
 * it gets 10 ms: an 8 MiB ring holds 10 ms of 20M events/s.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { maxPollInterval } from "./poll_policy.ts";
 * assert.equal(maxPollInterval({ source: "stress" }, 2, 8 << 20), 10);
 * assert.equal(maxPollInterval({ frequency: 99 }, 2, 8 << 20, 100_000), 100);
 * ```
 */
export function maxPollInterval(
  o: LoadOptions & SamplingOptions,
  cpus: number,
  ringBytes: number,
  kernelMax = perfMaxSampleRate() ?? 100_000,
): number {
  if (o.source === "stress") return STRESS_MAX_POLL_MS;
  const ms = ringBytes / 4 / worstBytesPerMs(o, cpus, kernelMax);
  return Math.max(1, Math.min(SAMPLING_MAX_POLL_MS, ms));
}

/**
 * Bytes per ms CPU sampling writes at most: at most one record per sample
 * per CPU, each at most a full record with two full stacks, and the kernel
 * caps the sample rate at kernel.perf_event_max_sample_rate.
 */
function worstBytesPerMs(
  o: LoadOptions & SamplingOptions,
  cpus: number,
  kernelMax: number,
): number {
  let perCpu = kernelMax;
  if (o.period === undefined) perCpu = Math.min(o.frequency ?? 99, kernelMax);
  else if (!o.hardwareEvents) perCpu = Math.min(1e9 / o.period, kernelMax);
  // The worst case: every sample with two full stacks.
  const record = o.collectStacks === false
    ? RECORD_SIZE
    : RECORD_HEADER_SIZE + RECORD_MAX;
  return (perCpu * cpus * record) / 1000;
}

/** The ring `profile` picks by itself at most (--ring-bytes chooses more). */
export const AUTO_RING_MAX_BYTES = 64 << 20;

/**
 * The ring size for CPU sampling when none is given: 8 MiB, or, where the
 * worst case (see {@link maxPollInterval}) would fill a quarter of that in
 * less than the longest poll interval, the smallest power of two whose
 * quarter holds one interval of it (at most 64 MiB). Then the reader sleeps
 * the full interval between polls: each wake-up of the Deno runtime costs
 * CPU whatever the ring holds (0.3-1 ms of a core on the 2-vCPU test
 * machine, measured), and at 10 kHz on 2 CPUs a 16 MiB ring takes 10 polls
 * a second where 8 MiB took 20 (100 walks in 10 s, not 196): a 10 s profile
 * under load used 294 ms of CPU, not 379 (medians of 5 alternating runs).
 * The ring is kernel memory and, as it is read through, resident in the
 * process: the price.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { autoRingBytes } from "./poll_policy.ts";
 * assert.equal(autoRingBytes({ frequency: 99 }, 2, 100_000), 8 << 20);
 * assert.equal(autoRingBytes({ frequency: 10_000 }, 2, 100_000), 16 << 20);
 * assert.equal(autoRingBytes({ frequency: 10_000 }, 256, 100_000), 64 << 20);
 * ```
 */
export function autoRingBytes(
  o: LoadOptions & SamplingOptions,
  cpus: number,
  kernelMax = perfMaxSampleRate() ?? 100_000,
): number {
  const want = 4 * SAMPLING_MAX_POLL_MS * worstBytesPerMs(o, cpus, kernelMax);
  let bytes = 8 << 20;
  while (bytes < want && bytes < AUTO_RING_MAX_BYTES) bytes *= 2;
  return bytes;
}
