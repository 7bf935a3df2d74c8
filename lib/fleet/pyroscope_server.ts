/**
 * A real Grafana Pyroscope server for tests: the binary that
 * `fleet/pyroscope/build.sh` builds into the cache, started in single-binary
 * mode (`-target=all`) with every listener on 127.0.0.1 on free ports, usage
 * statistics and self-profiling push off, and all of its data in a temporary
 * folder that {@link PyroscopeServer.stop} removes.
 *
 * The server can be taken down and brought back on the same ports and data
 * folder ({@link PyroscopeServer.stopProcess}, {@link PyroscopeServer.startProcess},
 * {@link PyroscopeServer.restart}) for outage tests.
 *
 * @example
 * ```ts ignore
 * import { startPyroscope } from "./pyroscope_server.ts";
 * const server = await startPyroscope();
 * try {
 *   console.log(server.url); // http://127.0.0.1:PORT
 * } finally {
 *   await server.stop();
 * }
 * ```
 * @module
 */
import { cacheDir } from "../common/cache_dir.ts";
import { EnvironmentError } from "../common/errors.ts";

/** The Pyroscope release that fleet/pyroscope/go.mod pins (a test checks). */
export const PYROSCOPE_VERSION = "v1.12.0";

/** The script that builds the cached binary. */
export const PYROSCOPE_BUILD_SCRIPT = "fleet/pyroscope/build.sh";

/**
 * The cached Pyroscope binary is missing (or not executable): build it with
 * `fleet/pyroscope/build.sh`. An {@link EnvironmentError} (exit code 3).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { PyroscopeBinaryMissingError } from "./pyroscope_server.ts";
 * const e = new PyroscopeBinaryMissingError("/nowhere/pyroscope");
 * assert.match(e.message, /run fleet\/pyroscope\/build\.sh/);
 * assert.equal(e.path, "/nowhere/pyroscope");
 * ```
 */
export class PyroscopeBinaryMissingError extends EnvironmentError {
  /** Where the binary was looked for. */
  readonly path: string;
  constructor(path: string, o: { cause?: unknown } = {}) {
    super(`no Pyroscope binary at ${path}`, {
      hint: `run ${PYROSCOPE_BUILD_SCRIPT}`,
      cause: o.cause,
    });
    this.name = "PyroscopeBinaryMissingError";
    this.path = path;
  }
}

/**
 * The server did not become ready, or exited while starting. The message ends
 * with the tail of its log.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { PyroscopeStartError } from "./pyroscope_server.ts";
 * const e = new PyroscopeStartError("exited with code 1", "/tmp/x.log", "boom");
 * assert.match(e.message, /exited with code 1.*\/tmp\/x\.log.*boom/s);
 * ```
 */
export class PyroscopeStartError extends Error {
  /** The server's log file. */
  readonly logPath: string;
  constructor(what: string, logPath: string, logTail: string) {
    super(`Pyroscope ${what}; log ${logPath}, last lines:\n${logTail}`);
    this.name = "PyroscopeStartError";
    this.logPath = logPath;
  }
}

/**
 * Where `fleet/pyroscope/build.sh` puts the binary for a version:
 * `${XDG_CACHE_HOME:-$HOME/.cache}/streamprof/pyroscope/<version>/pyroscope`.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pyroscopeBinaryPath } from "./pyroscope_server.ts";
 * assert.match(pyroscopeBinaryPath("v1.12.0"), /\/streamprof\/pyroscope\/v1\.12\.0\/pyroscope$/);
 * ```
 */
export function pyroscopeBinaryPath(
  version: string = PYROSCOPE_VERSION,
): string {
  return cacheDir("pyroscope", version, "pyroscope");
}

/**
 * Whether the cached binary is there and executable (without starting it).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pyroscopeBinaryAvailable } from "./pyroscope_server.ts";
 * assert.equal(pyroscopeBinaryAvailable("/nowhere/pyroscope"), false);
 * ```
 */
export function pyroscopeBinaryAvailable(
  path: string = pyroscopeBinaryPath(),
): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o755) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Options of {@link startPyroscope}; all optional. */
export interface PyroscopeOptions {
  /** The binary; default {@link pyroscopeBinaryPath}(). */
  binary?: string;
  /** The folder for data and log; default a new temporary folder. It is
   * removed by stop() only when startPyroscope made it. */
  dir?: string;
  /** HTTP port; default a free one. */
  httpPort?: number;
  /** How long to wait for /ready, in ms; default 60000. */
  readyTimeoutMs?: number;
  /** Passed after the harness's own flags (a later flag wins). */
  extraArgs?: string[];
  /** `-log.level`; default "warn" (startup and ingest errors still show). */
  logLevel?: "debug" | "info" | "warn" | "error";
}

