/**
 * The errors of the VM runner, each a kind of {@link EnvironmentError}
 * (exit 3, "this machine cannot run it"): `test:vm` turns them into a
 * "cannot run" column and goes on with the next VM. Anything else that is
 * thrown is a bug (exit 70 with its stack trace, see lib/common/command.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EnvironmentError, exitCodeFor } from "../common/errors.ts";
 * import { CommandError, MissingToolError } from "./errors.ts";
 * const e = new CommandError("dpkg-deb", ["-x", "a.deb"], 2, "not a Debian archive");
 * assert.ok(e instanceof EnvironmentError);
 * assert.equal(exitCodeFor(e), 3);
 * assert.match(e.message, /^dpkg-deb -x a\.deb exited 2:\nnot a Debian archive$/);
 * assert.equal(new MissingToolError("qemu-system-x86_64", "qemu-system-x86").tool, "qemu-system-x86_64");
 * ```
 * @module
 */
import { EnvironmentError } from "../common/errors.ts";

/** A host tool (QEMU, dpkg-deb, gpgv, npm) is not installed. */
export class MissingToolError extends EnvironmentError {
  /** The command that is missing. */
  readonly tool: string;
  constructor(
    tool: string,
    debianPackage: string,
    o: { cause?: unknown } = {},
  ) {
    super(`${tool} not found`, {
      hint: `apt-get install ${debianPackage}`,
      cause: o.cause,
    });
    this.name = "MissingToolError";
    this.tool = tool;
  }
}

/** A host command exited non-zero (or could not start). */
export class CommandError extends EnvironmentError {
  readonly command: string;
  readonly args: readonly string[];
  /** Exit code, or null when it could not start. */
  readonly code: number | null;
  /** The tail of its stderr (or stdout). */
  readonly output: string;
  constructor(
    command: string,
    args: readonly string[],
    code: number | null,
    output: string,
    o: { cause?: unknown } = {},
  ) {
    const what = code === null ? "could not start" : `exited ${code}`;
    super(
      `${command} ${args.join(" ")} ${what}${output ? `:\n${output}` : ""}`,
      { cause: o.cause },
    );
    this.name = "CommandError";
    this.command = command;
    this.args = args;
    this.code = code;
    this.output = output;
  }
}

/** A download failed, or what came down does not match its checksum. */
export class FetchError extends EnvironmentError {
  /** The HTTP status, when the server answered with an error. */
  readonly status?: number;
  constructor(
    message: string,
    o: { hint?: string; cause?: unknown; status?: number } = {},
  ) {
    super(message, o);
    this.name = "FetchError";
    this.status = o.status;
  }
}

/**
 * A cached file (a package, Deno, a boot file) is not what the cache
 * recorded: its checksum or size differs, or it cannot be read. The runner
 * re-fetches or rebuilds it; this error surfaces only when that fails too.
 */
export class CorruptArtifactError extends FetchError {
  /** The manifest key or boot file that is damaged. */
  readonly key: string;
  constructor(key: string, detail: string, o: { cause?: unknown } = {}) {
    super(`${key}: ${detail}`, o);
    this.name = "CorruptArtifactError";
    this.key = key;
  }
}
