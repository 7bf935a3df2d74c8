/**
 * The CPUs of this machine, as the kernel lists them.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { onlineCpus, parseCpuList } from "./cpus.ts";
 * assert.deepEqual(parseCpuList("0-2,5"), [0, 1, 2, 5]);
 * assert.ok(onlineCpus().length >= 1);
 * ```
 * @module
 */

/**
 * Parses a kernel CPU list such as "0-3,5,7-8".
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { parseCpuList } from "./cpus.ts";
 * assert.deepEqual(parseCpuList("0\n"), [0]);
 * assert.throws(() => parseCpuList("x"), /malformed CPU list/);
 * ```
 */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map((x) => Number.parseInt(x, 10));
    if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) {
      throw new Error(`malformed CPU list "${text.trim()}"`);
    }
    for (let c = a; c <= (b ?? a); c++) cpus.push(c);
  }
  return cpus;
}

/** CPUs online now, from /sys/devices/system/cpu/online. */
export function onlineCpus(): number[] {
  return parseCpuList(
    Deno.readTextFileSync("/sys/devices/system/cpu/online"),
  );
}

/** CPUs that may ever come online, from /sys/devices/system/cpu/possible. */
export function possibleCpus(): number[] {
  return parseCpuList(
    Deno.readTextFileSync("/sys/devices/system/cpu/possible"),
  );
}
