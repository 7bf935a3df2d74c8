/**
 * Entry point of the VM runner:
 * `deno run -A lib/vm/main.ts test <name|all|host>` (`deno task test:vm`,
 * test_command.ts), `... list` (`deno task vm:list`), `... prune` (`deno
 * task vm:prune`) and `... fetch <name|all>` (cache_commands.ts),
 * dispatched by lib/common/command.ts's {@link runProgram}: errors become
 * exit codes by their type (2 usage, 3 environment, 70 a bug).
 *
 * @example
 * ```sh
 * deno run -A lib/vm/main.ts test default
 * deno run -A lib/vm/main.ts test all --json out/vm.json --junit out/vm.xml
 * deno run -A lib/vm/main.ts test x86_64-5.10 -- uname -r
 * deno run -A lib/vm/main.ts list
 * ```
 *
 * @module
 */
import { type Program, runProgram } from "../common/command.ts";
import { fetchCommand, listCommand, pruneCommand } from "./cache_commands.ts";
import { testCommand } from "./test_command.ts";

/** The runner's commands, for lib/common/command.ts. */
export const VM_PROGRAM: Program = {
  name: "vm",
  summary:
    `Runs the suite inside QEMU guests with real Debian kernels. Tasks: deno task
test:vm <vm|all|host>, deno task vm:list, deno task vm:prune; or deno run -A
lib/vm/main.ts <command>. Cache: \${XDG_CACHE_HOME:-~/.cache}/streamprof/vm (or
STREAMPROF_VM_CACHE).`,
  commands: {
    test: {
      summary: "boot the VM(s), run the suite or a command, print the table",
      run: testCommand,
    },
    list: {
      summary: "the rows of lib/vm/vms.json, resolved kernels, cache state",
      run: listCommand,
    },
    fetch: {
      summary: "resolve, download and build a VM's artifacts without booting",
      run: fetchCommand,
    },
    prune: {
      summary: "remove cached artifacts that no row uses",
      run: pruneCommand,
    },
  },
};

/**
 * Runs a command line; returns the exit code (never throws).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./main.ts";
 * assert.equal(await main(["test", "nosuch-vm"]), 2);
 * ```
 */
export function main(args: string[]): Promise<number> {
  return runProgram(VM_PROGRAM, args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
