/**
 * A load generator that keeps CPUs busy, so that CPU-clock sampling has
 * something to sample: one `sh` busy loop per CPU, in its own process so it
 * never counts as the consumer's CPU time. Uses only a POSIX shell, so it
 * runs the same on the host and inside busybox-based VM guests.
 *
 * @example
 * ```ts ignore
 * const load = startBusyLoad(2);
 * await new Promise((r) => setTimeout(r, 1000));
 * await load.stop();
 * ```
 * @module
 */

/** Running busy loops. */
export interface BusyLoad {
  /** Process ids of the loops. */
  readonly pids: number[];
  /** Kills every loop and waits for them to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `count` busy loops. */
export function startBusyLoad(count: number): BusyLoad {
  const children: Deno.ChildProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      children.push(
        new Deno.Command("sh", {
          args: ["-c", "while :; do :; done"],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
  } catch (err) {
    for (const c of children) c.kill("SIGKILL");
    throw new Error(
      `cannot start the busy-loop load generator: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let stopped: Promise<void> | null = null;
  return {
    pids: children.map((c) => c.pid),
    stop() {
      stopped ??= (async () => {
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch { /* already gone */ }
        }
        await Promise.all(children.map((c) => c.status));
      })();
      return stopped;
    },
  };
}
