/**
 * A load generator that keeps CPUs busy, so that CPU-clock sampling has
 * something to sample: one `sh` busy loop per CPU, in its own process so it
 * never counts as the consumer's CPU time. Uses only a POSIX shell, so it
 * runs the same on the host and inside busybox-based VM guests.
 *
 * The loops must never outlive us, whatever ends us: an orderly stop kills
 * them, but SIGKILL, a crash or a closed terminal leave no `finally` to run.
 * So each loop watches its parent itself: every 10,000 iterations (about
 * 20 ms of CPU here; 0.19 s for 100,000 was measured, too slow on a loaded
 * machine) it checks that the process that started it still exists
 * (`kill -0`, a shell builtin) and exits when it does not. (PR_SET_PDEATHSIG
 * would need a helper binary in every guest, and it fires when the parent
 * *thread* ends, which in a runtime with a thread pool is not the process.)
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { startBusyLoad } from "./busy_load.ts";
 * const load = startBusyLoad(1);
 * assert.equal(load.pids.length, 1);
 * await load.stop();
 * ```
 * @module
 */
import { EnvironmentError } from "../common/errors.ts";

/** Running busy loops. */
export interface BusyLoad {
  /** Process ids of the loops. */
  readonly pids: number[];
  /** Kills every loop and waits for them to exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The loop: spin, and every 10,000 turns exit if the parent (whose pid the
 * shell saw at start) is gone.
 */
export const BUSY_LOOP_SCRIPT =
  'p=$PPID; i=0; while :; do i=$((i+1)); if [ "$i" -ge 10000 ]; then kill -0 "$p" 2>/dev/null || exit 0; i=0; fi; done';

/**
 * Runs `command` (argv) under a shell that watches its own parent (this
 * process) every 0.1 s and kills the command when the parent is gone or
 * when the command ends: for loads that are programs, not shell loops.
 */
export function watchedCommand(argv: string[]): string[] {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return [
    "sh",
    "-c",
    `p=$PPID; ${quoted} & c=$!; trap 'kill -9 $c 2>/dev/null; exit 0' TERM INT HUP; while kill -0 "$p" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 0.1; done; kill -9 "$c" 2>/dev/null; wait "$c" 2>/dev/null; exit 0`,
  ];
}

/** Starts `count` busy loops. */
export function startBusyLoad(count: number): BusyLoad {
  const children: Deno.ChildProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      children.push(
        new Deno.Command("sh", {
          args: ["-c", BUSY_LOOP_SCRIPT],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
  } catch (err) {
    for (const c of children) c.kill("SIGKILL");
    // The machine cannot give us a process (EMFILE, EAGAIN): the
    // environment, not a bug.
    throw new EnvironmentError(
      `cannot start the busy-loop load generator: ${(err as Error).message}`,
      {
        cause: err,
        hint:
          "the process is out of file descriptors or processes: raise the limits (ulimit -n, ulimit -u)",
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
