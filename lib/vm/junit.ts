/**
 * JUnit XML for `test:vm`: one test case per VM (pass/fail with the reason,
 * console tail as system-out), plus the guests' own JUnit suites
 * (`validate.xml`) carried over with the VM name in front of their names.
 *
 * @module
 */
import {
  type JUnitCase,
  junitDocument,
  junitSuite,
  xmlEscape,
} from "../report/junit.ts";

/** One VM (or host) run, as JUnit sees it. */
export interface JUnitRun {
  vm: string;
  arch: string;
  kernel: string;
  pass: boolean;
  reason: string;
  timeSeconds: number;
  /** Console tail or command output, for failures. */
  output?: string;
  /** Content of the guest's own JUnit file, if it wrote one. */
  guestXml?: string;
}

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

/**
 * The whole JUnit document: suite `streamprof-vm` with a case per run, then
 * the guests' suites.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vmJUnit } from "./junit.ts";
 * const xml = vmJUnit([{ vm: "default", arch: "arm64", kernel: "6.12", pass: true, reason: "ok", timeSeconds: 9 }]);
 * assert.ok(xml.includes('tests="1" failures="0"'));
 * ```
 */
export function vmJUnit(runs: JUnitRun[]): string {
  const cases: JUnitCase[] = runs.map((r) => ({
    name: `${r.vm} (${r.arch} / ${r.kernel})`,
    classname: `streamprof-vm.${r.vm}`,
    timeSeconds: r.timeSeconds,
    failure: r.pass ? undefined : r.reason,
    systemOut: r.pass ? undefined : r.output,
  }));
  const guest = runs.flatMap((r) =>
    r.guestXml ? guestSuites(r.guestXml, r.vm) : []
  );
  return junitDocument([
    junitSuite("streamprof-vm", cases),
    ...guest.map((s) => "  " + s),
  ]);
}
