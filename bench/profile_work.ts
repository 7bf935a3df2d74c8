/**
 * The profile work of bench/deno_consumer.ts beyond consuming and
 * aggregating, done as `runProfile` (lib/profile/run_profile.ts) does it:
 * after each walk, every new process named and captured by the
 * symbolizer while it still runs; after the run, the session's aggregated
 * profile resolved, every distinct stack symbolized once. Resolution is
 * timed on its own: it happens once per run, not per event.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ProfileParser } from "../lib/parser/wasm_parser.ts";
 * import { referenceEncodeSamples } from "../lib/parser/reference_decoder.ts";
 * import { StackProfile } from "../lib/profiler/stack_profile.ts";
 * import { ProfileWork } from "./profile_work.ts";
 * const parser = await ProfileParser.create();
 * parser.walk(referenceEncodeSamples([{
 *   event: { timestampNs: 1n, pid: Deno.pid, tid: Deno.pid, userStackId: 0, kernelStackId: 0, cpu: 0, flags: 0 },
 *   user: -14, kernel: [],
 * }]), { toAggregate: true });
 * const work = new ProfileWork();
 * work.noteNewKeys(parser);
 * const stacks = new StackProfile();
 * stacks.absorb(parser);
 * const r = work.resolve(stacks, { cpus: 1 });
 * work.close();
 * assert.equal(r.samples, 1);
 * assert.equal(r.processes, 1);
 * assert.ok(r.cpu_ns >= 0 && r.frames >= 1);
 * ```
 * @module
 */
import type { ProfileParser } from "../lib/parser/wasm_parser.ts";
import type { ProfileMeta } from "../lib/profile/model.ts";
import { ProcessNames } from "../lib/profile/process_names.ts";
import { resolveProfile } from "../lib/profile/resolve.ts";
import type { Reconciliation } from "../lib/profiler/reconcile.ts";
import type { StackProfile } from "../lib/profiler/stack_profile.ts";
import { Symbolizer } from "../lib/symbols/mod.ts";
import { processCpuNs } from "./e2e/cpu_costs.ts";

/** What resolving cost and gave, as the consumer's JSON "resolve". */
export interface ResolveJson {
  /** CPU of the resolution, every thread (ns). */
  cpu_ns: number;
  wall_ms: number;
  /** Samples in the resolved profile: every consumed event, exactly. */
  samples: number;
  /** Distinct (pid, tid, cpu, stacks) keys. */
  keys: number;
  frames: number;
  fully_symbolized_samples: number;
  /** Processes named and captured after each walk. */
  processes: number;
}

/** The names and symbols of one run, and its resolution at the end. */
export class ProfileWork {
  readonly names = new ProcessNames();
  readonly symbolizer = new Symbolizer();

  constructor() {
    // Captured at first sight, as runProfile does: a process that exits
    // before the end is still symbolized from what it ran.
    this.names.onNewProcess = (pid) => this.symbolizer.observe(pid);
  }

  /** A RingReader onWalk: notes the process and thread of every new key. */
  noteNewKeys = (p: ProfileParser): void => this.names.noteNewKeys(p);

  /** Resolves `stacks` (the session's profile), timing it. */
  resolve(
    stacks: StackProfile,
    meta: Partial<ProfileMeta>,
    reconciliation?: Reconciliation,
  ): ResolveJson {
    const cpu0 = processCpuNs();
    const t0 = performance.now();
    const p = resolveProfile(stacks, this.symbolizer, this.names, {
      meta,
      reconciliation,
    });
    return {
      cpu_ns: processCpuNs() - cpu0,
      wall_ms: Number((performance.now() - t0).toFixed(3)),
      samples: p.totalSamples,
      keys: p.samples.length,
      frames: p.frames.length,
      fully_symbolized_samples: p.symbolization.fullySymbolizedSamples,
      processes: this.names.processCount,
    };
  }

  /** Releases the symbolizer's files. */
  close(): void {
    this.symbolizer.close();
  }
}
