/**
 * Test support: whether the `go tool pprof` checks run here, decided and
 * said once per test file. Outside CI a machine without Go skips them with
 * a visible line; in CI (CI=true) they run, and a missing Go fails them.
 *
 * @module
 */
import { inCI } from "../symbols/fixture_process.ts";
import { goUnavailable } from "./go_pprof.ts";

/** What {@link goPprofGate} decided. */
export interface GoPprofGate {
  /** Why Go cannot run here, or null if it can. */
  missing: string | null;
  /** Leave the go tool pprof checks out (Go missing, not in CI). */
  skip: boolean;
}

/**
 * Finds out whether Go runs here and, if it does not, prints what that
 * means for `what` (the checks of the calling file): skipped, or in CI,
 * failing.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { goPprofGate } from "./go_pprof_gate.ts";
 * const gate = await goPprofGate("the example's go tool pprof check");
 * assert.equal(gate.skip, gate.missing !== null && Deno.env.get("CI") !== "true");
 * ```
 */
export async function goPprofGate(what: string): Promise<GoPprofGate> {
  const missing = await goUnavailable();
  if (missing !== null) {
    console.error(
      inCI
        ? `CI=true and Go is missing: ${what} will FAIL: ${missing}`
        : `SKIPPING ${what} (not in CI): ${missing}`,
    );
  }
  return { missing, skip: missing !== null && !inCI };
}
