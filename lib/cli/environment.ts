/**
 * A description of the machine a run happened on, for every report.
 *
 * @example
 * ```ts
 * import { describeEnvironment } from "./environment.ts";
 * console.log(describeEnvironment().label); // e.g. "x86_64 / 6.18.44"
 * ```
 * @module
 */
import { onlineCpus } from "../bpf/perf_event.ts";

/** Where a run happened. */
export interface EnvironmentInfo {
  /** "x86_64" or "aarch64". */
  arch: string;
  /** Kernel release (uname -r). */
  kernel: string;
  hostname: string;
  onlineCpus: number;
  /** Short label for table columns. */
  label: string;
}

/** Describes this machine. */
export function describeEnvironment(): EnvironmentInfo {
  const arch = Deno.build.arch;
  const kernel = Deno.osRelease();
  let cpus = navigator.hardwareConcurrency;
  try {
    cpus = onlineCpus().length;
  } catch { /* keep hardwareConcurrency */ }
  return {
    arch,
    kernel,
    hostname: Deno.hostname(),
    onlineCpus: cpus,
    label: `${arch} / ${kernel.split("-")[0]}`,
  };
}
