/**
 * One profile run: sample for a while, then resolve every stack. What the
 * `profile` command runs, and what a test or another tool can run in-process.
 *
 * Names and symbols are captured the first time a process is seen (after
 * the walk of the ring that met it), so a process that exits mid-profile
 * is still named and symbolized; symbolization itself happens once, at
 * the end, per distinct stack.
 *
 * @example
 * ```ts ignore
 * // ignored: needs root and the BPF object (tests/kernel/profile_test.ts runs it).
 * const run = await runProfile({ durationMs: 2000, frequency: 999 });
 * console.log(run.profile.totalSamples, run.report.reconciliation.line);
 * ```
 * @module
 */
import {
  describeEnvironment,
  type EnvironmentInfo,
} from "../common/environment.ts";
import { sleep } from "../common/signals.ts";
import type { SamplingOptions } from "../bpf/perf_event.ts";
import { ProfilerSession, type SessionReport } from "../profiler/session.ts";
import { Symbolizer } from "../symbols/mod.ts";
import type { ResolvedProfile } from "./model.ts";
import { ProcessNames } from "./process_names.ts";
import { resolveProfile } from "./resolve.ts";

/** What to profile and how. */
export interface ProfileRunOptions extends SamplingOptions {
  /** How long to sample, in ms. */
  durationMs: number;
  /** Only this process. */
  targetPid?: number;
  /** Only this thread. */
  targetTid?: number;
  /** Ring buffer bytes. */
  ringBytes?: number;
  /** Collect stacks (default true). */
  collectStacks?: boolean;
  /** Source lines and inlined frames. */
  lines?: boolean;
  /** Keep every sample in time order (for speedscope). */
  timeline?: boolean;
  /** Ends the run early (Ctrl-C). */
  signal?: AbortSignal;
  /** Called about twice a second while sampling. */
  onStatus?: (s: ProfileStatus) => void;
  /**
   * Sleep in the kernel between polls, turning the event loop only every
   * 250 ms (see ProfilerSession.consumeFor): less CPU, but anything else on
   * the event loop (a server, say) waits that long. Default false.
   */
  blockingWaits?: boolean;
  /** Folder of the BPF object. */
  bpfDir?: string;
  /**
   * Called with the raw record bytes of every consumed span (a view into
   * the ring: copy what you keep), e.g. to forward them to a live view.
   */
  onSpan?: (records: Uint8Array) => void;
  /**
   * Called once sampling has started, with what a live view needs while
   * the run goes on: the session (counters, consumed totals), the
   * symbolizer that observed every process at first sight, and the
   * process names.
   */
  onStarted?: (live: LiveRun) => void;
}

/** The parts of a running profile a live view reads (see `onStarted`). */
export interface LiveRun {
  session: ProfilerSession;
  symbolizer: Symbolizer;
  names: ProcessNames;
}

// This runner's own options and progress: validate/stability.ts's differ.
/** Progress while sampling. */
export interface ProfileStatus {
  elapsedMs: number;
  events: number;
  drops: number;
}

/** A finished run. */
export interface ProfileRun {
  environment: EnvironmentInfo;
  interrupted: boolean;
  report: SessionReport;
  profile: ResolvedProfile;
  /** ms spent resolving stacks after sampling ended. */
  resolveMs: number;
}

/** Samples, stops (detaching everything), resolves. */
export async function runProfile(o: ProfileRunOptions): Promise<ProfileRun> {
  const environment = describeEnvironment();
  const names = new ProcessNames();
  const sym = new Symbolizer({ lines: o.lines ?? false });
  try {
    names.onNewProcess = (pid) => sym.observe(pid);
    const wallStart = Date.now();
    const session = await ProfilerSession.start({
      frequency: o.frequency,
      period: o.period,
      hardwareEvents: o.hardwareEvents,
      targetPid: o.targetPid,
      targetTid: o.targetTid,
      ringBytes: o.ringBytes,
      collectStacks: o.collectStacks,
      bpfDir: o.bpfDir,
      timeline: o.timeline,
      onWalk: (p) => names.noteNewKeys(p),
      onSpan: o.onSpan,
    });
    o.onStarted?.({ session, symbolizer: sym, names });
    let report: SessionReport;
    try {
      const t0 = performance.now();
      // With no one to tell, one wait for the whole run: every timer
      // wake-up of the runtime costs CPU (0.3-1 ms here, measured), and a
      // status every 500 ms was a tenth of a 10 s profile's wake-ups. With
      // blockingWaits the session's own polls skip the event loop too.
      const step = o.onStatus ? 500 : Infinity;
      while (performance.now() - t0 < o.durationMs && !o.signal?.aborted) {
        const left = Math.min(step, o.durationMs - (performance.now() - t0));
        if (o.blockingWaits) {
          await session.consumeFor(left, { signal: o.signal });
        } else await sleep(left, o.signal);
        o.onStatus?.({
          elapsedMs: performance.now() - t0,
          events: session.reader.totals.events,
          drops: session.counters().reserveFailed,
        });
      }
    } finally {
      report = await session.stop();
    }
    const r0 = performance.now();
    const profile = resolveProfile(report.profile!, sym, names, {
      meta: {
        startTimeNs: wallStart * 1e6,
        durationNs: report.durationMs * 1e6,
        frequencyHz: o.frequency ?? 0,
        cpus: report.cpus.length,
        targetPid: o.targetPid ?? null,
        targetTid: o.targetTid ?? null,
      },
      reconciliation: report.reconciliation,
      timeline: o.timeline,
    });
    return {
      environment,
      interrupted: o.signal?.aborted ?? false,
      report,
      profile,
      resolveMs: performance.now() - r0,
    };
  } finally {
    sym.close();
  }
}
