/**
 * The errors every command speaks in, and the exit code each one means.
 *
 * A command decides its exit code by the *type* of what it caught, never by
 * matching message text: a usage mistake is a {@link UsageError} (exit 2),
 * anything the machine lacks (privileges, a kernel feature, a BPF object that
 * is missing or that the kernel rejects) is an {@link EnvironmentError} or one
 * of its subclasses (exit 3). Anything else is a bug in streamprof: it is
 * printed with its stack trace and exits {@link ExitCode.BUG} (70, BSD's
 * EX_SOFTWARE), so a user can tell "fix your machine" from "report this".
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { BpfObjectError, ExitCode, exitCodeFor, UsageError } from "./errors.ts";
 * assert.equal(exitCodeFor(new UsageError("bad --freq")), ExitCode.USAGE);
 * assert.equal(exitCodeFor(new BpfObjectError("not-found", "no object")), ExitCode.ENVIRONMENT);
 * assert.equal(exitCodeFor(new TypeError("oops")), ExitCode.BUG);
 * ```
 * @module
 */

/** Exit codes with a meaning, shared by every command and tool. */
export const ExitCode = {
  /** Everything passed. */
  OK: 0,
  /** The run completed (or was interrupted) but failed its checks. */
  FAILED: 1,
  /** Bad command line: nothing was started. */
  USAGE: 2,
  /** The environment cannot run it: privileges, kernel, missing object. */
  ENVIRONMENT: 3,
  /** An unexpected error: a bug in streamprof (stack trace printed). */
  BUG: 70,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/**
 * A command-line mistake: printed with a usage hint, exit code 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { UsageError } from "./errors.ts";
 * assert.equal(new UsageError("--freq must be positive").name, "UsageError");
 * ```
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The machine cannot run what was asked (exit code 3). Subclasses say which
 * part is missing; `hint` says what to do about it.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { EnvironmentError } from "./errors.ts";
 * const e = new EnvironmentError("no BTF", { hint: "use a kernel with BTF" });
 * assert.equal(e.message, "no BTF. use a kernel with BTF");
 * ```
 */
export class EnvironmentError extends Error {
  /** What to do about it, when there is something to do. */
  readonly hint?: string;
  constructor(message: string, o: { hint?: string; cause?: unknown } = {}) {
    super(o.hint ? `${message}. ${o.hint}` : message, { cause: o.cause });
    this.name = "EnvironmentError";
    this.hint = o.hint;
  }
}

/**
 * The process lacks the capabilities it needs (CAP_BPF, CAP_PERFMON...).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { EnvironmentError, PrivilegeError } from "./errors.ts";
 * assert.ok(new PrivilegeError("no CAP_BPF") instanceof EnvironmentError);
 * ```
 */
export class PrivilegeError extends EnvironmentError {
  constructor(message: string, o: { hint?: string; cause?: unknown } = {}) {
    super(message, o);
    this.name = "PrivilegeError";
  }
}

/**
 * The kernel lacks a feature: the BPF ring buffer, a PMU, BTF, a sample rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { KernelFeatureError } from "./errors.ts";
 * const e = new KernelFeatureError("ringbuf", "no BPF ring buffer");
 * assert.equal(e.feature, "ringbuf");
 * ```
 */
export class KernelFeatureError extends EnvironmentError {
  /** A short name of the missing feature ("ringbuf", "pmu", "sample-rate"). */
  readonly feature: string;
  constructor(
    feature: string,
    message: string,
    o: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, o);
    this.name = "KernelFeatureError";
    this.feature = feature;
  }
}

/** Why a BPF object cannot be used. */
export type BpfObjectProblem =
  /** No file at the path. */
  | "not-found"
  /** Not a BPF ELF object, or one without the maps/programs we need. */
  | "invalid"
  /** A map does not have the layout this library expects. */
  | "layout"
  /** The kernel (its verifier) refused to load it. */
  | "rejected";

/**
 * A BPF object that is missing, not ours, of another layout, or rejected.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { BpfObjectError } from "./errors.ts";
 * assert.equal(new BpfObjectError("layout", "counters: 96 != 80").problem, "layout");
 * ```
 */
export class BpfObjectError extends EnvironmentError {
  // Built like KernelFeatureError (a tag beside the message): TS class shape only.
  /** Which of the problems it is. */
  readonly problem: BpfObjectProblem;
  constructor(
    problem: BpfObjectProblem,
    message: string,
    o: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, o);
    this.name = "BpfObjectError";
    this.problem = problem;
  }
}

/** Whether `err` is node:util parseArgs' complaint about the command line. */
function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/** Whether `err` is a mistake on the command line (ours or parseArgs'). */
export function isUsageError(err: unknown): boolean {
  return err instanceof UsageError || isParseArgsError(err);
}

/**
 * The exit code an error means: 2 usage, 3 environment, 70 anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { EnvironmentError, exitCodeFor } from "./errors.ts";
 * assert.equal(exitCodeFor(new EnvironmentError("no root")), 3);
 * ```
 */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (isUsageError(err)) return ExitCode.USAGE;
  if (err instanceof EnvironmentError) return ExitCode.ENVIRONMENT;
  return ExitCode.BUG;
}
