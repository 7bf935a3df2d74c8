// `streamprof agent` against a real Grafana Pyroscope server (built from the
// Go module proxy by `make setup`, started here on 127.0.0.1): the fixture
// program's function names arrive, every interval's samples arrive exactly
// (per service, summed on the server = consumed by the agent), the labels
// are right; an outage of the server, errors and hangs are survived with
// nothing lost; Ctrl-C with a full spool leaves it on disk for the next
// start; two agents with two hostnames are told apart; memory stays flat.
import assert from "node:assert/strict";
import {
  mergedStacks,
  PROFILE_CPU_SAMPLES,
  series,
  totalValue,
} from "../../lib/fleet/pyroscope_client.ts";
import {
  pyroscopeBinaryAvailable,
  type PyroscopeServer,
  startPyroscope,
} from "../../lib/fleet/pyroscope_server.ts";
import { decodePprof } from "../../lib/export/pprof.ts";
import { runCommand } from "../run_command.ts";
import { withTempDir } from "../temp_dir.ts";
import { assertBpf, bpfIgnore, DENO, inCI, ROOT } from "./require_bpf.ts";

const FIXTURE = `${ROOT}tests/fixtures/build/hotspots`;
const noServer = !pyroscopeBinaryAvailable();
/** Outside CI a machine without the built server skips; in CI it fails. */
const ignore = bpfIgnore || (noServer && !inCI);

interface Interval {
  fromMs: number;
  untilMs: number;
  samples: number;
  services: Record<string, number>;
}
interface Summary {
  intervals: Interval[];
  counters: { intervalsCut: number; intervalsWritten: number };
  spool: { dropped: number; spooledToDisk: number; recovered: number };
  delivery: {
    pushed: number;
    retried: number;
    rejected: number;
    timeouts: number;
  };
  leftInSpool: number;
  reconciliation: { ok: boolean; consumed: number; line: string };
}

/**
 * Starts the agent as the CLI runs it, with `options` written as on a
 * command line (split at spaces: no value here holds one). `intervals(n)`
 * resolves once it has cut n intervals (it logs each); `done` resolves
 * with its exit and summary.
 */
