/**
 * The `--flamegraph` page of a real profile of the fixture program, in
 * Debian's chromium: it loads from file:// with no console errors and no
 * request beyond the file itself; hot_alpha (50% of the fixture's work by
 * construction) is there with the share our own tables give it; hovering
 * shows its counts; clicking zooms to it; search finds it and counts its
 * share; the inverted layout flips it; a screenshot is written to
 * out/browser/.
 */
import assert from "node:assert";
import { flamegraphHtml } from "../../lib/export/flamegraph/html.ts";
import { topFunctions } from "../../lib/profile/top_functions.ts";
import { bpfTest, profileHotspots } from "../fixture_profile.ts";
import { browserIgnore, launchBrowser, outFile, watchPage } from "./browser.ts";

type Flame = {
  state: {
    zoomed: number;
    zoomedName: string;
    matchedSamples: number;
    totalSamples: number;
    inverted: boolean;
  };
  find(name: string): number;
  rectOf(i: number): { x: number; y: number; w: number; h: number } | null;
  samplesOf(name: string): number;
  width: number;
};
declare const flame: Flame;

bpfTest(
  "browser: the flame graph page of a real profile: hot_alpha's share, hover, zoom, search, inverted, offline",
  async () => {
    const run = await profileHotspots(["--seconds", "15"], {
      durationMs: 3000,
      frequency: 999,
    });
    assert.ok(run.report.reconciliation.ok, run.report.reconciliation.line);
    const fns = topFunctions(run.profile);
    const total = (name: string) =>
      fns.filter((f) => f.name === name).reduce((a, f) => a + f.total, 0);
    const expected = {
      alpha: total("hot_alpha"),
      hot: total("hot_alpha") + total("hot_beta") + total("hot_gamma"),
      all: run.profile.totalSamples,
    };
    const html = await flamegraphHtml(run.profile);
    // The fixture's split: hot_alpha does half the work (within 4 standard
    // deviations of the sampling noise, at least 5 points).
    const split = expected.alpha / expected.hot;
    const tol = Math.max(0.05, 4 * Math.sqrt(0.25 / expected.hot));
    assert.ok(Math.abs(split - 0.5) < tol, `hot_alpha split ${split}`);
    const file = outFile("flamegraph.html");
    await Deno.writeTextFile(file, html);

    const browser = await launchBrowser();
    const page = await browser.context.newPage();
    try {
      const log = watchPage(page);
      await page.goto(`file://${file}`);
      await page.waitForFunction(() =>
        (globalThis as { firstRenderMs?: number }).firstRenderMs !== undefined
      );
      // Offline: nothing but the file itself (and the inline data: icon).
      assert.deepEqual(
        log.requests.filter((u) => !/^(file|data):/.test(u)),
        [],
      );
      // The header.
      const header = await page.textContent("header");
      assert.match(header!, /reconciled: produced [\d,]+ = consumed/);
      assert.match(header!, /stacks of [\d,]+ samples/);
      assert.match(header!, /frequency999 Hz/);

      // hot_alpha, with the share our tables give it.
      const shown = await page.evaluate(() => ({
        total: flame.state.totalSamples,
        alpha: flame.samplesOf("hot_alpha"),
      }));
      assert.deepEqual(shown, { total: expected.all, alpha: expected.alpha });
      const share = `${(100 * expected.alpha / expected.all).toFixed(2)}%`;

      const canvas = (await page.$("#flame"))!;
      // Where the canvas is now (the lines above it change as you search).
      const at = async (q: { x: number; y: number; w: number; h: number }) => {
        const box = (await canvas.boundingBox())!;
        return { x: box.x + q.x + q.w / 2, y: box.y + q.y + q.h / 2 };
      };
      const rect = async () =>
        (await page.evaluate(() => flame.rectOf(flame.find("hot_alpha"))))!;
      let r = await rect();
      assert.ok(r, "hot_alpha is drawn");

      // Hover: its counts and percentage.
      let p = await at(r);
      await page.mouse.move(p.x, p.y);
      await page.waitForSelector("#tooltip", { state: "visible" });
      const tip = (await page.textContent("#tooltip"))!;
      assert.match(tip, /^hot_alpha/);
      assert.ok(
        tip.includes(
          `samples: ${expected.alpha.toLocaleString("en-US")} (${share} of all`,
        ),
        tip,
      );

      // Search: highlighted, with its share.
      await page.fill("#search", "hot_alpha");
      await page.press("#search", "Enter");
      const match = (await page.textContent("#match"))!;
      assert.ok(
        match.includes(
          `Matched hot_alpha: ${
            expected.alpha.toLocaleString("en-US")
          } samples, ${share} of all`,
        ),
        match,
      );
      assert.equal(
        await page.evaluate(() => flame.state.matchedSamples),
        expected.alpha,
      );
      await page.screenshot({ path: outFile("flamegraph.png") });

      // Click: zoom to it, full width.
      p = await at(r);
      await page.mouse.click(p.x, p.y);
      const zoomed = await page.evaluate(() => ({
        name: flame.state.zoomedName,
        rect: flame.rectOf(flame.find("hot_alpha")),
        width: flame.width,
      }));
      assert.equal(zoomed.name, "hot_alpha");
      assert.equal(zoomed.rect!.x, 0);
      assert.equal(zoomed.rect!.w, zoomed.width);
      assert.match((await page.textContent("#status"))!, /Zoomed to hot_alpha/);
      await page.screenshot({ path: outFile("flamegraph-zoomed.png") });

      // Reset, then inverted: the same frame, mirrored rows.
      await page.click("#reset");
      assert.equal(await page.evaluate(() => flame.state.zoomed), 0);
      r = await rect();
      await page.click("#invert");
      const flipped = await rect();
      assert.equal(await page.evaluate(() => flame.state.inverted), true);
      assert.notEqual(flipped.y, r.y);
      assert.equal(flipped.w, r.w);

      assert.deepEqual(log.errors, []);
    } catch (err) {
      // What the page looked like when it failed, for the report.
      await page.screenshot({ path: outFile("flamegraph-failure.png") })
        .catch(() => {});
      throw err;
    } finally {
      await browser.close();
    }
  },
  { ignore: browserIgnore },
);