/** Options of {@link PyroscopeServer.stopProcess}. */
export interface StopOptions {
  /** SIGTERM (default: a graceful shutdown that flushes the ingester) or
   * SIGKILL (a crash). */
  signal?: "SIGTERM" | "SIGKILL";
  /** After this many ms of SIGTERM, SIGKILL; default 30000. */
  timeoutMs?: number;
}

/** A running (or stopped, for an outage) Pyroscope started by {@link startPyroscope}. */
export interface PyroscopeServer {
  /** `http://127.0.0.1:PORT`: ingest, query API and /ready. */
  readonly url: string;
  /** The HTTP port (stable across restarts). */
  readonly httpPort: number;
  /** The gRPC port (internal; stable across restarts). */
  readonly grpcPort: number;
  /** The memberlist gossip port (TCP, internal; stable across restarts). */
  readonly memberlistPort: number;
  /** The folder holding `data/` (and the log). */
  readonly dir: string;
  /** The server's combined stdout and stderr, appended across restarts. */
  readonly logPath: string;
  /** The pid of the current process, or undefined while stopped. */
  readonly pid: number | undefined;
  /** Whether a process is running now. */
  readonly running: boolean;
  /** The command line, for messages. */
  readonly args: readonly string[];
  /** Stops the process (if running) and removes the folder it made. */
  stop(): Promise<void>;
  /** Stops the process, keeping ports and data (an outage). Resolves to the
   * exit code. */
  stopProcess(o?: StopOptions): Promise<number>;
  /** Starts the process again on the same ports and data; waits for /ready. */
  startProcess(): Promise<void>;
  /** stopProcess(o) then startProcess(). */
  restart(o?: StopOptions): Promise<void>;
  /** The last `lines` lines of the log. */
  logTail(lines?: number): string;
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, close).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { freePort } from "./pyroscope_server.ts";
 * const p = freePort();
 * assert.ok(p > 0 && p < 65536);
 * ```
 */
export function freePort(avoid: ReadonlySet<number> = new Set()): number {
  for (let i = 0; i < 50; i++) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (!avoid.has(port)) return port;
  }
  throw new Error("freePort: no free port found in 50 tries");
}

/**
 * The command-line flags the harness runs Pyroscope with (exported for
 * reading and for tests): single binary, everything on 127.0.0.1, no usage
 * statistics, no self-profiling push, no tracing, data under `dir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { pyroscopeArgs } from "./pyroscope_server.ts";
 * const args = pyroscopeArgs({ dir: "/tmp/p", httpPort: 4040, grpcPort: 9095, memberlistPort: 7946 });
 * assert.ok(args.includes("-usage-stats.enabled=false"));
 * assert.ok(args.includes("-self-profiling.disable-push=true"));
 * assert.ok(args.includes("-server.http-listen-address=127.0.0.1"));
 * ```
 */
export function pyroscopeArgs(o: {
  dir: string;
  httpPort: number;
  grpcPort: number;
  memberlistPort: number;
  logLevel?: string;
}): string[] {
  const d = `${o.dir}/data`;
  const lo = "127.0.0.1";
  return [
    "-target=all",
    "-usage-stats.enabled=false",
    "-self-profiling.disable-push=true",
    "-tracing.enabled=false",
    "-config.show_banner=false",
    `-log.level=${o.logLevel ?? "warn"}`,
    // Listeners.
    `-server.http-listen-address=${lo}`,
    `-server.http-listen-port=${o.httpPort}`,
    `-server.grpc-listen-address=${lo}`,
    `-server.grpc-listen-port=${o.grpcPort}`,
    `-memberlist.bind-addr=${lo}`,
    `-memberlist.bind-port=${o.memberlistPort}`,
    `-memberlist.advertise-addr=${lo}`,
    `-memberlist.advertise-port=${o.memberlistPort}`,
    // What each ring advertises (auto-detection would pick a private
    // interface, which nothing listens on).
    `-ingester.lifecycler.addr=${lo}`,
    `-distributor.ring.instance-addr=${lo}`,
    `-compactor.ring.instance-addr=${lo}`,
    `-query-scheduler.ring.instance-addr=${lo}`,
    `-store-gateway.sharding-ring.instance-addr=${lo}`,
    `-overrides-exporter.ring.instance-addr=${lo}`,
    `-query-frontend.instance-addr=${lo}`,
    // Ready as soon as the ring is: the 15 s default only paces rollouts.
    "-ingester.min-ready-duration=0s",
    // Storage, all under dir.
    `-pyroscopedb.data-path=${d}/local`,
    "-storage.backend=filesystem",
    `-storage.filesystem.dir=${d}/shared`,
    `-compactor.data-dir=${d}/compactor`,
    `-blocks-storage.bucket-store.sync-dir=${d}/sync`,
    // Never delete test data because the disk looks full.
    "-pyroscopedb.retention-policy-disable=true",
  ];
}

/** Reads the last `lines` lines of a file ("" if it cannot be read). */
function tail(path: string, lines: number): string {
  try {
    const text = Deno.readTextFileSync(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts Pyroscope and waits until `GET /ready` answers 200. Throws
 * {@link PyroscopeBinaryMissingError} if the cached binary is missing and
 * {@link PyroscopeStartError} if it exits or is not ready in time.
 *
 * @example
 * ```ts ignore
 * import { startPyroscope } from "./pyroscope_server.ts";
 * const server = await startPyroscope({ readyTimeoutMs: 30_000 });
 * await server.restart();   // same port, same data
 * await server.stop();      // kills it, removes its folder
 * ```
 */
export async function startPyroscope(
  opts: PyroscopeOptions = {},
): Promise<PyroscopeServer> {
  const binary = opts.binary ?? pyroscopeBinaryPath();
  if (!pyroscopeBinaryAvailable(binary)) {
    throw new PyroscopeBinaryMissingError(binary);
  }
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ??
    await Deno.makeTempDir({ prefix: "streamprof-pyroscope-" });
  await Deno.mkdir(`${dir}/data/local`, { recursive: true });
  const used = new Set<number>();
  const pick = () => {
    const p = freePort(used);
    used.add(p);
    return p;
  };
  let httpPort = 0, grpcPort = 0, memberlistPort = 0;
  let args: string[] = [];
  let url = "";
  // Free ports are probed, then bound by Pyroscope a moment later: if another
  // process took one meanwhile, the first start is retried on new ones.
  const choosePorts = () => {
    httpPort = opts.httpPort ?? pick();
    used.add(httpPort);
    grpcPort = pick();
    memberlistPort = pick();
    args = [
      ...pyroscopeArgs({
        dir,
        httpPort,
        grpcPort,
        memberlistPort,
        logLevel: opts.logLevel,
      }),
      ...(opts.extraArgs ?? []),
    ];
    url = `http://127.0.0.1:${httpPort}`;
  };
  const logPath = `${dir}/pyroscope.log`;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;

  let child: Deno.ChildProcess | undefined;
  let exited: Promise<Deno.CommandStatus> | undefined;
  let exitStatus: Deno.CommandStatus | undefined;

  const spawn = () => {
    // The shell only redirects, then execs: the pid is Pyroscope's own.
    child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'exec "$0" "$@" >>"$PYROSCOPE_LOG" 2>&1',
        binary,
        ...args,
      ],
      cwd: dir,
      env: { PYROSCOPE_LOG: logPath },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    exitStatus = undefined;
    const c = child;
    exited = c.status.then((s) => {
      if (child === c) exitStatus = s;
      return s;
    });
  };

  const waitReady = async () => {
    const deadline = Date.now() + readyTimeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (exitStatus) {
        throw new PyroscopeStartError(
          `exited with code ${exitStatus.code} while starting`,
          logPath,
          tail(logPath, 30),
        );
      }
      try {
        const r = await fetch(`${url}/ready`, {
          signal: AbortSignal.timeout(2000),
        });
        last = `${r.status} ${(await r.text()).trim()}`;
        if (r.status === 200) return;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new PyroscopeStartError(
      `not ready after ${readyTimeoutMs} ms (last /ready: ${last})`,
      logPath,
      tail(logPath, 30),
    );
  };

  const stopProcess = async (o: StopOptions = {}): Promise<number> => {
    const c = child;
    if (!c || !exited) return exitStatus?.code ?? 0;
    const done = exited;
    if (!exitStatus) {
      try {
        c.kill(o.signal ?? "SIGTERM");
      } catch { /* already gone */ }
      const timeoutMs = o.timeoutMs ?? 30_000;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        done.then(() => false),
        new Promise<boolean>((r) =>
          timer = setTimeout(() => r(true), timeoutMs)
        ),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        try {
          c.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }
    const s = await done;
    child = undefined;
    exited = undefined;
    return s.code;
  };

  const startProcess = async () => {
    if (child) throw new Error("Pyroscope is already running");
    spawn();
    try {
      await waitReady();
    } catch (err) {
      await stopProcess({ signal: "SIGKILL" });
      throw err;
    }
  };

  for (let attempt = 1;; attempt++) {
    choosePorts();
    try {
      await startProcess();
      break;
    } catch (err) {
      const portTaken = err instanceof PyroscopeStartError &&
        /address already in use/.test(err.message);
      if (portTaken && attempt < 3 && opts.httpPort === undefined) continue;
      if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  return {
    url,
    httpPort,
    grpcPort,
    memberlistPort,
    dir,
    logPath,
    args: [binary, ...args],
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && exitStatus === undefined;
    },
    async stop() {
      // A test is over: no need to wait for a graceful flush.
      await stopProcess({ signal: "SIGKILL" });
      if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    stopProcess,
    startProcess,
    async restart(o?: StopOptions) {
      await stopProcess(o);
      await startProcess();
    },
    logTail(lines = 30) {
      return tail(logPath, lines);
    },
  };
}
