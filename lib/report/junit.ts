/**
 * JUnit XML for CI systems: one suite, one test case per check.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { junitXml } from "./junit.ts";
 * const xml = junitXml("validate", [{ name: "1 kHz: no drops", timeSeconds: 10 }]);
 * assert.ok(xml.includes('failures="0"'));
 * ```
 * @module
 */

/** One test case; `failure` set means it failed. */
export interface JUnitCase {
  name: string;
  classname?: string;
  timeSeconds?: number;
  /** Failure message; absent for a pass. */
  failure?: string;
  /** Skip reason; absent unless skipped. */
  skipped?: string;
  /** Extra output. */
  systemOut?: string;
}

/** Escapes text for XML attributes and content. */
export function xmlEscape(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) =>
      ({
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        '"': "&quot;",
        "'": "&apos;",
      })[c]!,
    // XML 1.0 forbids these control characters even escaped.
    // deno-lint-ignore no-control-regex
  ).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "");
}

/** Renders one `<testsuite>` element (indented for a document). */
export function junitSuite(suite: string, cases: JUnitCase[]): string {
  const failures = cases.filter((c) => c.failure !== undefined).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const time = cases.reduce((t, c) => t + (c.timeSeconds ?? 0), 0);
  const body = cases.map((c) => {
    const attrs = `name="${xmlEscape(c.name)}" classname="${
      xmlEscape(c.classname ?? suite)
    }" time="${(c.timeSeconds ?? 0).toFixed(3)}"`;
    const inner = [
      c.failure !== undefined
        ? `<failure message="${xmlEscape(c.failure)}">${
          xmlEscape(c.failure)
        }</failure>`
        : "",
      c.skipped !== undefined
        ? `<skipped message="${xmlEscape(c.skipped)}"/>`
        : "",
      c.systemOut ? `<system-out>${xmlEscape(c.systemOut)}</system-out>` : "",
    ].join("");
    return inner
      ? `    <testcase ${attrs}>${inner}</testcase>`
      : `    <testcase ${attrs}/>`;
  });
  return [
    `  <testsuite name="${
      xmlEscape(suite)
    }" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${
      time.toFixed(3)
    }">`,
    ...body,
    `  </testsuite>`,
  ].join("\n");
}

/** Wraps `<testsuite>` elements in a JUnit document. */
export function junitDocument(suites: string[]): string {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites>`,
    ...suites,
    `</testsuites>`,
    "",
  ].join("\n");
}

/** Renders one suite as a whole JUnit XML document. */
export function junitXml(suite: string, cases: JUnitCase[]): string {
  return junitDocument([junitSuite(suite, cases)]);
}
