/**
 * streamprof's command line.
 *
 * @example
 * ```sh
 * deno run -A cli.ts profile --duration 10s
 * deno run -A cli.ts validate --rates 1000,10000 --json out/validate.json
 * deno run -A cli.ts doctor
 * ```
 * @module
 */
import { ExitCode, UsageError } from "./lib/common/errors.ts";

const HELP = `Usage: streamprof <command> [options]

A streaming eBPF CPU profiler that proves it loses nothing.

Commands:
  profile     profile the machine (or --pid) and print the top processes
  validate    ring-buffer validation at several rates: no drops, exact
              reconciliation, bounded memory (JSON and JUnit XML reports)
  stability   stream at 1 kHz for a long time and check memory stays flat
  doctor      check the kernel, privileges and BPF features; say what to fix

Run 'streamprof <command> --help' for a command's options.
Exit codes: 0 ok, 1 checks failed, 2 usage error, 3 environment error.`;

/** Runs the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  try {
    switch (cmd) {
      case "profile":
        return await (await import("./lib/cli/profile.ts")).profileCommand(
          rest,
        );
      case "validate":
        return await (await import("./lib/cli/validate.ts")).validateCommand(
          rest,
        );
      case "stability":
        return await (await import("./lib/cli/stability.ts")).stabilityCommand(
          rest,
        );
      case "doctor":
        return await (await import("./lib/cli/doctor.ts")).doctorCommand(rest);
      case undefined:
      case "help":
      case "-h":
      case "--help":
        console.log(HELP);
        return cmd === undefined ? ExitCode.USAGE : ExitCode.OK;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(
        `streamprof: ${e.message}\nRun 'streamprof ${
          cmd ?? ""
        } --help' for usage.`,
      );
      return ExitCode.USAGE;
    }
    console.error(`streamprof ${cmd}: error: ${e.message}`);
    return ExitCode.ENVIRONMENT;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
