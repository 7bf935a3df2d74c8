/**
 * `profile --serve` in Debian's chromium: the CLI profiles the fixture
 * program and serves the live view; the page receives the raw ring records
 * for several seconds, decodes them with parser.wasm, names them, draws
 * hot_alpha, and at the end its own count equals the server's exactly
 * (nothing skipped for a tab that keeps up), as the CLI's own
 * reconciliation line and its live-view summary say. Screenshots of the
 * page are written to out/browser/.
 */
import assert from "node:assert";
import { startBuiltFixture } from "../../lib/symbols/fixture_test_helpers.ts";
import { bpfTest } from "../fixture_profile.ts";
import { DENO, ROOT } from "../kernel/require_bpf.ts";
import { browserIgnore, launchBrowser, outFile, watchPage } from "./browser.ts";

interface LiveState {
  decodedEvents: number;
  mismatchedChunks: number;
  undecodedBytes: number;
  seqGaps: number;
  redraws: number;
  hello: { beforeJoin: number } | null;
  end:
    | { consumed: number; forwarded: number; ok: boolean; line: string }
    | null;
  check: {
    decoded: number;
    sent: number;
    skipped: number;
    offered: number;
    consumedSinceJoin: number;
    exact: boolean;
  } | null;
  counters: { beforeJoin: number; consumed: number } | null;
}
declare const live: LiveState;
declare const flame: {
  samplesOf(name: string): number;
  state: { totalSamples: number };
};

bpfTest(
  "browser: the live view decodes the ring records itself and its count equals the server's",
  async () => {
    const browser = await launchBrowser();
    const fixture = await startBuiltFixture(["hotspots", "--seconds", "30"]);
    const cli = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        `${ROOT}cli.ts`,
        "profile",
        "--pid",
        String(fixture.pid),
        "--serve",
        "127.0.0.1:0",
        "--duration",
        "8s",
        "--freq",
        "999",
        "--no-status",
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new Response(cli.stdout).text();
    let stderr = "";
    const lines = cli.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const stderrDone = (async () => {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) return;
        stderr += value;
      }
    })();
    try {
      // The URL the CLI prints.
      const deadline = Date.now() + 30_000;
      let url = "";
      while (!url && Date.now() < deadline) {
        url = /live view at (http:\/\/\S+)/.exec(stderr)?.[1] ?? "";
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(url, `no live view URL in: ${stderr}`);
      const page = await browser.context.newPage();
      const log = watchPage(page);
      await page.goto(url);
      // Records arrive, are decoded and named: hot_alpha shows up.
      await page.waitForFunction(
        () =>
          live.counters !== null && live.redraws >= 2 &&
          flame.samplesOf("hot_alpha") > 0,
        null,
        { timeout: 20_000 },
      );
      await page.screenshot({ path: outFile("live.png") });
      // The run ends after its duration; the page gets the end.
      await page.waitForFunction(() => live.end !== null, null, {
        timeout: 30_000,
      });
      await page.waitForTimeout(1200); // one more redraw with everything
      await page.screenshot({ path: outFile("live-end.png") });
      const s = await page.evaluate(() => ({
        decoded: live.decodedEvents,
        mismatched: live.mismatchedChunks,
        undecoded: live.undecodedBytes,
        gaps: live.seqGaps,
        beforeJoin: live.hello!.beforeJoin,
        end: live.end!,
        check: live.check!,
        alpha: flame.samplesOf("hot_alpha"),
        total: flame.state.totalSamples,
      }));
      const panel = await page.textContent("#live-reconciliation");
      const status = await cli.status;
      await stderrDone;
      const out = await stdout;
      assert.equal(status.code, 0, `${out}\n${stderr}`);

      // The tab decoded exactly what the server sent it; nothing was
      // skipped; sent = everything consumed after it joined.
      assert.ok(s.decoded > 0, "records were decoded in the page");
      assert.equal(s.mismatched, 0);
      assert.equal(s.undecoded, 0);
      assert.equal(s.gaps, 0);
      assert.equal(s.check.decoded, s.decoded);
      assert.equal(s.check.sent, s.decoded);
      assert.equal(s.check.skipped, 0);
      assert.equal(s.check.consumedSinceJoin, s.end.consumed - s.beforeJoin);
      assert.equal(s.decoded + s.beforeJoin, s.end.consumed);
      assert.equal(s.end.forwarded, s.end.consumed);
      assert.ok(s.check.exact, JSON.stringify(s.check));
      assert.ok(s.end.ok, s.end.line);
      assert.match(panel!, /: exact/);
      // The same numbers as the CLI's own report.
      const consumed = Number(
        /reconciled: produced [\d,]+ = consumed ([\d,]+)/.exec(out)![1]
          .replaceAll(",", ""),
      );
      assert.equal(consumed, s.end.consumed);
      const summary =
        /live view: forwarded ([\d,]+) events.*page 1: joined after ([\d,]+), sent ([\d,]+), skipped ([\d,]+)/
          .exec(stderr);
      assert.ok(summary, stderr);
      const n = (x: string) => Number(x.replaceAll(",", ""));
      assert.deepEqual(summary.slice(1).map(n), [
        consumed,
        s.beforeJoin,
        s.decoded,
        0,
      ]);
      // The page's flame graph has the fixture's hot function, about half
      // of the hot functions' samples.
      assert.ok(s.alpha > 0 && s.alpha <= s.total);
      assert.equal(s.total, s.decoded);
      assert.deepEqual(log.errors, []);
    } catch (err) {
      for (const p of browser.context.pages()) {
        await p.screenshot({ path: outFile("live-failure.png") }).catch(
          () => {},
        );
      }
      throw new Error(`${(err as Error).message}\nCLI stderr:\n${stderr}`, {
        cause: err,
      });
    } finally {
      try {
        cli.kill("SIGTERM");
      } catch { /* exited */ }
      await cli.status;
      await fixture.stop();
      await browser.close();
    }
  },
  { ignore: browserIgnore },
);
