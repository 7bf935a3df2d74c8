/**
 * JUnit XML for `test:vm`: one test case per VM (pass/fail with the reason,
 * console tail as system-out), plus the guests' own JUnit suites
 * (`validate.xml`) carried over with the VM name in front of their names.
 *
 * @module
 */

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
 * Escapes text for XML content and attributes (and drops characters XML 1.0
 * forbids).
 *
 * @example
 * ```ts
 * xmlEscape('a<b & "c"'); // "a&lt;b &amp; &quot;c&quot;"
 * ```
 */
export function xmlEscape(s: string): string {
  return s
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * The `<testsuite>` elements of a JUnit document, each with `prefix: `
 * put in front of its `name` attribute.
 *
 * @example
 * ```ts
 * guestSuites('<testsuites><testsuite name="validate" tests="1"></testsuite></testsuites>', "default");
 * // ['<testsuite name="default: validate" tests="1"></testsuite>']
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
 * const xml = vmJUnit([{ vm: "default", arch: "arm64", kernel: "6.12", pass: true, reason: "ok", timeSeconds: 9 }]);
 * xml.includes('tests="1" failures="0"'); // true
 * ```
 */
export function vmJUnit(runs: JUnitRun[]): string {
  const failures = runs.filter((r) => !r.pass).length;
  const time = runs.reduce((t, r) => t + r.timeSeconds, 0);
  const cases = runs.map((r) => {
    const name = xmlEscape(`${r.vm} (${r.arch} / ${r.kernel})`);
    const attrs = `name="${name}" classname="streamprof-vm.${
      xmlEscape(r.vm)
    }" time="${r.timeSeconds.toFixed(3)}"`;
    if (r.pass) return `    <testcase ${attrs}/>`;
    return `    <testcase ${attrs}>\n      <failure message="${
      xmlEscape(r.reason)
    }">${xmlEscape(r.reason)}</failure>${
      r.output ? `\n      <system-out>${xmlEscape(r.output)}</system-out>` : ""
    }\n    </testcase>`;
  });
  const guest = runs.flatMap((r) =>
    r.guestXml ? guestSuites(r.guestXml, r.vm) : []
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<testsuites>",
    `  <testsuite name="streamprof-vm" tests="${runs.length}" failures="${failures}" errors="0" skipped="0" time="${
      time.toFixed(3)
    }">`,
    ...cases,
    "  </testsuite>",
    ...guest.map((s) => "  " + s),
    "</testsuites>",
    "",
  ].join("\n");
}