function startAgent(options: string) {
  const args = options.split(" ");
  const dir = Deno.makeTempDirSync({ prefix: "streamprof-agent-" });
  const json = `${dir}/summary.json`;
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}cli.ts`, "agent", "--json", json, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let cut = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      const t = dec.decode(chunk, { stream: true });
      text += t;
      cut += (t.match(/^agent: interval /gm) ?? []).length;
      for (const w of waiters.splice(0)) {
        if (cut >= w.n) w.resolve();
        else waiters.push(w);
      }
    }
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const done = (async () => {
    const status = await child.status;
    await pumped;
    let summary: Summary | undefined;
    try {
      summary = JSON.parse(await Deno.readTextFile(json));
    } catch { /* no summary: the assertion below says so */ }
    await Deno.remove(dir, { recursive: true });
    for (const w of waiters.splice(0)) w.resolve();
    return { code: status.code, text, summary };
  })();
  const intervals = (n: number) =>
    new Promise<void>((resolve) => {
      if (cut >= n) resolve();
      else waiters.push({ n, resolve });
    });
  return { child, done, intervals, text: () => text, cut: () => cut };
}

/**
 * Runs `fn` while the fixture program runs on two threads (its service is
 * "hotspots"); kills it afterwards, however `fn` ended. `fn` gets the time
 * just before the start, for {@link serverTotal}.
 */
async function whileFixtureRuns(
  fn: (t0: number) => Promise<void>,
): Promise<void> {
  const t0 = Date.now();
  const fx = new Deno.Command(FIXTURE, {
    args: ["--threads", "2", "--seconds", "120"],
    stdout: "null",
  }).spawn();
  try {
    await fn(t0);
  } finally {
    fx.kill("SIGKILL");
    await fx.status;
  }
}

/** Sum over intervals of one service's samples (or of all). */
function sent(s: Summary, service?: string): number {
  return s.intervals.reduce(
    (n, i) => n + (service ? i.services[service] ?? 0 : i.samples),
    0,
  );
}

async function serverTotal(
  srv: PyroscopeServer,
  selector: Record<string, string>,
  t0: number,
): Promise<number> {
  return await totalValue(srv.url, {
    profileType: PROFILE_CPU_SAMPLES,
    selector,
    start: t0 - 60_000,
    end: Date.now() + 60_000,
  });
}

function withServer(
  name: string,
  fn: (srv: PyroscopeServer) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore,
    sanitizeResources: false,
    async fn() {
      assertBpf();
      assert.ok(
        !noServer,
        "the Pyroscope binary is missing: run make setup (fleet/pyroscope/build.sh)",
      );
      const srv = await startPyroscope();
      try {
        await fn(srv);
      } finally {
        await srv.stop();
      }
    },
  });
}

withServer(
  "agent: every interval arrives exactly, names and labels right, pprof files beside",
  async (srv) => {
    await whileFixtureRuns((t0) =>
      withTempDir(async (dir) => {
        const a = startAgent(
          `--pyroscope ${srv.url} --interval 2s --freq 99 --pprof-dir ${dir} --label team=profiling --flush-timeout 20s`,
        );
        // Four intervals (whatever a loaded machine makes of the start-up),
        // then the orderly stop every deployment uses: SIGTERM.
        await a.intervals(4);
        a.child.kill("SIGTERM");
        const r = await a.done;
        assert.equal(r.code, 0, r.text);
        const s = r.summary!;
        assert.ok(s.reconciliation.ok, s.reconciliation.line);
        assert.ok(s.intervals.length >= 3, `${s.intervals.length} intervals`);
        // Every consumed sample is in exactly one interval.
        assert.equal(sent(s), s.reconciliation.consumed);
        assert.equal(s.leftInSpool, 0);
        assert.equal(s.delivery.rejected, 0);
        // On the server: the fixture's service, exactly; and everything, exactly.
        const host = Deno.hostname();
        assert.equal(
          await serverTotal(
            srv,
            { service_name: "hotspots", hostname: host },
            t0,
          ),
          sent(s, "hotspots"),
        );
        assert.ok(
          sent(s, "hotspots") > 100,
          `${sent(s, "hotspots")} fixture samples`,
        );
        assert.equal(await serverTotal(srv, { hostname: host }, t0), sent(s));
        // Names: the fixture's hot functions, under its call chain.
        const stacks = await mergedStacks(srv.url, {
          profileType: PROFILE_CPU_SAMPLES,
          selector: { service_name: "hotspots" },
          start: t0 - 60_000,
          end: Date.now() + 60_000,
        });
        const top = stacks.find((x) => x.stack.at(-1) === "hot_alpha");
        assert.ok(
          top,
          `no stack ending in hot_alpha: ${
            stacks.slice(0, 3).map((x) => x.stack.join(";"))
          }`,
        );
        assert.ok(top.stack.includes("run_workload"));
        // Labels.
        const labels =
          (await series(srv.url, { matchers: ['{service_name="hotspots"}'] }))[
            0
          ];
        assert.equal(labels.hostname, host);
        assert.equal(labels.arch, Deno.build.arch);
        assert.equal(labels.kernel, Deno.osRelease());
        assert.equal(labels.team, "profiling");
        assert.equal(labels.comm, "hotspots");
        assert.equal(labels.cpu, undefined, "no per-CPU series");
        // The files: one per service and interval, with the accounting.
        const files = [...Deno.readDirSync(dir)].map((e) => e.name);
        assert.ok(files.some((f) => /^hotspots-\d+\.pb\.gz$/.test(f)));
        const p = await decodePprof(
          await Deno.readFile(
            `${dir}/${files.find((f) => f.startsWith("hotspots-"))}`,
          ),
        );
        const str = (i: number | bigint) => p.stringTable.strings[Number(i)];
        assert.ok(
          p.comment.map(str).some((c) =>
            /^samples consumed \d+, dropped by the kernel 0$/.test(c)
          ),
        );
      })
    );
  },
);

withServer(
  "agent: the server stopped for 30 s mid-run and restarted: nothing lost, totals exact",
  async (srv) => {
    await whileFixtureRuns(async (t0) => {
      const a = startAgent(
        `--pyroscope ${srv.url} --interval 2s --freq 49 --retry-max 2s --push-timeout 3s --service outage --flush-timeout 30s`,
      );
      await a.intervals(3);
      await srv.stopProcess();
      await new Promise((r) => setTimeout(r, 30_000));
      await srv.startProcess();
      // Some intervals after the restart, then the orderly stop.
      await a.intervals(a.cut() + 3);
      a.child.kill("SIGTERM");
      const r = await a.done;
      assert.equal(r.code, 0, r.text);
      const s = r.summary!;
      assert.ok(
        s.delivery.retried > 0,
        "pushes failed during the outage and were retried",
      );
      assert.equal(s.leftInSpool, 0, r.text);
      assert.equal(s.spool.dropped, 0);
      assert.equal(sent(s), s.reconciliation.consumed);
      assert.equal(
        await serverTotal(srv, { service_name: "outage" }, t0),
        sent(s),
      );
    });
  },
);

/**
 * A proxy in front of the real server that can answer 500 or 413, or hang,
 * for the next requests: the faults a real server shows under load.
 */
function faultProxy(target: string) {
  let mode: "pass" | "500" | "413" | "hang" = "pass";
  let faults = 0;
  const counts = { passed: 0, faulted: 0 };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      if (faults > 0 && url.pathname === "/ingest") {
        faults--;
        counts.faulted++;
        if (mode === "hang") {
          await new Promise((r) => setTimeout(r, 5000));
          return new Response("late", { status: 504 });
        }
        return new Response("fault", { status: Number(mode) });
      }
      counts.passed++;
      return await fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.body,
      });
    },
  );
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    fail(m: typeof mode, n: number) {
      mode = m;
      faults = n;
    },
    counts,
    close: () => server.shutdown(),
  };
}

withServer(
  "agent: 500s, hangs and a 413 are retried, bounded and counted; profiling goes on",
  async (srv) => {
    const proxy = faultProxy(srv.url);
    await whileFixtureRuns(async (t0) => {
      const a = startAgent(
        `--pyroscope ${proxy.url} --interval 2s --freq 49 --duration 20s --retry-max 1s --push-timeout 1s --service faults`,
      );
      await new Promise((r) => setTimeout(r, 3000));
      proxy.fail("500", 3);
      await new Promise((r) => setTimeout(r, 5000));
      proxy.fail("hang", 2);
      await new Promise((r) => setTimeout(r, 6000));
      // A refusal no retry changes: given up after 3 attempts, counted.
      proxy.fail("413", 3);
      const r = await a.done;
      assert.equal(r.code, 0, r.text);
      const s = r.summary!;
      assert.ok(
        s.intervals.length >= 8,
        "it kept cutting intervals through the faults",
      );
      assert.equal(s.delivery.rejected, 1, r.text);
      assert.ok(
        // Every faulted request was a failed attempt: retried, or (the
        // third 413) given up.
        s.delivery.retried + s.delivery.rejected >= proxy.counts.faulted - 1 &&
          proxy.counts.faulted >= 3 + 2 + 3 - 1,
        `retried ${s.delivery.retried}, rejected ${s.delivery.rejected}, faults served ${proxy.counts.faulted}`,
      );
      assert.ok(s.delivery.timeouts >= 2, `timeouts ${s.delivery.timeouts}`);
      assert.equal(s.leftInSpool, 0);
      // Exact: everything but the rejected interval is on the server.
      const rejected = s.intervals.length - s.delivery.pushed;
      assert.equal(rejected, 1);
      const total = await serverTotal(srv, { service_name: "faults" }, t0);
      const sizes = s.intervals.map((i) => i.samples);
      assert.ok(
        sizes.some((n) => total === sent(s) - n),
        `server ${total}: not the sum of all intervals but one (${sizes})`,
      );
    }).finally(() => proxy.close());
  },
);

withServer(
  "agent: Ctrl-C with the server down leaves the spool on disk; the next start sends it",
  async (srv) => {
    await whileFixtureRuns((t0) =>
      withTempDir(async (spool) => {
        await srv.stopProcess();
        const a = startAgent(
          `--pyroscope ${srv.url} --interval 1s --freq 49 --spool-dir ${spool} --flush-timeout 1s --retry-max 1s --service spooled`,
        );
        await new Promise((r) => setTimeout(r, 6000));
        const stopAt = performance.now();
        a.child.kill("SIGINT");
        const r = await a.done;
        assert.equal(r.code, 0, r.text);
        assert.ok(performance.now() - stopAt < 15_000, "the stop is bounded");
        const s = r.summary!;
        assert.equal(s.delivery.pushed, 0);
        assert.ok(
          s.leftInSpool >= 4,
          `${s.leftInSpool} left: ${
            JSON.stringify({ ...s, intervals: s.intervals.length })
          }\n${r.text}`,
        );
        assert.equal(s.leftInSpool, s.intervals.length);
        const files = [...Deno.readDirSync(spool)].filter((e) =>
          e.name.endsWith(".json")
        );
        assert.equal(
          files.length,
          s.leftInSpool,
          "every undelivered interval is on disk",
        );
        // The server comes back; a new agent sends what the first left.
        await srv.startProcess();
        const b = startAgent(
          `--pyroscope ${srv.url} --interval 2s --freq 49 --duration 5s --spool-dir ${spool} --service spooled`,
        );
        const r2 = await b.done;
        assert.equal(r2.code, 0, r2.text);
        const s2 = r2.summary!;
        assert.equal(s2.spool.recovered, s.leftInSpool);
        assert.equal(s2.leftInSpool, 0);
        assert.equal(
          await serverTotal(srv, { service_name: "spooled" }, t0),
          sent(s) + sent(s2),
        );
      })
    );
  },
);

/** Starts a relay (tests/kernel/fixtures/relay.ts), through `wrapper`. */
async function startRelay(args: string[], wrapper: string[] = []) {
  const argv = [
    ...wrapper,
    DENO,
    "run",
    "-A",
    `${ROOT}tests/kernel/fixtures/relay.ts`,
    ...args,
  ];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /ready/);
  reader.releaseLock();
  return child;
}

withServer(
  "agent: two agents, two hosts (one in a second network namespace with its own hostname), one server; a query by hostname separates them",
  async (srv) => {
    const ns = `streamprof-test-${Deno.pid}`;
    const sock = `/tmp/streamprof-relay-${Deno.pid}.sock`;
    const run = (args: string[]) =>
      new Deno.Command(args[0], { args: args.slice(1) }).output();
    assert.equal(
      (await run(["ip", "netns", "add", ns])).code,
      0,
      "ip netns add",
    );
    const children: Deno.ChildProcess[] = [];
    try {
      await whileFixtureRuns(async () => {
        await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
        // The namespace has its own loopback: the server is not on it.
        const port = new URL(srv.url).port;
        children.push(
          await startRelay(["unix-to-tcp", sock, `127.0.0.1:${port}`]),
        );
        children.push(
          await startRelay(["tcp-to-unix", `127.0.0.1:${port}`, sock], [
            "ip",
            "netns",
            "exec",
            ns,
          ]),
        );
        const t0 = Date.now();
        const common =
          `--pyroscope ${srv.url} --interval 2s --freq 49 --duration 8s --service fleet`;
        const a = startAgent(`${common} --hostname host-a`);
        // The second agent: another network namespace and another UTS
        // namespace whose hostname is host-b (no --hostname: it is what the
        // agent finds).
        const bDir = Deno.makeTempDirSync();
        const bJson = `${bDir}/summary.json`;
        const b = runCommand([
          "ip",
          "netns",
          "exec",
          ns,
          "unshare",
          "--uts",
          "sh",
          "-c",
          `hostname host-b && exec ${DENO} run -A ${ROOT}cli.ts agent --json ${bJson} ${common}`,
        ], { cwd: ROOT });
        const [ra, rb] = await Promise.all([a.done, b]);
        const bText = rb.stdout + rb.stderr;
        assert.equal(ra.code, 0, ra.text);
        assert.equal(rb.code, 0, bText);
        const sa = ra.summary!;
        const sb: Summary = JSON.parse(await Deno.readTextFile(bJson));
        Deno.removeSync(bDir, { recursive: true });
        assert.equal(sa.leftInSpool, 0);
        assert.equal(sb.leftInSpool, 0, bText);
        const hosts =
          (await series(srv.url, { matchers: ['{service_name="fleet"}'] }))
            .map((l) => l.hostname);
        assert.deepEqual([...new Set(hosts)].sort(), ["host-a", "host-b"]);
        // Each host's samples, exactly, under its own hostname.
        for (
          const [hostname, sum] of [["host-a", sa], ["host-b", sb]] as const
        ) {
          const selector = { service_name: "fleet", hostname };
          assert.equal(
            await serverTotal(srv, selector, t0),
            sent(sum),
            hostname,
          );
        }
        assert.ok(sent(sa) > 0 && sent(sb) > 0);
      });
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch { /* gone */ }
        await c.status;
      }
      await run(["ip", "netns", "del", ns]);
      try {
        Deno.removeSync(sock);
      } catch { /* gone */ }
    }
  },
);

withServer(
  "agent: memory stays flat over many intervals while processes come and go",
  async (srv) => {
    // Short-lived processes keep appearing, so names, symbols and stacks
    // churn; after a warm-up, heap, RSS and the symbol caches must not grow.
    const churn = setInterval(() => {
      new Deno.Command(FIXTURE, { args: ["--mode", "short"], stdout: "null" })
        .spawn();
    }, 300);
    const port = String(19_000 + (Deno.pid % 1000));
    const samples: { heap: number; rss: number; cache: number }[] = [];
    try {
      const a = startAgent(
        `--pyroscope ${srv.url} --interval 1s --freq 99 --duration 48s --metrics 127.0.0.1:${port}`,
      );
      await a.intervals(3);
      const gauge = (text: string, name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      const t0 = performance.now();
      // 40 s: the live gauges change at most every 10 s (a forced GC per
      // cut would cost too much at 1 s intervals), so four of them fall in.
      while (performance.now() - t0 < 40_000) {
        await new Promise((r) => setTimeout(r, 1500));
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`))
          .text();
        assert.match(text, /^# TYPE streamprof_events_total counter$/m);
        // The gauges measured after the agent's forced full GC: the heap
        // in use between two GCs carries garbage (measured swinging 9 to
        // 13 MB here), which says nothing about a leak.
        samples.push({
          heap: gauge(text, "streamprof_heap_live_bytes"),
          rss: gauge(text, "streamprof_rss_anon_bytes"),
          cache: gauge(text, "streamprof_symbol_cache_bytes"),
        });
      }
      const r = await a.done;
      assert.equal(r.code, 0, r.text);
      assert.ok(r.summary!.reconciliation.ok, r.summary!.reconciliation.line);
      assert.ok(samples.length >= 9);
      assert.ok(
        samples.every((s) => s.heap > 0 && s.rss > 0),
        "a forced GC measured the live heap before the first sample",
      );
      // The live heap (after the agent's forced full GC) and anonymous
      // RSS, from the second third of the run to its end, must not grow
      // beyond the stated bounds: churn must not accumulate.
      const third = Math.floor(samples.length / 3);
      const mid = samples[third];
      const last = samples[samples.length - 1];
      const maxOf = (k: "heap" | "rss" | "cache") =>
        Math.max(...samples.map((s) => s[k]));
      assert.ok(
        last.heap - mid.heap < 1e6,
        `live heap grew ${last.heap - mid.heap} (${
          samples.map((s) => s.heap)
        })`,
      );
      assert.ok(
        last.rss - mid.rss < 4e6,
        `anonymous RSS grew ${last.rss - mid.rss}`,
      );
      assert.ok(
        maxOf("cache") <= 64 * 2 ** 20,
        "the symbol caches stay within their bound",
      );
    } finally {
      clearInterval(churn);
    }
  },
);
