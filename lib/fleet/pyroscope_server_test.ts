/**
 * Tests of the Pyroscope harness and client against the real server (the
 * binary fleet/pyroscope/build.sh caches). Without the binary the server
 * tests are ignored locally and FAIL when CI=true.
 *
 * The pprof profiles are encoded by hand here (a few protobuf fields, see
 * {@link encodeCpuPprof}): the project's npm pins do not include a pprof
 * encoder, and `nodeModulesDir: "manual"` keeps `npm:` imports to what
 * package.json installs.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  flameGraphFunctions,
  ingestName,
  ingestPprof,
  labelNames,
  labelSelector,
  labelValues,
  mergedStacks,
  PROFILE_CPU_NANOS,
  PROFILE_CPU_SAMPLES,
  profileTypes,
  PyroscopeHttpError,
  selectMergeStacktraces,
  selectSeries,
  series,
  totalValue,
} from "./pyroscope_client.ts";
import {
  PYROSCOPE_VERSION,
  pyroscopeArgs,
  pyroscopeBinaryAvailable,
  PyroscopeBinaryMissingError,
  pyroscopeBinaryPath,
  type PyroscopeServer,
  PyroscopeStartError,
  startPyroscope,
} from "./pyroscope_server.ts";

const HAVE_BINARY = pyroscopeBinaryAvailable();
const IN_CI = Deno.env.get("CI") === "true";
/** Server tests run when the binary is there, and must run (and fail) in CI. */
const IGNORE_SERVER = !HAVE_BINARY && !IN_CI;
if (IGNORE_SERVER) {
  console.warn(
    `pyroscope_server_test: no binary at ${pyroscopeBinaryPath()}; server tests ignored (run fleet/pyroscope/build.sh)`,
  );
}

// ---------------------------------------------------------------------------
// A hand-made pprof encoder: just the fields these tests need.

/** Protobuf writer: varints, length-delimited fields, packed repeated. */
class ProtoWriter {
  readonly bytes: number[] = [];
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }
  /** A varint field (wire type 0), left out when 0 as proto3 does. */
  int(field: number, v: number | bigint): void {
    if (v === 0 || v === 0n) return;
    this.varint(field << 3);
    this.varint(v);
  }
  /** A length-delimited field (wire type 2). */
  raw(field: number, data: ArrayLike<number>): void {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    for (let i = 0; i < data.length; i++) this.bytes.push(data[i]);
  }
  message(field: number, fill: (w: ProtoWriter) => void): void {
    const w = new ProtoWriter();
    fill(w);
    this.raw(field, w.bytes);
  }
  packed(field: number, values: (number | bigint)[]): void {
    const w = new ProtoWriter();
    for (const v of values) w.varint(v);
    this.raw(field, w.bytes);
  }
}

/** One stack (root first) seen `count` times. */
interface FixtureSample {
  stack: string[];
  count: number;
}

/**
 * A CPU profile as the agent will send: sample types `samples/count` and
 * `cpu/nanoseconds` (count × period), period type `cpu/nanoseconds`.
 * Profile.proto fields: 1 sample_type, 2 sample (1 location_id, 2 value),
 * 4 location (1 id, 4 line{1 function_id}), 5 function (1 id, 2 name),
 * 6 string_table, 9 time_nanos, 10 duration_nanos, 11 period_type, 12 period.
 */
