/**
 * Delivering spooled intervals: oldest first, one at a time, at least once.
 *
 * A push that fails is retried with exponential backoff and full jitter
 * (a random wait between 0 and min(cap, base x 2^attempt)), so agents that
 * lost the same server do not all come back at once. A push that takes
 * longer than the attempt timeout is abandoned and retried. Only a refusal
 * that no retry can change (HTTP 400 malformed, 413 too large, and 422 when
 * it says the interval is outside the server's ingestion window) ends an
 * interval's delivery after `rejectAfter` attempts; it is then counted as
 * rejected, never silently lost. Everything else (connection refused, 5xx,
 * 429, timeouts, and Pyroscope's 422 "empty ring" while it starts) is
 * retried until it succeeds or the spool's bound drops the interval.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { backoffMs } from "./delivery.ts";
 * // Full jitter: anywhere from 0 to the capped exponential.
 * assert.ok(backoffMs(3, { baseMs: 100, capMs: 1000 }, () => 0.5) === 400);
 * assert.ok(backoffMs(10, { baseMs: 100, capMs: 1000 }, () => 0.999) < 1000);
 * ```
 * @module
 */
import type { IntervalMeta, Spool, SpoolEntry } from "./spool.ts";

/** Pushes one interval; throws on failure (an HTTP error carries `status`). */
export type Push = (
  meta: IntervalMeta,
  body: Uint8Array,
  signal: AbortSignal,
) => Promise<void>;

/**
 * How many samples of each interval the server holds now (in the order
 * given): the read-back of the end-to-end acknowledgement, for many
 * intervals in one go (a server can acknowledge a push and lose it:
 * Pyroscope 1.12 can lose what it acknowledged just before a SIGTERM).
 */
export type Confirm = (
  metas: IntervalMeta[],
  signal: AbortSignal,
) => Promise<number[]>;

/** Retry policy. */
export interface RetryPolicy {
  /** First backoff step, ms (default 500). */
  baseMs?: number;
  /** Longest wait between attempts, ms (default 30 s). */
  capMs?: number;
  /** An attempt that takes longer is abandoned, ms (default 10 s). */
  attemptTimeoutMs?: number;
  /** Attempts after which a permanent refusal is given up (default 3). */
  rejectAfter?: number;
  /** After an acknowledgement, wait this long before reading back, ms (default 1 s). */
  confirmDelayMs?: number;
  /** Read-backs that miss it before it is pushed again (default 3). */
  confirmChecks?: number;
}

