/**
 * streamprof's command line: one program of subcommands, dispatched by
 * lib/common/command.ts (help, errors to exit codes by type).
 *
 * @example
 * ```sh
 * deno run -A cli.ts profile --duration 10s
 * deno run -A cli.ts validate --rates 1000,10000 --json out/validate.json
 * deno run -A cli.ts doctor
 * ```
 * @module
 */
import { type Program, runProgram } from "./lib/common/command.ts";
import { interruptSignal } from "./lib/common/signals.ts";

/** The commands. Each module is loaded only when its command runs. */
export const STREAMPROF: Program = {
  name: "streamprof",
  summary: "A streaming eBPF CPU profiler that proves it loses nothing.",
  commands: {
    // A row per command, each import() a literal path that deno check sees.
    profile: {
      summary:
        "profile the machine (or --pid/--tid): top functions, processes, threads",
      run: async (a) =>
        (await import("./lib/cli/profile.ts")).profileCommand(a),
    },
    validate: {
      summary:
        "ring-buffer validation at several rates: no drops, exact reconciliation, bounded memory (JSON, JUnit)",
      run: async (a) =>
        (await import("./lib/cli/validate.ts")).validateCommand(a),
    },
    stability: {
      summary:
        "stream at 1 kHz for a long time: memory stays flat, no stack is lost",
      run: async (a) =>
        (await import("./lib/cli/stability.ts")).stabilityCommand(a),
    },
    agent: {
      summary:
        "continuous profiling: every interval's pprof to Pyroscope or a folder",
      run: async (a) => (await import("./lib/cli/agent.ts")).agentCommand(a),
    },
    doctor: {
      summary: "check the kernel, privileges and BPF features; say what to fix",
      run: async (a) => (await import("./lib/cli/doctor.ts")).doctorCommand(a),
    },
  },
};

/** Runs the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  return await runProgram(STREAMPROF, args);
}

if (import.meta.main) {
  // The stop-signal listeners are installed before any work and stay until
  // exit, so no signal kills the process between its verdict and its exit
  // code (see lib/common/signals.ts).
  interruptSignal();
  Deno.exit(await main(Deno.args));
}
