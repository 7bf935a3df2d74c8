/**
 * Reads what the guest's `/init` reported on the console
 * (`@@streamprof <key> <value>` lines) and decides pass or fail: QEMU exits
 * 0 whatever the guest did, so the verdict comes from these lines only.
 *
 * @module
 */
import { MARK } from "./initramfs.ts";

/** What the guest reported. */
export interface GuestReport {
  /** Guest uptime (s) when `/init` started. */
  bootToInit?: number;
  unameR?: string;
  unameM?: string;
  nproc?: number;
  /** Guest uptime (s) when the guest command started / ended. */
  start?: number;
  end?: number;
  exitCode?: number;
  /** Kernel log tail printed after a failed command. */
  dmesg: string[];
  warnings: string[];
  fatal: string[];
  /** First kernel panic / oops / BUG line seen. */
  panic?: string;
  /** `/init` reached its last line. */
  done: boolean;
  /** Other marks, key → value (e.g. `smoke`). */
  extra: Record<string, string>;
}

/** The marks that carry a number, and the report field each one sets. */
const NUMBER_MARKS = new Map<
  string,
  "bootToInit" | "nproc" | "start" | "end" | "exitCode"
>([
  ["boot-to-init", "bootToInit"],
  ["nproc", "nproc"],
  ["start", "start"],
  ["end", "end"],
  ["exit", "exitCode"],
]);

/** The marks that carry text, and the report field each one sets. */
const TEXT_MARKS = new Map<string, "unameR" | "unameM">([
  ["uname-r", "unameR"],
  ["uname-m", "unameM"],
]);

const PANIC_RE =
  /Kernel panic|Oops[:\s]|BUG: |Unable to handle kernel|Internal error:|general protection fault|Attempted to kill init/;

/**
 * Folds console lines into a {@link GuestReport}. Works on a partial console
 * (after a timeout) as well.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConsole } from "./guest_report.ts";
 * const r = parseConsole(["@@streamprof uname-m aarch64", "@@streamprof exit 0", "@@streamprof done"]);
 * assert.equal(r.unameM, "aarch64");
 * assert.equal(r.exitCode, 0);
 * assert.equal(r.done, true);
 * ```
 */
export function parseConsole(lines: Iterable<string>): GuestReport {
  const r: GuestReport = {
    dmesg: [],
    warnings: [],
    fatal: [],
    done: false,
    extra: {},
  };
  let inDmesg = false;
  for (const raw of lines) {
    const line = raw.replace(/\r$/, "");
    const at = line.indexOf(MARK + " ");
    if (at < 0) {
      if (inDmesg) r.dmesg.push(line);
      if (!r.panic && PANIC_RE.test(line)) {
        r.panic = line.replace(/^\[\s*[\d.]+\]\s*/, "").trim();
      }
      continue;
    }
    const rest = line.slice(at + MARK.length + 1).trim();
    const sp = rest.indexOf(" ");
    const key = sp < 0 ? rest : rest.slice(0, sp);
    const value = sp < 0 ? "" : rest.slice(sp + 1).trim();
    const numberField = NUMBER_MARKS.get(key);
    if (numberField) {
      r[numberField] = Number(value);
      continue;
    }
    const textField = TEXT_MARKS.get(key);
    if (textField) {
      r[textField] = value;
      continue;
    }
    switch (key) {
      case "dmesg-begin":
        inDmesg = true;
        break;
      case "dmesg-end":
        inDmesg = false;
        break;
      case "warn":
        r.warnings.push(value);
        break;
      case "fatal":
        r.fatal.push(value);
        break;
      case "done":
        r.done = true;
        break;
      default:
        r.extra[key] = value;
    }
  }
  return r;
}

/** How the QEMU process ended. */
export interface QemuOutcome {
  /** Killed by us after this many seconds without the guest finishing. */
  timedOut?: { seconds: number; stage: string };
  /** Stopped by Ctrl-C / SIGTERM. */
  interrupted?: boolean;
  /** QEMU's own exit code (0 even when the guest failed). */
  code: number | null;
  /** QEMU's stderr, when it wrote any. */
  stderr?: string;
}

/** Pass or fail, with the reason. */
export interface Verdict {
  pass: boolean;
  reason: string;
}

/**
 * Decides pass/fail from the guest's report and how QEMU ended.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConsole, verdict } from "./guest_report.ts";
 * assert.deepEqual(
 *   verdict(parseConsole(["@@streamprof boot-to-init 1.2", "@@streamprof exit 0", "@@streamprof done"]), { code: 0 }),
 *   { pass: true, reason: "guest command exited 0" },
 * );
 * ```
 */
export function verdict(r: GuestReport, q: QemuOutcome): Verdict {
  const fail = (reason: string) => ({ pass: false, reason });
  const panic = r.panic ? ` (${r.panic})` : "";
  if (q.interrupted) return fail("interrupted");
  if (q.timedOut) {
    return fail(
      `timeout after ${q.timedOut.seconds} s while ${q.timedOut.stage}${panic}`,
    );
  }
  if (r.bootToInit === undefined) {
    const qemuErr = q.stderr?.trim().split("\n").pop();
    return fail(
      r.panic
        ? `kernel failed before init: ${r.panic}`
        : `guest never reached init${
          q.code
            ? ` (QEMU exited ${q.code}${qemuErr ? `: ${qemuErr}` : ""})`
            : ""
        }`,
    );
  }
  if (r.fatal.length) return fail(`guest setup failed: ${r.fatal.join("; ")}`);
  if (r.exitCode === undefined) {
    return fail(`guest stopped before the command finished${panic}`);
  }
  if (r.exitCode !== 0) return fail(`guest command exited ${r.exitCode}`);
  if (!r.done) return fail(`guest stopped before finishing${panic}`);
  return { pass: true, reason: "guest command exited 0" };
}

/**
 * The stage a guest was in, for timeout messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConsole, stageOf } from "./guest_report.ts";
 * assert.equal(stageOf(parseConsole([])), "booting the kernel");
 * ```
 */
export function stageOf(r: GuestReport): string {
  if (r.bootToInit === undefined) return "booting the kernel";
  if (r.start === undefined) return "setting up the guest (modules, 9p mounts)";
  if (r.exitCode === undefined) return "running the guest command";
  return "shutting down";
}
