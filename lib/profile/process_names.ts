/**
 * The names of the processes and threads a profile saw, read the first time
 * each is seen: a process that lives 200 ms and exits mid-profile still has
 * its name in the report. Reading happens after each walk of the ring, from
 * the aggregation keys the walk added (`noteNewKeys`), so it costs one
 * entry per new key, and a key of a thread seen recently costs one
 * typed-array load and a comparison (a small direct-mapped table of recent
 * tids), not two Map lookups.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProcessNames } from "./process_names.ts";
 * const names = new ProcessNames();
 * names.note(Deno.pid, Deno.pid);
 * assert.ok(names.comm(Deno.pid).length > 0);
 * assert.equal(names.comm(2 ** 30), `[pid ${2 ** 30}]`);
 * ```
 * @module
 */
import type { ProfileParser } from "../parser/wasm_parser.ts";

function readComm(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

/** Names of processes (by pid) and threads (by tid), read at first sight. */
export class ProcessNames {
  readonly #procs = new Map<number, string | undefined>();
  readonly #threads = new Map<number, string | undefined>();
  readonly #procRoot: string;
  /** Recently seen tids, at slot tid & 255 (-1: empty). */
  readonly #recent = new Int32Array(256).fill(-1);
  /** Aggregation entries noted since the parser's tables were last cut. */
  #keysNoted = 0;
  /** The parser's tableCuts when they were. */
  #cutsSeen = -1;
  /** Called once per new process (e.g. to let the symbolizer capture it). */
  onNewProcess?: (pid: number) => void;

  constructor(procRoot = "/proc") {
    this.#procRoot = procRoot;
  }

  /** Notes a sample of (pid, tid): reads their names if new. */
  note(pid: number, tid: number): void {
    const slot = tid & 255;
    if (this.#recent[slot] === tid) return;
    this.#recent[slot] = tid;
    if (!this.#threads.has(tid)) {
      this.#threads.set(
        tid,
        readComm(`${this.#procRoot}/${pid}/task/${tid}/comm`),
      );
    }
    if (!this.#procs.has(pid)) {
      this.#procs.set(pid, readComm(`${this.#procRoot}/${pid}/comm`));
      this.onNewProcess?.(pid);
    }
  }

  /**
   * Notes the process and thread of every aggregation key the parser's
   * last walk added (a RingReader onWalk): a walk meets a new process or
   * thread only in a new key, so this reads one entry per key, not one
   * event per sample (a 10 s profile at 10 kHz on 2 CPUs: ~2,400 keys for
   * 200,000 events; the batch path took 48-57 ms of wall time under load,
   * this one 29-37, most of it now observing the new processes), and the
   * parser need not copy events into its batch area at all. Cuts of the
   * tables are seen by `tableCuts`: after one, every entry is new.
   */
  noteNewKeys(parser: ProfileParser): void {
    const n = parser.aggregateCount;
    let from = this.#keysNoted;
    if (parser.tableCuts !== this.#cutsSeen || n < from) from = 0;
    for (let i = from; i < n; i++) {
      this.note(parser.aggregatePid(i), parser.aggregateTid(i));
    }
    this.#keysNoted = n;
    this.#cutsSeen = parser.tableCuts;
  }

  /** The process's name, or `[pid N]` if it could not be read. */
  comm(pid: number): string {
    return this.#procs.get(pid) ?? `[pid ${pid}]`;
  }

  /** The thread's name, else its process's name, else `[tid N]`. */
  thread(tid: number, pid?: number): string {
    return this.#threads.get(tid) ??
      (pid !== undefined ? this.#procs.get(pid) : undefined) ??
      `[tid ${tid}]`;
  }

  /** Processes seen. */
  get processCount(): number {
    return this.#procs.size;
  }

  /**
   * Forgets every process and thread not in `pids` (a long-running agent
   * keeps only those of recent intervals, so churn does not grow it).
   * Returns the pids forgotten.
   */
  retainOnly(pids: ReadonlySet<number>, tids?: ReadonlySet<number>): number[] {
    const gone: number[] = [];
    for (const pid of this.#procs.keys()) {
      if (!pids.has(pid)) {
        this.#procs.delete(pid);
        gone.push(pid);
      }
    }
    if (tids) {
      for (const tid of this.#threads.keys()) {
        if (!tids.has(tid)) this.#threads.delete(tid);
      }
    }
    this.#recent.fill(-1);
    this.#keysNoted = 0; // the tables' keys are noted again at the next walk
    return gone;
  }
}
