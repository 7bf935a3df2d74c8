/**
 * The guests' own JUnit suites (`validate.xml`, `kernel-tests.xml`),
 * carried into `test:vm`'s document (suite_report.ts) with the VM's name in
 * front of theirs.
 *
 * @module
 */
import { xmlEscape } from "../report/junit.ts";

/**
 * The `<testsuite>` elements of a JUnit document, each with `prefix: `
 * put in front of its `name` attribute.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { guestSuites } from "./junit.ts";
 * assert.deepEqual(
 *   guestSuites('<testsuites><testsuite name="validate" tests="1"></testsuite></testsuites>', "default"),
 *   ['<testsuite name="default: validate" tests="1"></testsuite>'],
 * );
 * ```
 */
export function guestSuites(xml: string, prefix: string): string[] {
  const suites = xml.match(
    /<testsuite\b[^>]*\/>|<testsuite\b[^>]*>[\s\S]*?<\/testsuite>/g,
  ) ?? [];
  return suites.map((s) =>
    s.replace(
      /^<testsuite\b([^>]*?)\bname="([^"]*)"/,
      (_m, pre, name) => `<testsuite${pre}name="${xmlEscape(prefix)}: ${name}"`,
    )
  );
}
