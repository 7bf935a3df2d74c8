/**
 * Test support for the tests that profile the fixture program for real,
 * with BPF: the export formats test and the browser tests. What each of
 * them did by hand (skip or fail without BPF, start the fixture, profile it,
 * stop it whatever happens) is said once here.
 *
 * It holds no tests of its own (and is not named *_test.ts): a module that
 * registered tests would run them again in every test file importing it.
 *
 * @module
 */
import {
  type ProfileRun,
  type ProfileRunOptions,
  runProfile,
} from "../lib/profile/run_profile.ts";
import { startBuiltFixture } from "../lib/symbols/fixture_test_helpers.ts";
import { assertBpf, bpfIgnore } from "./kernel/require_bpf.ts";

/**
 * Registers a test that loads BPF. Outside CI it is ignored where BPF is
 * unavailable (or where `ignore` says so, e.g. no browser); in CI it runs
 * and fails with the reason. The sanitizers are off: the fixture process,
 * the ring buffer and the perf events outlive the ops Deno would otherwise
 * ask the test to have finished.
 *
 * @example
 * ```ts ignore
 * // ignore: registers a test that loads BPF; see tests/export/formats_test.ts.
 * bpfTest("formats: ...", async () => {
 *   const run = await profileHotspots(["--seconds", "10"], {
 *     durationMs: 1500,
 *     frequency: 999,
 *   });
 *   assert.ok(run.report.reconciliation.ok);
 * });
 * ```
 */
export function bpfTest(
  name: string,
  fn: () => Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: bpfIgnore || (options.ignore ?? false),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      assertBpf();
      await fn();
    },
  });
}

/**
 * Starts the hotspots fixture with `fixtureArgs` (which must keep it running
 * for longer than the profile takes), profiles that process with `options`,
 * and stops the fixture, whether the run succeeded or threw.
 *
 * @example
 * ```ts ignore
 * // ignore: loads BPF and starts a real process; the tests call it.
 * const run = await profileHotspots(["--seconds", "15"], {
 *   durationMs: 3000,
 *   frequency: 999,
 * });
 * ```
 */
export async function profileHotspots(
  fixtureArgs: string[],
  options: Omit<ProfileRunOptions, "targetPid">,
): Promise<ProfileRun> {
  const fixture = await startBuiltFixture(["hotspots", ...fixtureArgs]);
  try {
    return await runProfile({ ...options, targetPid: fixture.pid });
  } finally {
    await fixture.stop();
  }
}
