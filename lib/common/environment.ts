/**
 * A description of the machine a run happened on, for every report.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { describeEnvironment } from "./environment.ts";
 * const env = describeEnvironment();
 * assert.equal(env.label, `${env.arch} / ${env.kernel.split("-")[0]}`);
 * ```
 * @module
 */
import { onlineCpus } from "./cpus.ts";

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
