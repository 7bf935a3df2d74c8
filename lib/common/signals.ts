/**
 * Sleeping, and the orderly stop that every long-running command makes on
 * SIGINT (Ctrl-C), SIGTERM, SIGHUP (terminal closed) and SIGQUIT alike.
 *
 * The listeners are installed once, on first use, and stay for the life of
 * the process. That is deliberate: a command reports after its work stops,
 * and a second Ctrl-C (or a burst of them) during that report must not kill
 * the process with the default action (exit 130) after the verdict was
 * printed. Once installed, every later stop signal is only counted; the
 * command that is running sees the first one through its AbortSignal, ends
 * its work early, and still reports and exits with the code its verdict
 * gives. (SIGKILL cannot be caught: children that must not outlive us watch
 * for our death themselves, see lib/profiler/busy_load.ts.)
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { sleep } from "./signals.ts";
 * const t0 = performance.now();
 * await sleep(5);
 * assert.ok(performance.now() - t0 >= 4);
 * ```
 * @module
 */

/** The signals that stop a command in order. */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

/** One of {@link STOP_SIGNALS}. */
export type StopSignal = typeof STOP_SIGNALS[number];

/**
 * Resolves after `ms`, or at once when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { sleep } from "./signals.ts";
 * const ac = new AbortController();
 * ac.abort();
 * const t0 = performance.now();
 * await sleep(10_000, ac.signal);
 * assert.ok(performance.now() - t0 < 1000);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The process-wide stop request, made by the first stop signal. */
export interface Interrupt {
  /** Aborts at the first stop signal. */
  readonly signal: AbortSignal;
  /** Whether a stop signal has arrived. */
  interrupted(): boolean;
  /** The first stop signal's name, if any. */
  signalName(): StopSignal | undefined;
  /** Stop signals received so far (later ones are ignored). */
  count(): number;
}

let controller: AbortController | undefined;
let first: StopSignal | undefined;
let received = 0;

/**
 * The process's stop request: installs the listeners for
 * {@link STOP_SIGNALS} on first call (they stay installed, see the module
 * comment) and returns the shared interrupt. `trigger` lets a test or a
 * caller request the same orderly stop without a signal.
 *
 * @example
 * ```ts ignore
 * // ignored: installing real signal listeners would keep the doc test's
 * // process from ending on Ctrl-C.
 * const interrupt = interruptSignal();
 * while (!interrupt.interrupted()) await sleep(100, interrupt.signal);
 * ```
 */
export function interruptSignal(): Interrupt {
  if (controller === undefined) {
    controller = new AbortController();
    for (const s of STOP_SIGNALS) {
      Deno.addSignalListener(s, () => requestStop(s));
    }
  }
  const ac = controller;
  return {
    signal: ac.signal,
    interrupted: () => ac.signal.aborted,
    signalName: () => first,
    count: () => received,
  };
}

/**
 * Requests the orderly stop as if `name` had arrived (used by the signal
 * listeners, and by tests).
 */
export function requestStop(name: StopSignal): void {
  received++;
  if (first === undefined) first = name;
  controller ??= new AbortController();
  controller.abort();
}
