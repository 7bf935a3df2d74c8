/**
 * Test support for the tests that run the C fixture programs: what every
 * such test did by hand (build the fixtures, start one, symbolize it, stop
 * it whatever happens), said once. The symbolizer, lines and perf map tests
 * use it, and so do the export and browser tests that profile the fixture.
 *
 * It holds no tests of its own (and is not named *_test.ts): a module that
 * registered tests would run them again in every test file importing it.
 *
 * @module
 */
import {
  buildFixtures,
  type FixtureProcess,
  FIXTURES_BUILD,
  startFixture,
} from "./fixture_process.ts";
import { Symbolizer, type SymbolizerOptions } from "./symbolizer.ts";

/**
 * Deno.test options of the tests that run fixture processes: the processes,
 * their pipes and the symbolizer's fds outlive the ops and resources Deno
 * would otherwise ask each test to have finished.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { fixtureTestOptions } from "./fixture_test_helpers.ts";
 * assert.deepStrictEqual(fixtureTestOptions, {
 *   sanitizeResources: false,
 *   sanitizeOps: false,
 * });
 * ```
 */
export const fixtureTestOptions = {
  sanitizeResources: false,
  sanitizeOps: false,
} as const;

/**
 * Builds the fixtures (once per test process) and starts one: `argv[0]` is
 * a program of tests/fixtures/build/ (`"hotspots"`, `"badcrc/..."`) or an
 * absolute path (a copy of one), the rest its arguments.
 *
 * @example
 * ```ts ignore
 * // ignore: runs make and starts a real process; the tests call it.
 * const p = await startBuiltFixture(["hotspots", "--seconds", "5"]);
 * await p.stop();
 * ```
 */
export async function startBuiltFixture(
  argv: string[],
  options: Parameters<typeof startFixture>[1] = {},
): Promise<FixtureProcess> {
  await buildFixtures();
  const [program, ...args] = argv;
  const path = program.startsWith("/")
    ? program
    : `${FIXTURES_BUILD}/${program}`;
  return await startFixture([path, ...args], options);
}

/**
 * Runs `fn` on a fixture started as {@link startBuiltFixture} does and a new
 * Symbolizer made with `options`; afterwards, whether `fn` returned or
 * threw, closes the symbolizer and stops the fixture. Returns what `fn`
 * returns.
 *
 * @example
 * ```ts ignore
 * // ignore: runs make and starts a real process; see symbolizer_test.ts.
 * await withSymbolizedFixture(["hotspots", "--seconds", "5"], {}, (p, sym) => {
 *   assert.ok(sym.observe(p.pid).ok);
 * });
 * ```
 */
export async function withSymbolizedFixture<T>(
  argv: string[],
  options: SymbolizerOptions,
  fn: (p: FixtureProcess, sym: Symbolizer) => T | Promise<T>,
): Promise<T> {
  const p = await startBuiltFixture(argv);
  const sym = new Symbolizer(options);
  try {
    return await fn(p, sym);
  } finally {
    sym.close();
    await p.stop();
  }
}