/** The wait before attempt `attempt` (1 = the first retry). */
export function backoffMs(
  attempt: number,
  p: Pick<RetryPolicy, "baseMs" | "capMs">,
  random: () => number = Math.random,
): number {
  const base = p.baseMs ?? 500;
  const cap = p.capMs ?? 30_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Whether a failed push can never succeed. Pyroscope answers 422 both for
 * an interval outside its ingestion window (never accepted) and for "empty
 * ring" while it is still starting (accepted a moment later): only the
 * body tells them apart.
 */
export function isPermanentRefusal(
  status: number | undefined,
  body: string,
): boolean {
  if (status === 400 || status === 413) return true;
  return status === 422 && /outside of (the )?ingestion window/i.test(body);
}

/** Exact counts of what delivery did. */
export interface DeliveryCounters {
  /** Intervals acknowledged by the server. */
  pushed: number;
  /** Intervals the server was then seen to hold (with a Confirm). */
  confirmed: number;
  /** Acknowledged intervals the server did not hold, pushed again. */
  repushed: number;
  /** Attempts that failed and were retried. */
  retried: number;
  /** Intervals given up after permanent refusals. */
  rejected: number;
  /** Attempts abandoned for taking too long. */
  timeouts: number;
  /** Sum and count of the latency of successful pushes, ms. */
  latencySumMs: number;
  latencyCount: number;
  /** The last failure, for logs. */
  lastError?: string;
}

/**
 * Counters of a delivery that has done nothing yet: where a Deliverer
 * starts, and what an agent without one reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { noDeliveries } from "./delivery.ts";
 * const c = noDeliveries();
 * assert.equal(c.pushed + c.retried + c.latencyCount, 0);
 * assert.equal(c.lastError, undefined);
 * ```
 */
export function noDeliveries(): DeliveryCounters {
  return {
    pushed: 0,
    confirmed: 0,
    repushed: 0,
    retried: 0,
    rejected: 0,
    timeouts: 0,
    latencySumMs: 0,
    latencyCount: 0,
  };
}

/** Runs delivery in the background until stopped. */
export class Deliverer {
  readonly #spool: Spool;
  readonly #push: Push;
  readonly #policy: RetryPolicy;
  readonly #wakeup = new EventTarget();
  #stopping = false;
  #loop: Promise<void> | null = null;
  readonly #abort = new AbortController();
  /** Exact counters. */
  readonly counters: DeliveryCounters = noDeliveries();
  /** Called after each attempt and read-back (for logs). */
  onAttempt?: (entry: SpoolEntry, error?: string, outcome?: string) => void;

  readonly #confirm?: Confirm;

  constructor(
    spool: Spool,
    push: Push,
    policy: RetryPolicy = {},
    confirm?: Confirm,
  ) {
    this.#spool = spool;
    this.#push = push;
    this.#policy = policy;
    this.#confirm = confirm;
  }

  /** Starts the loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Tells the loop a new interval is queued. */
  notify(): void {
    this.#wakeup.dispatchEvent(new Event("wake"));
  }

  /** Resolves when woken or after `ms`, whichever first (or at stop). */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#wakeup.removeEventListener("wake", done);
        this.#abort.signal.removeEventListener("abort", done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#wakeup.addEventListener("wake", done, { once: true });
      this.#abort.signal.addEventListener("abort", done, { once: true });
    });
  }

  async #run(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      await this.#spool.spill();
      await this.#confirmAcknowledged();
      const next = await this.#spool.next();
      if (!next) {
        const waiting = this.#spool.acknowledged().length;
        if (this.#stopping && waiting === 0) return;
        await this.#wait(waiting ? this.#policy.confirmDelayMs ?? 1000 : 1000);
        continue;
      }
      const ok = await this.#attempt(next.entry, next.body);
      if (!ok && !this.#abort.signal.aborted) {
        await this.#wait(
          Math.max(1, backoffMs(next.entry.attempts, this.#policy)),
        );
      }
    }
  }

  /**
   * Reads back the intervals the server acknowledged a while ago: those it
   * holds leave the spool; one it still does not hold after a few looks is
   * pushed again (a repeated push of an interval it does hold is harmless:
   * Pyroscope keeps the first of two profiles of one series and time).
   */
  async #confirmAcknowledged(): Promise<void> {
    const confirm = this.#confirm;
    if (!confirm) return;
    const delay = this.#policy.confirmDelayMs ?? 1000;
    const due = this.#spool.acknowledged().filter((e) =>
      performance.now() - e.pushedAt! >= delay
    );
    if (due.length === 0) return;
    let held: number[];
    try {
      held = await confirm(
        due.map((e) => e.meta),
        AbortSignal.any([
          AbortSignal.timeout(this.#policy.attemptTimeoutMs ?? 10_000),
          this.#abort.signal,
        ]),
      );
    } catch (err) {
      this.counters.lastError = `read-back: ${(err as Error).message}`;
      return; // the server is away: try again later
    }
    for (let i = 0; i < due.length; i++) {
      const e = due[i];
      if (held[i] >= e.meta.samples) {
        this.counters.confirmed++;
        await this.#spool.remove(e);
        this.onAttempt?.(e, undefined, "confirmed");
        continue;
      }
      e.confirmChecks = (e.confirmChecks ?? 0) + 1;
      e.pushedAt = performance.now();
      if (e.confirmChecks >= (this.#policy.confirmChecks ?? 3)) {
        e.pushedAt = undefined;
        e.confirmChecks = 0;
        this.counters.repushed++;
        this.onAttempt?.(
          e,
          `the server holds ${
            held[i]
          } of ${e.meta.samples} samples: pushing it again`,
        );
      }
    }
  }

  /** One push of `entry`; true when it left the spool. */
  async #attempt(entry: SpoolEntry, body: Uint8Array): Promise<boolean> {
    entry.attempts++;
    const timeout = AbortSignal.timeout(
      this.#policy.attemptTimeoutMs ?? 10_000,
    );
    const signal = AbortSignal.any([timeout, this.#abort.signal]);
    const t0 = performance.now();
    try {
      await this.#push(entry.meta, body, signal);
      this.counters.pushed++;
      this.counters.latencySumMs += performance.now() - t0;
      this.counters.latencyCount++;
      // With a read-back it stays until the server is seen to hold it.
      if (this.#confirm) entry.pushedAt = performance.now();
      else await this.#spool.remove(entry);
      this.onAttempt?.(entry, undefined, "acknowledged");
      return true;
    } catch (err) {
      const status = (err as { status?: number }).status;
      const message = (err as Error).message ?? String(err);
      this.counters.lastError = message;
      if (timeout.aborted) this.counters.timeouts++;
      if (
        isPermanentRefusal(status, message) &&
        entry.attempts >= (this.#policy.rejectAfter ?? 3)
      ) {
        this.counters.rejected++;
        await this.#spool.remove(entry);
        this.onAttempt?.(entry, `rejected: ${message}`);
        return true;
      }
      this.counters.retried++;
      this.onAttempt?.(entry, message);
      return false;
    }
  }

  /**
   * Stops: keeps delivering until the spool is empty or `deadlineMs` has
   * passed, then abandons the attempt in flight. What is left stays in the
   * spool (the caller spills it to disk).
   */
  async stop(deadlineMs: number): Promise<void> {
    this.#stopping = true;
    this.notify();
    const loop = this.#loop ?? Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, deadlineMs);
    });
    await Promise.race([loop, deadline]);
    clearTimeout(timer);
    this.#abort.abort();
    await loop;
  }
}
