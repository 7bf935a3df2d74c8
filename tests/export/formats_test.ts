/**
 * One real profile of the fixture program, written as folded stacks,
 * pprof and speedscope (through the files' bytes, as a user gets them):
 * each read back to (stack, count) pairs describes the same samples; the
 * speedscope timeline has every sample, in time order; and `go tool pprof
 * -top` / `-traces` read the pprof file and agree with our own tables,
 * sample for sample. In CI a missing Go is a failure, not a skip.
 */
import assert from "node:assert";
import { assertGoPprofAgrees, goPprof } from "../../lib/export/go_pprof.ts";
import { goPprofGate } from "../../lib/export/go_pprof_gate.ts";
import {
  decodePprof,
  encodePprof,
  pprofStacks,
  toPprof,
} from "../../lib/export/pprof.ts";
import {
  type SpeedscopeFile,
  speedscopeStacks,
  toSpeedscope,
} from "../../lib/export/speedscope.ts";
import { foldedStacks, parseFolded } from "../../lib/profile/folded.ts";
import { bpfTest, profileHotspots } from "../fixture_profile.ts";

const goSkip = (await goPprofGate("the go tool pprof part")).skip;

bpfTest(
  "formats: folded, pprof and speedscope of one real run describe the same samples; go tool pprof agrees",
  async () => {
    // Two threads, so speedscope has a profile per thread.
    const run = await profileHotspots(["--seconds", "15", "--threads", "2"], {
      durationMs: 2500,
      frequency: 999,
      timeline: true,
    });
    const p = run.profile;
    assert.ok(run.report.reconciliation.ok, run.report.reconciliation.line);
    assert.ok(p.totalSamples > 100, `${p.totalSamples} samples`);

    const folded = parseFolded(foldedStacks(p));
    const pprof = pprofStacks(await decodePprof(await encodePprof(p)));
    const doc = JSON.parse(JSON.stringify(toSpeedscope(p))) as SpeedscopeFile;
    const speedscope = speedscopeStacks(doc);
    const sum = (m: Map<string, number>) =>
      [...m.values()].reduce((a, b) => a + b, 0);
    assert.equal(sum(folded), p.totalSamples);
    assert.deepEqual(pprof, folded, "pprof = folded");
    assert.deepEqual(speedscope, folded, "speedscope = folded");

    // The timeline: every sample once, per thread in time order.
    assert.equal(p.timeline!.length, p.totalSamples);
    const threads = new Set(p.samples.map((s) => s.tid));
    assert.equal(doc.profiles.length, threads.size);
    assert.ok(threads.size >= 2, "both worker threads were sampled");
    for (const t of doc.profiles) {
      const total = t.weights.reduce((a, b) => a + b, 0);
      assert.equal(total, t.endValue - t.startValue);
    }

    if (goSkip) return;
    await assertGoPprofAgrees(p);
  },
);

bpfTest(
  "formats: pprof with --lines: source lines on the locations, go tool pprof -lines shows them",
  async () => {
    const run = await profileHotspots(["--seconds", "10"], {
      durationMs: 1500,
      frequency: 999,
      lines: true,
    });
    const x = toPprof(run.profile);
    const s = (i: number | bigint) => x.stringTable.strings[Number(i)];
    const fn = new Map(x.function.map((f) => [Number(f.id), f]));
    const alpha = x.location.filter((l) =>
      s(fn.get(Number(l.line.at(-1)!.functionId))!.name) === "hot_alpha"
    );
    assert.ok(alpha.length > 0, "hot_alpha has locations");
    for (const l of alpha) {
      const line = l.line.at(-1)!;
      assert.match(
        s(fn.get(Number(line.functionId))!.filename),
        /hotspots\.c$/,
      );
      assert.ok(Number(line.line) > 0);
      const m = x.mapping.find((m) => m.id === l.mappingId)!;
      assert.ok(m.hasLineNumbers && m.hasFilenames);
    }
    if (goSkip) return;
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/l.pb.gz`, await encodePprof(run.profile));
      const top = await goPprof(
        ["-top", "-lines", "-sample_index=samples", "-nodefraction=0"],
        `${dir}/l.pb.gz`,
      );
      assert.match(top, /hot_alpha \S*hotspots\.c:\d+/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
