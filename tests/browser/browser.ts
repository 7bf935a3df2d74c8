/**
 * Test support for the browser tests: Debian's chromium driven by
 * playwright-core (never a downloaded browser), one browser per test file,
 * a fresh empty profile folder each time, a record of every console error,
 * page error and network request, and the folder screenshots go to.
 *
 * Outside CI a machine without /usr/bin/chromium skips these tests with a
 * visible line; in CI (CI=true) a missing browser is a failure.
 *
 * @module
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { inCI } from "../kernel/require_bpf.ts";

/** The browser: Debian's chromium package. */
export const CHROMIUM = "/usr/bin/chromium";

/** The project root. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** Where the browser tests write screenshots and pages (gitignored). */
export const OUT_DIR = `${ROOT}out/browser`;

/** The flags Chromium needs as root on this kind of machine (FIELD-NOTES). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function reasonNoBrowser(): string | null {
  try {
    const st = Deno.statSync(CHROMIUM);
    if (!st.isFile) return `${CHROMIUM} is not a file`;
    if (((st.mode ?? 0) & 0o111) === 0) return `${CHROMIUM} is not executable`;
    return null;
  } catch (err) {
    return `${CHROMIUM} is missing (${
      (err as Error).message
    }): apt-get install chromium`;
  }
}

/** Why the browser tests cannot run here, or null. */
export const browserUnavailable: string | null = reasonNoBrowser();

/** Pass as `ignore`: never true in CI. */
export const browserIgnore: boolean = browserUnavailable !== null && !inCI;

if (browserUnavailable !== null) {
  console.error(
    inCI
      ? `CI=true and the browser is missing: the browser tests will FAIL: ${browserUnavailable}`
      : `SKIPPING browser tests (not in CI): ${browserUnavailable}`,
  );
}

/** A running browser with a fresh profile. */
export interface TestBrowser {
  context: BrowserContext;
  /** Closes the browser and removes its profile folder. */
  close(): Promise<void>;
}

/** Launches chromium with a fresh, empty user-data folder. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (browserUnavailable !== null) {
    throw new Error(`no browser: ${browserUnavailable}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "streamprof-chromium-" });
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 800 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** What a page reported while a test used it. */
export interface PageLog {
  /** console.error messages, uncaught errors, failed requests. */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
}

/** Starts recording a page's errors and requests. */
export function watchPage(page: Page): PageLog {
  const log: PageLog = { errors: [], requests: [] };
  page.on("console", (m) => {
    if (m.type() === "error") log.errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => log.errors.push(`page error: ${e.message}`));
  page.on(
    "requestfailed",
    (r) =>
      log.errors.push(`request failed: ${r.url()} (${r.failure()?.errorText})`),
  );
  page.on("request", (r) => log.requests.push(r.url()));
  return log;
}

/** Makes OUT_DIR and returns the path of a file in it. */
export function outFile(name: string): string {
  Deno.mkdirSync(OUT_DIR, { recursive: true });
  return `${OUT_DIR}/${name}`;
}
