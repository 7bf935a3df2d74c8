/**
 * `deno task bench:e2e`: the consumers side by side on the real kernel.
 *
 * 1. rates (rates.ts): maximum sustained zero-drop rate on the stress source.
 * 2. overhead (overhead.ts): consumer CPU at 10 kHz sampling on busy CPUs.
 * 3. decode (decode.ts): ns per event decoding the same recorded ring bytes
 *    with WASM in Deno, hand-written C through FFI, wasm2c in C,
 *    hand-written C -O2 and a TypeScript DataView loop.
 * 4. memory (memory.ts): peak and steady RSS and heap of every consumer at
 *    1 kHz (all consumers at once, CPUs busy).
 *
 * Then the goals and the baseline (goals.ts). Results print as tables and,
 * with --json FILE, as JSON; the options are in options.ts, the consumers
 * and how they are run in consumers.ts. Needs root. Every step loads the
 * CPUs: other work on the machine skews the numbers, so the load average
 * before and after is printed with them.
 *
 * @example
 * ```sh
 * deno task bench:e2e --rates 100000,1000000 --step-duration 2 \
 *   --sections rates,decode --json /tmp/e2e.json
 * ```
 * @module
 */
import { runMain } from "../../lib/common/command.ts";
import { EnvironmentError, ExitCode } from "../../lib/common/errors.ts";
import { writeFileAtomic } from "../../lib/common/output_file.ts";
import { PROGRAMS } from "./consumers.ts";
import { printDecode, runDecode } from "./decode.ts";
import {
  baselineLine,
  baselineOf,
  judgeGoals,
  type Measurements,
  printGoals,
  readBaseline,
  regressions,
} from "./goals.ts";
import { printMemory, runMemory } from "./memory.ts";
import { HELP, type Options, parseOptions } from "./options.ts";
import { printOverhead, runOverhead } from "./overhead.ts";
import { printRates, runRates } from "./rates.ts";
import { describeMachine, formatLoad } from "./report.ts";

/** Throws an EnvironmentError if this machine cannot run the benchmark. */
function preflight(o: Options): void {
  if (Deno.uid() !== 0) {
    throw new EnvironmentError(
      "needs root (loading BPF programs and system-wide perf events)",
    );
  }
  const need = [PROGRAMS.consumerC, PROGRAMS.stressgen, PROGRAMS.burn];
  if (o.sections.has("decode")) {
    need.push(PROGRAMS.decodeBench, PROGRAMS.nativeWalkerLib);
  }
  for (const p of need) {
    try {
      Deno.statSync(p);
    } catch {
      throw new EnvironmentError(`${p} is missing`, {
        hint: "run 'make build' first",
      });
    }
  }
}

/** Runs the sections asked for, printing each as it completes. */
async function runSections(o: Options): Promise<Measurements> {
  const m: Measurements = {
    rates: null,
    overhead: null,
    decode: null,
    memory: null,
  };
  if (o.sections.has("rates")) {
    console.error("\nrates:");
    m.rates = await runRates(o);
    printRates(o, m.rates);
  }
  if (o.sections.has("overhead")) {
    console.error("\noverhead:");
    m.overhead = await runOverhead(o);
    printOverhead(o, m.overhead);
  }
  if (o.sections.has("decode")) {
    console.error("\ndecode:");
    m.decode = await runDecode(o);
    printDecode(m.decode);
  }
  if (o.sections.has("memory")) {
    console.error(`\nmemory (${o.memoryS} s):`);
    m.memory = await runMemory(o);
    printMemory(o, m.memory);
  }
  return m;
}

async function main(args: string[]): Promise<number> {
  const o = parseOptions(args);
  if (!o) {
    console.log(HELP);
    return ExitCode.OK;
  }
  preflight(o);
  const base = await readBaseline(o.baseline);
  const machine = describeMachine();
  console.log(
    `# bench:e2e on ${machine.hostname}: ${machine.cpu_model}, ${machine.cpus} CPUs, kernel ${machine.kernel}, Deno ${machine.deno}`,
  );
  console.log(
    `load average before: ${formatLoad(machine.loadavg_before as number[])}` +
      " (other processes share the CPUs and skew every number)",
  );
  for (const c of o.consumers) console.log(`  ${c.id}: ${c.label}`);

  const m = await runSections(o);
  const goals = judgeGoals(m);
  printGoals(goals);
  const regs = regressions(m.rates?.steps ?? [], base, o.ringBytes);
  machine.loadavg_after = Deno.loadavg();
  console.log(
    `\nload average after: ${formatLoad(machine.loadavg_after as number[])}`,
  );
  if (m.rates) {
    const line = baselineLine(o.baseline, base, o.ringBytes, regs.length);
    if (line) console.log(line);
  }
  for (const r of regs) console.log(`REGRESSION: ${r}`);

  const result = {
    machine,
    options: {
      rates: o.rates,
      step_duration_s: o.stepS,
      ring_bytes: o.ringBytes,
      consumers: o.consumers.map((c) => ({ id: c.id, label: c.label })),
      sections: [...o.sections],
      overhead_duration_s: o.overheadS,
      decode_iterations: o.decodeIterations,
      decode_events: o.decodeEvents,
      memory_duration_s: o.memoryS,
    },
    ...m,
    goals,
    baseline: base
      ? { file: o.baseline, max_held_rate: base.max_held_rate }
      : null,
    regressions: regs,
  };
  if (o.json) {
    await writeFileAtomic(o.json, JSON.stringify(result, null, 2) + "\n");
    console.log(`JSON written to ${o.json}`);
  }
  if (o.updateBaseline && m.rates) {
    const next = baselineOf(m.rates, machine, o.ringBytes, o.stepS, o.rates);
    await writeFileAtomic(o.baseline, JSON.stringify(next, null, 2) + "\n");
    console.log(`baseline written to ${o.baseline}`);
  }
  return regs.length ? ExitCode.FAILED : ExitCode.OK;
}

if (import.meta.main) {
  Deno.exit(
    await runMain("bench:e2e", () => main(Deno.args), "deno task bench:e2e"),
  );
}
