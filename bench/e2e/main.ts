/**
 * `deno task bench:e2e`: the consumers side by side on the real kernel.
 *
 * 1. rates (rates.ts): maximum sustained zero-drop rate on the stress source,
 *    and each consumer's steady-state CPU per event at each rate (steady.ts),
 *    start-up and the Deno consumer's resolution of its profile reported on
 *    their own (cpu_costs.ts says how the window is measured).
 * 2. overhead (overhead.ts): consumer CPU at 10 kHz sampling on busy CPUs.
 * 3. decode (decode.ts): ns per event decoding the same recorded ring bytes
 *    with WASM in Deno, hand-written C through FFI, wasm2c in C,
 *    hand-written C -O2 and a TypeScript DataView loop.
 * 4. memory (memory.ts): peak and steady RSS and heap of every consumer at
 *    1 kHz (all consumers at once, CPUs busy).
 *
 * Then the goals and the baseline (goals.ts). Results print as tables and,
 * with --json FILE, as JSON. The run fails (exit 1) when it could not
 * measure what was asked (a consumer that failed every step of a section, a
 * step a section needs, such as recording ring data or the CPU burner) or a
 * consumer dropped at a rate it held in the baseline; the options are in options.ts, the consumers
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
import { PROGRAMS, StepFailedError } from "./consumers.ts";
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
import { printRates, ratesFailures, runRates } from "./rates.ts";
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

/** What the sections measured, and what they could not. */
interface SectionsOutcome {
  measured: Measurements;
  /** "section: what failed", one per failure. */
  failures: string[];
}

/**
 * Runs one section: its result, or null with the failure recorded when a
 * step it needs failed (a StepFailedError; anything else is a bug).
 */
async function runSection<T>(
  name: string,
  failures: string[],
  run: () => Promise<T>,
): Promise<T | null> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof StepFailedError)) throw err;
    failures.push(`${name}: ${err.message}`);
    console.error(`  ${name} failed: ${err.message}`);
    return null;
  }
}

/** Consumers whose run in a section gave no valid figure. */
function rowFailures(
  name: string,
  rows: { consumer: string; failure: string | null }[],
): string[] {
  return rows.filter((r) => r.failure !== null).map((r) =>
    `${name}: ${r.consumer} failed (${r.failure})`
  );
}

/** Runs the sections asked for, printing each as it completes. */
async function runSections(o: Options): Promise<SectionsOutcome> {
  const failures: string[] = [];
  const m: Measurements = {
    rates: null,
    overhead: null,
    decode: null,
    memory: null,
  };
  if (o.sections.has("rates")) {
    console.error("\nrates:");
    m.rates = await runSection("rates", failures, () => runRates(o));
    if (m.rates) {
      printRates(o, m.rates);
      failures.push(...ratesFailures(m.rates).map((f) => `rates: ${f}`));
    }
  }
  if (o.sections.has("overhead")) {
    console.error("\noverhead:");
    m.overhead = await runSection("overhead", failures, () => runOverhead(o));
    if (m.overhead) {
      printOverhead(o, m.overhead);
      failures.push(...rowFailures("overhead", m.overhead));
    }
  }
  if (o.sections.has("decode")) {
    console.error("\ndecode:");
    m.decode = await runSection("decode", failures, () => runDecode(o));
    if (m.decode) printDecode(m.decode);
  }
  if (o.sections.has("memory")) {
    console.error(`\nmemory (${o.memoryS} s):`);
    m.memory = await runSection("memory", failures, () => runMemory(o));
    if (m.memory) {
      printMemory(o, m.memory);
      failures.push(...rowFailures("memory", m.memory));
    }
  }
  return { measured: m, failures };
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

  const { measured: m, failures } = await runSections(o);
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
  for (const f of failures) console.log(`FAILED: ${f}`);

  const result = {
    machine,
    options: {
      rates: o.rates,
      step_duration_s: o.stepS,
      warmup_s: o.warmupS,
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
    failures,
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
  return regs.length || failures.length ? ExitCode.FAILED : ExitCode.OK;
}

if (import.meta.main) {
  Deno.exit(
    await runMain("bench:e2e", () => main(Deno.args), "deno task bench:e2e"),
  );
}