function encodeCpuPprof(o: {
  samples: FixtureSample[];
  timeMs: number;
  periodNs: number;
  durationNs?: number;
}): Uint8Array {
  const strings = [""];
  const str = (s: string) => {
    let i = strings.indexOf(s);
    if (i < 0) i = strings.push(s) - 1;
    return i;
  };
  const fnIds = new Map<string, number>();
  const fn = (name: string) => {
    let id = fnIds.get(name);
    if (id === undefined) {
      id = fnIds.size + 1;
      fnIds.set(name, id);
      str(name);
    }
    return id;
  };
  const w = new ProtoWriter();
  const [samples, count, cpu, nanos] = [
    "samples",
    "count",
    "cpu",
    "nanoseconds",
  ]
    .map(str);
  w.message(1, (t) => (t.int(1, samples), t.int(2, count)));
  w.message(1, (t) => (t.int(1, cpu), t.int(2, nanos)));
  for (const s of o.samples) {
    // location_id is leaf first; here one location per function, same id.
    const locs = s.stack.slice().reverse().map(fn);
    w.message(2, (m) => {
      m.packed(1, locs);
      m.packed(2, [s.count, s.count * o.periodNs]);
    });
  }
  for (const id of fnIds.values()) {
    w.message(4, (l) => (l.int(1, id), l.message(4, (ln) => ln.int(1, id))));
  }
  for (const [name, id] of fnIds) {
    w.message(5, (f) => (f.int(1, id), f.int(2, str(name))));
  }
  for (const s of strings) w.raw(6, new TextEncoder().encode(s));
  w.int(9, BigInt(o.timeMs) * 1_000_000n);
  w.int(10, o.durationNs ?? 0);
  w.message(11, (t) => (t.int(1, cpu), t.int(2, nanos)));
  w.int(12, o.periodNs);
  return new Uint8Array(w.bytes);
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ---------------------------------------------------------------------------
// Listening sockets of a process, from /proc (to prove "only 127.0.0.1").

/** `ADDR:PORT` of every TCP listener and UDP socket the process holds. */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(
        Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`),
      );
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const out: string[] = [];
  for (const proto of ["tcp", "tcp6", "udp", "udp6"]) {
    const lines = Deno.readTextFileSync(`/proc/${pid}/net/${proto}`).trim()
      .split("\n").slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const [local, state, inode] = [f[1], f[3], f[9]];
      if (!inodes.has(inode)) continue;
      if (proto.startsWith("tcp") && state !== "0A") continue; // LISTEN only
      const [hex, port] = local.split(":");
      const addr = hex.length === 8
        ? [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16))
          .join(".")
        : `[${hex}]`;
      out.push(`${proto} ${addr}:${parseInt(port, 16)}`);
    }
  }
  return out.sort();
}

/** Runs fn against a fresh server, printing the server's log if it throws. */
async function withServer(fn: (s: PyroscopeServer) => Promise<void>) {
  const server = await startPyroscope();
  try {
    await fn(server);
  } catch (err) {
    console.error(
      `--- Pyroscope log (${server.logPath}):\n${server.logTail(40)}`,
    );
    throw err;
  } finally {
    await server.stop();
  }
}

/**
 * Registers a test against a fresh server (see {@link withServer}), ignored
 * where the binary is missing, except in CI.
 */
function serverTest(name: string, fn: (s: PyroscopeServer) => Promise<void>) {
  Deno.test({ name, ignore: IGNORE_SERVER, fn: () => withServer(fn) });
}

// ---------------------------------------------------------------------------
// Tests that need no server.

Deno.test("PYROSCOPE_VERSION is the version fleet/pyroscope/go.mod pins", () => {
  const gomod = Deno.readTextFileSync(
    new URL("../../fleet/pyroscope/go.mod", import.meta.url),
  );
  const m = /^\s*github\.com\/grafana\/pyroscope (v\S+)/m.exec(gomod);
  assert.ok(m, "go.mod requires github.com/grafana/pyroscope");
  assert.equal(m[1], PYROSCOPE_VERSION);
});

Deno.test("startPyroscope: a missing binary is a typed error naming build.sh", async () => {
  const err = await startPyroscope({ binary: "/nonexistent/pyroscope" }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err instanceof PyroscopeBinaryMissingError, String(err));
  assert.match(err.message, /run fleet\/pyroscope\/build\.sh/);
});

Deno.test("pyroscopeArgs: every address flag is 127.0.0.1, data under dir, no phoning home", () => {
  const args = pyroscopeArgs({
    dir: "/d",
    httpPort: 1,
    grpcPort: 2,
    memberlistPort: 3,
  });
  const addrs = args.filter((a) => /-(addr|address)=/.test(a));
  assert.ok(addrs.length >= 10, addrs.join(" "));
  for (const a of addrs) assert.match(a, /=127\.0\.0\.1$/);
  for (const a of args.filter((a) => /(dir|path)=/.test(a))) {
    assert.match(a, /=\/d\/data\//);
  }
  assert.ok(args.includes("-usage-stats.enabled=false"));
  assert.ok(args.includes("-self-profiling.disable-push=true"));
});

Deno.test("ingestName and labelSelector encode what Pyroscope parses", () => {
  assert.equal(
    ingestName("streamprof", { hostname: "a", cpu: "1" }),
    "streamprof{cpu=1,hostname=a}",
  );
  assert.equal(ingestName("app.cpu"), "app.cpu{}");
  const bad: Record<string, string>[] = [
    { "host name": "a" },
    { __name__: "x" },
    { h: "a}" },
    { h: "a,b" },
    { h: " a" },
    { h: "" },
  ];
  for (const labels of bad) {
    assert.throws(
      () => ingestName("app", labels),
      TypeError,
      JSON.stringify(labels),
    );
  }
  assert.throws(() => ingestName("my app"), TypeError);
  assert.equal(labelSelector({ a: 'x"y\\z' }), '{a="x\\"y\\\\z"}');
});

// ---------------------------------------------------------------------------
// Tests against the real server.

const PERIOD_NS = 10_101_010; // ~99 Hz

/**
 * Pushes a gzipped pprof of one stack seen `count` times, timestamped
 * `timeMs`, to the server at `url` as the interval `interval`.
 */
async function pushStack(
  url: string,
  interval: { name: string; from: number; until: number },
  stack: string[],
  count: number,
  timeMs: number,
): Promise<void> {
  const pprof = encodeCpuPprof({
    samples: [{ stack, count }],
    timeMs,
    periodNs: PERIOD_NS,
  });
  await ingestPprof(url, interval, await gzip(pprof));
}

/** The samples the server at `url` holds for a service in [start, end]. */
function serviceSamples(
  url: string,
  service_name: string,
  range: { start: number; end: number },
): Promise<number> {
  return totalValue(url, {
    profileType: PROFILE_CPU_SAMPLES,
    selector: { service_name },
    ...range,
  });
}

serverTest(
  "pyroscope: two hosts' pprof pushes come back exactly (totals, stacks, labels)",
  async (s) => {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const socks = listeningSockets(s.pid!);
    assert.ok(socks.length >= 3, socks.join(", "));
    for (const sock of socks) {
      assert.match(sock, / 127\.0\.0\.1:\d+$/, socks.join(", "));
    }

    const until = Date.now() - 20_000;
    const from = until - 10_000;
    const hosts: Record<string, FixtureSample[]> = {
      "host-a": [
        { stack: ["main", "work", "leafA"], count: 5 },
        { stack: ["main", "idle"], count: 2 },
      ],
      "host-b": [
        { stack: ["main", "work", "leafB"], count: 11 },
        { stack: ["main", "idle"], count: 1 },
      ],
    };
    const app = "streamprof-test";
    for (const [hostname, samples] of Object.entries(hosts)) {
      const pprof = await gzip(
        encodeCpuPprof({ samples, timeMs: from, periodNs: PERIOD_NS }),
      );
      await ingestPprof(s.url, {
        name: app,
        from,
        until,
        labels: { hostname },
      }, pprof);
    }
    // Queryable at once (no flush needed): the ingester answers from its head.
    const range = { start: from - 1000, end: until + 1000 };
    for (const [hostname, samples] of Object.entries(hosts)) {
      const n = samples.reduce((a, x) => a + x.count, 0);
      const selector = { service_name: app, hostname };
      assert.equal(
        await totalValue(s.url, {
          profileType: PROFILE_CPU_SAMPLES,
          selector,
          ...range,
        }),
        n,
      );
      assert.equal(
        await totalValue(s.url, {
          profileType: PROFILE_CPU_NANOS,
          selector,
          ...range,
        }),
        n * PERIOD_NS,
      );
      const stacks = await mergedStacks(s.url, {
        profileType: PROFILE_CPU_SAMPLES,
        selector,
        ...range,
      });
      assert.deepEqual(
        stacks,
        samples.map((x) => ({ stack: x.stack, value: x.count })).sort((
          a,
          b,
        ) => b.value - a.value),
      );
    }
    assert.equal(
      await totalValue(s.url, {
        profileType: PROFILE_CPU_SAMPLES,
        selector: { service_name: app },
        ...range,
      }),
      19,
    );
    assert.equal(
      await totalValue(s.url, {
        profileType: PROFILE_CPU_SAMPLES,
        selector: { hostname: "nope" },
        ...range,
      }),
      0,
    );

    // Per-host totals in one call.
    const perHost = await selectSeries(s.url, {
      profileType: PROFILE_CPU_SAMPLES,
      ...range,
      step: 1,
      groupBy: ["hostname"],
    });
    assert.deepEqual(
      Object.fromEntries(
        perHost.map((x) => [
          x.labels.hostname,
          x.points.reduce((a, [, v]) => a + v, 0),
        ]),
      ),
      { "host-a": 7, "host-b": 12 },
    );

    const fg = await selectMergeStacktraces(s.url, {
      profileType: PROFILE_CPU_SAMPLES,
      ...range,
    });
    assert.equal(fg.total, 19);
    assert.deepEqual(flameGraphFunctions(fg), [
      { name: "leafB", self: 11, total: 11 },
      { name: "leafA", self: 5, total: 5 },
      { name: "idle", self: 3, total: 3 },
      { name: "main", self: 0, total: 19 },
      { name: "work", self: 0, total: 16 },
    ]);

    // Labels: ours, plus the ones Pyroscope adds.
    assert.deepEqual(await labelValues(s.url, "hostname", range), [
      "host-a",
      "host-b",
    ]);
    assert.deepEqual(await labelValues(s.url, "service_name", range), [app]);
    assert.deepEqual(await labelValues(s.url, "__name__", range), [
      "process_cpu",
    ]);
    const names = await labelNames(s.url, range);
    for (
      const n of [
        "__name__",
        "__profile_type__",
        "hostname",
        "pyroscope_spy",
        "service_name",
      ]
    ) {
      assert.ok(names.includes(n), `${n} in ${names}`);
    }
    assert.deepEqual(await profileTypes(s.url, range), [
      PROFILE_CPU_NANOS,
      PROFILE_CPU_SAMPLES,
    ]);
    const sets = await series(s.url, {
      matchers: [`{service_name="${app}"}`],
      ...range,
    });
    assert.equal(sets.length, 4); // 2 hosts x 2 profile types
    for (const x of sets) {
      assert.equal(x.__name__, "process_cpu");
      assert.equal(x.pyroscope_spy, "unknown");
      assert.equal(x.__delta__, undefined);
    }
  },
);

serverTest(
  "pyroscope: quirks the agent must respect (timestamps, duplicates, window, names)",
  async (s) => {
    const T = Date.now() - 60_000;
    const push = (
      name: string,
      count: number,
      timeMs: number,
      o: { from?: number } = {},
    ) => {
      const from = o.from ?? timeMs;
      const interval = { name, from, until: from + 10_000 };
      return pushStack(s.url, interval, ["main", "f"], count, timeMs);
    };
    const total = (name: string, start: number, end: number) =>
      serviceSamples(s.url, name, { start, end });

    // The pprof's time_nanos is the timestamp; from is used only when it is 0.
    await push("ts", 3, T, { from: T + 30_000 });
    assert.equal(await total("ts", T - 1, T + 1), 3);
    assert.equal(await total("ts", T + 29_000, T + 40_000), 0);
    await push("ts0", 4, 0, { from: T });
    assert.equal(await total("ts0", T - 1, T + 1), 4);
    // Both ends inclusive, but an empty range (start == end) finds nothing.
    assert.equal(await total("ts", T, T + 1), 3);
    assert.equal(await total("ts", T - 1, T), 3);
    assert.equal(await total("ts", T, T), 0);

    // Same series and same millisecond: the querier keeps only the first
    // (it dedupes replicas by series + timestamp), whatever the content.
    await push("dup", 5, T);
    await push("dup", 6, T);
    assert.equal(await total("dup", T - 1000, T + 1000), 5);
    await push("dup1ms", 5, T);
    await push("dup1ms", 6, T + 1);
    assert.equal(await total("dup1ms", T - 1000, T + 1000), 11);

    // Outside [now - 1h, now + 10m] is refused with 422.
    for (const t of [Date.now() - 2 * 3600_000, Date.now() + 20 * 60_000]) {
      const err = await push("window", 1, t).then(() => undefined, (e) => e);
      assert.ok(err instanceof PyroscopeHttpError, String(err));
      assert.equal(err.status, 422);
      assert.match(err.body, /outside of ingestion window/);
    }
    // An ungzipped body is accepted too; a `.cpu` suffix stays in service_name.
    await ingestPprof(
      s.url,
      { name: "app.cpu", from: T, until: T + 1 },
      encodeCpuPprof({
        samples: [{ stack: ["x"], count: 9 }],
        timeMs: T,
        periodNs: 1,
      }),
    );
    assert.equal(await total("app.cpu", T - 1, T + 1), 9);
  },
);

serverTest(
  "pyroscope: restart keeps port and data after SIGTERM; SIGKILL loses the unflushed head",
  async (s) => {
    const T = Date.now() - 30_000;
    const range = { start: T - 1000, end: Date.now() + 1000 };
    const interval = { from: T, until: T + 10_000 };
    const push = (name: string, count: number) =>
      pushStack(s.url, { name, ...interval }, ["main", name], count, T);
    const total = (name: string) => serviceSamples(s.url, name, range);
    const url = s.url;

    await push("graceful", 3);
    assert.equal(await total("graceful"), 3);
    assert.equal(await s.stopProcess(), 0); // SIGTERM: flushes the head to a block
    assert.equal(s.running, false);
    await assert.rejects(fetch(`${url}/ready`)); // an outage: nothing listens
    await s.startProcess();
    assert.equal(s.url, url);
    assert.equal(await total("graceful"), 3);

    await push("crashed", 4);
    assert.equal(await total("crashed"), 4);
    assert.equal(await s.stopProcess({ signal: "SIGKILL" }), 137);
    await s.restart(); // not running: restart just starts it
    assert.equal(await total("graceful"), 3);
    // Pyroscope 1.12 has no write-ahead log: what was only in the head is gone.
    assert.equal(await total("crashed"), 0);
  },
);

Deno.test({
  name:
    "pyroscope: a taken port is a PyroscopeStartError with the log's reason",
  ignore: IGNORE_SERVER,
  async fn() {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const httpPort = (taken.addr as Deno.NetAddr).port;
      const err = await startPyroscope({ httpPort, readyTimeoutMs: 20_000 })
        .then(async (s) => (await s.stop(), undefined), (e) => e);
      assert.ok(err instanceof PyroscopeStartError, String(err));
      assert.match(err.message, /exited with code 1 while starting/);
      assert.match(err.message, /address already in use/);
    } finally {
      taken.close();
    }
  },
});
