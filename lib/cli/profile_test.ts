import assert from "node:assert";
import { onlineCpus } from "../common/cpus.ts";
import { UsageError } from "../common/errors.ts";
import {
  AUTO_RING_MAX_BYTES,
  autoRingBytes,
  maxPollInterval,
  SAMPLING_MAX_POLL_MS,
} from "../profiler/poll_policy.ts";
import {
  parseProfileOptions,
  PROFILE_HELP,
  type ProfileCommandOptions,
} from "./profile.ts";

const parse = (args: string[]) =>
  parseProfileOptions(args) as ProfileCommandOptions;

Deno.test("profile options: --serve, its address rule and duration", () => {
  assert.equal(parse([]).durationMs, 10_000);
  assert.equal(parse([]).serve, undefined);
  const s = parse(["--serve", "8080"]);
  assert.deepEqual(s.serve, { hostname: "127.0.0.1", port: 8080 });
  assert.equal(
    s.durationMs,
    Infinity,
    "--serve without --duration: until stopped",
  );
  assert.equal(parse(["--serve", "0", "--duration", "5s"]).durationMs, 5000);
  assert.deepEqual(parse(["--serve", "[::1]:9000"]).serve, {
    hostname: "::1",
    port: 9000,
  });
  assert.deepEqual(parse(["--serve", "localhost:9000"]).serve, {
    hostname: "localhost",
    port: 9000,
  });
  for (const bad of ["", "x", "70000", "1.2.3.4:", ":80", "host:port"]) {
    assert.throws(() => parse(["--serve", bad]), UsageError, bad);
  }
  assert.throws(
    () => parse(["--serve", "0.0.0.0:8080"]),
    /--serve-allow-remote/,
  );
  assert.deepEqual(
    parse(["--serve", "0.0.0.0:8080", "--serve-allow-remote"]).serve,
    { hostname: "0.0.0.0", port: 8080 },
  );
  assert.throws(() => parse(["--serve-allow-remote"]), /goes with --serve/);
  assert.throws(
    () => parse(["--serve", "8080", "--no-stacks"]),
    /needs stacks/,
  );
});

Deno.test("profile options: the file formats need stacks and a writable path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const o = parse([
      "--pprof",
      `${dir}/a.pb.gz`,
      "--speedscope",
      `${dir}/a.json`,
      "--flamegraph",
      `${dir}/a.html`,
    ]);
    assert.deepEqual([o.pprof, o.speedscope, o.flamegraph], [
      `${dir}/a.pb.gz`,
      `${dir}/a.json`,
      `${dir}/a.html`,
    ]);
    for (const f of ["pprof", "speedscope", "flamegraph"]) {
      assert.throws(
        () => parse([`--${f}`, `${dir}/x`, "--no-stacks"]),
        new RegExp(`--${f} needs stacks`),
      );
      assert.throws(
        () => parse([`--${f}`, "/nonexistent-dir/x"]),
        new RegExp(`--${f}`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("profile --help: the formats, how to open them, the live view", () => {
  for (
    const s of [
      "--pprof FILE",
      "--speedscope FILE",
      "--flamegraph FILE",
      "--serve [ADDR:]PORT",
      "--serve-allow-remote",
      "go tool pprof -http",
      "speedscope",
      "until Ctrl-C",
    ]
  ) assert.ok(PROFILE_HELP.includes(s), s);
});

Deno.test("profile options: --ring-bytes auto follows the rate; a size given is kept", () => {
  const cpus = onlineCpus().length;
  const auto = (freq: string) =>
    autoRingBytes({ frequency: Number(freq) }, cpus);
  const byDefault = parse([]);
  assert.equal(byDefault.ringBytes, auto(String(byDefault.frequency)));
  for (const freq of ["99", "1000", "10000", "50000"]) {
    const o = parse(["--freq", freq]);
    assert.equal(o.ringBytes, auto(freq));
    // A quarter of the ring holds one longest poll interval of the worst
    // case, or the ring is at its automatic maximum.
    assert.ok(
      maxPollInterval({ frequency: Number(freq) }, cpus, o.ringBytes) ===
          SAMPLING_MAX_POLL_MS || o.ringBytes === AUTO_RING_MAX_BYTES,
      `--freq ${freq}: ${o.ringBytes} bytes`,
    );
  }
  assert.equal(parse(["--ring-bytes", "auto"]).ringBytes, byDefault.ringBytes);
  assert.equal(
    parse(["--freq", "10000", "--ring-bytes", "4M"]).ringBytes,
    4 << 20,
  );
  assert.throws(() => parse(["--ring-bytes", "3M"]), UsageError);
});
