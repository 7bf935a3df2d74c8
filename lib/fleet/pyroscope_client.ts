/**
 * A small client for Grafana Pyroscope (checked against v1.12.0): push a pprof
 * profile with `POST /ingest?format=pprof`, and read back what arrived through
 * the querier's Connect API (`POST /querier.v1.QuerierService/<Method>`, JSON
 * bodies): totals, merged stacks, label names and values, series.
 *
 * Conventions Pyroscope applies to a pprof pushed to /ingest (read in its
 * source, pkg/og/convert/pprof/profile.go, and checked by the tests):
 * - `name=APP{k=v,...}`: APP becomes the `service_name` label *as is* (for
 *   pprof a `.cpu` suffix is not stripped: `app.cpu` stays `app.cpu`); each
 *   `k=v` becomes a label. Keys are `[A-Za-z0-9_.]+`, values cannot hold `,`
 *   or `}` and are trimmed; there is no escaping.
 * - `__name__` is derived from the sample types: `wall` gives `wall`, a type
 *   containing "cpu", or `samples` (whose display name is "cpu"), gives
 *   `process_cpu`, so a `samples/count`-only profile is `process_cpu` too.
 *   `pyroscope_spy` is the `spyName` parameter ("unknown" by
 *   default). Pyroscope adds `__profile_type__`, `__type__`, `__unit__`,
 *   `__period_type__`, `__period_unit__` and `__service_name__` too.
 * - Each sample type becomes its own profile type, queried by an ID
 *   `__name__:type:unit:period_type:period_unit`, e.g.
 *   {@link PROFILE_CPU_SAMPLES} and {@link PROFILE_CPU_NANOS}.
 * - The profile's own `time_nanos`, cut to milliseconds, is its timestamp;
 *   `from` is used only when `time_nanos` is 0; `until`, `sampleRate`,
 *   `units` and `aggregationType` are not used for pprof. Accepted only
 *   within [now - 1 h, now + 10 min] (422 otherwise).
 * - Queries dedupe by series and timestamp (meant for replicas): two pushes
 *   of one series with the same millisecond count once, the first one wins.
 *   Give each push of a host its own interval start.
 * - Data is queryable as soon as /ingest answered 200. The ingester keeps it
 *   in memory: a graceful stop (SIGTERM) writes it to disk, a crash loses it.
 * - A query range `[start, end]` (ms) includes both ends, but start == end
 *   finds nothing.
 *
 * @example
 * ```ts ignore
 * import { ingestPprof, labelValues, totalValue, PROFILE_CPU_SAMPLES } from "./pyroscope_client.ts";
 * await ingestPprof(url, { name: "streamprof", labels: { hostname: "a" }, from, until }, gz);
 * const n = await totalValue(url, {
 *   profileType: PROFILE_CPU_SAMPLES, selector: { service_name: "streamprof", hostname: "a" }, start: from, end: until,
 * });
 * console.log(n, await labelValues(url, "hostname"));
 * ```
 * @module
 */

/** The profile type of a pprof's `samples/count` values with `cpu/nanoseconds` period. */
export const PROFILE_CPU_SAMPLES = "process_cpu:samples:count:cpu:nanoseconds";
/** The profile type of a pprof's `cpu/nanoseconds` values. */
export const PROFILE_CPU_NANOS = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

/**
 * Pyroscope answered with a status other than 200. Carries status and body.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { PyroscopeHttpError } from "./pyroscope_client.ts";
 * const e = new PyroscopeHttpError("POST /ingest", 400, "name: app name is required");
 * assert.equal(e.status, 400);
 * assert.match(e.message, /POST \/ingest: 400 name: app name is required/);
 * ```
 */
export class PyroscopeHttpError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Response body (trimmed). */
  readonly body: string;
  constructor(what: string, status: number, body: string) {
    super(`${what}: ${status} ${body.trim().slice(0, 2000)}`);
    this.name = "PyroscopeHttpError";
    this.status = status;
    this.body = body.trim();
  }
}

/** A point in time: a Date, or milliseconds since the epoch. */
export type Instant = Date | number;

const ms = (t: Instant): number => typeof t === "number" ? t : t.getTime();

const APP_NAME = /^[A-Za-z0-9_.\-/]+$/;
const LABEL_KEY = /^[A-Za-z0-9_.]+$/;

/**
 * The `name` parameter of /ingest: `app{k=v,k2=v2}` (keys sorted). Throws a
 * TypeError for what Pyroscope would reject or silently change: app names
 * outside `[A-Za-z0-9_.\-/]`, keys outside `[A-Za-z0-9_.]`, keys starting
 * with `__`, values with `,` `}` `{` or surrounding spaces, empty values.
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { ingestName } from "./pyroscope_client.ts";
 * assert.equal(ingestName("streamprof", { pid: "7", hostname: "a" }), "streamprof{hostname=a,pid=7}");
 * assert.equal(ingestName("app.cpu"), "app.cpu{}");
 * assert.throws(() => ingestName("app", { host: "a,b" }), TypeError);
 * ```
 */
export function ingestName(
  app: string,
  labels: Record<string, string> = {},
): string {
  if (!APP_NAME.test(app)) {
    throw new TypeError(
      `ingestName: app name ${JSON.stringify(app)} is not [A-Za-z0-9_.-/]+`,
    );
  }
  const parts: string[] = [];
  for (const k of Object.keys(labels).sort()) {
    const v = labels[k];
    if (!LABEL_KEY.test(k) || k.startsWith("__")) {
      throw new TypeError(
        `ingestName: label key ${
          JSON.stringify(k)
        } is not [A-Za-z0-9_.]+ (or starts with __)`,
      );
    }
    if (v === "" || /[,{}]/.test(v) || v.trim() !== v) {
      throw new TypeError(
        `ingestName: label ${k} value ${
          JSON.stringify(v)
        } is empty, has , { } or surrounding spaces`,
      );
    }
    parts.push(`${k}=${v}`);
  }
  return `${app}{${parts.join(",")}}`;
}

/** What {@link ingestPprof} sends besides the profile. */
export interface IngestMeta {
  /** The application: becomes `service_name`. */
  name: string;
  /** Start of the profile's interval (used only if the pprof has no time_nanos). */
  from: Instant;
  /** End of the interval (sent; Pyroscope does not use it for pprof). */
  until: Instant;
  /** Extra labels, e.g. `{ hostname: "a" }`. */
  labels?: Record<string, string>;
  /** `spyName` (becomes `pyroscope_spy`); default not sent ("unknown"). */
  spyName?: string;
  /** `sampleRate` in Hz (Pyroscope does not use it for pprof); default not sent. */
  sampleRate?: number;
  /** Abort the request. */
  signal?: AbortSignal;
}

/**
 * `POST /ingest?format=pprof&name=...&from=...&until=...` with a pprof body
 * (gzipped or not: Pyroscope accepts both). `from`/`until` go as milliseconds
 * since the epoch (13 digits, which Pyroscope reads as ms). Resolves when
 * Pyroscope answered 200 (the data is then queryable at once); throws
 * {@link PyroscopeHttpError} otherwise.
 *
 * @example
 * ```ts ignore
 * import { ingestPprof } from "./pyroscope_client.ts";
 * const until = Date.now(), from = until - 10_000;
 * await ingestPprof("http://127.0.0.1:4040", { name: "streamprof", from, until, labels: { hostname: "a" } }, gzippedPprof);
 * ```
 */
export async function ingestPprof(
  url: string,
  meta: IngestMeta,
  pprof: Uint8Array,
): Promise<void> {
  const q = new URLSearchParams({
    format: "pprof",
    name: ingestName(meta.name, meta.labels),
    from: String(Math.floor(ms(meta.from))),
    until: String(Math.floor(ms(meta.until))),
  });
  if (meta.spyName !== undefined) q.set("spyName", meta.spyName);
  if (meta.sampleRate !== undefined) {
    q.set("sampleRate", String(meta.sampleRate));
  }
  const r = await fetch(`${url}/ingest?${q}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: pprof as Uint8Array<ArrayBuffer>,
    signal: meta.signal,
  });
  const body = await r.text();
  if (r.status !== 200) {
    throw new PyroscopeHttpError("POST /ingest", r.status, body);
  }
}

/**
 * A label selector `{k="v",...}` from exact matches, quotes and backslashes
 * escaped. A string is passed through as is (for `=~`, `!=`...).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { labelSelector } from "./pyroscope_client.ts";
 * assert.equal(labelSelector({ service_name: "app", hostname: "a" }), '{service_name="app",hostname="a"}');
 * assert.equal(labelSelector({}), "{}");
 * assert.equal(labelSelector('{hostname=~"a|b"}'), '{hostname=~"a|b"}');
 * ```
 */
export function labelSelector(sel: Record<string, string> | string): string {
  if (typeof sel === "string") return sel;
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  return `{${
    Object.entries(sel).map(([k, v]) => `${k}="${esc(v)}"`).join(",")
  }}`;
}

/**
 * One call of the querier's Connect API: `POST {url}/querier.v1.QuerierService/{method}`
 * with a JSON body, resolving to the JSON answer (int64 fields come back as
 * strings). Throws {@link PyroscopeHttpError} on a non-200 answer.
 *
 * @example
 * ```ts ignore
 * import { querierCall } from "./pyroscope_client.ts";
 * const r = await querierCall<{ profileTypes?: { ID: string }[] }>(url, "ProfileTypes", { start: 0, end: Date.now() });
 * ```
 */
export async function querierCall<T>(
  url: string,
  method: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const r = await fetch(`${url}/querier.v1.QuerierService/${method}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "connect-protocol-version": "1",
    },
    body: JSON.stringify(body),
    signal,
  });
  const text = await r.text();
  if (r.status !== 200) {
    throw new PyroscopeHttpError(`POST ${method}`, r.status, text);
  }
  return JSON.parse(text) as T;
}

/** A query: profile type, label selector and time range. */
export interface ProfileQuery {
  /** Profile type ID, e.g. {@link PROFILE_CPU_SAMPLES}. */
  profileType: string;
  /** Exact label matches, or a selector string; default `{}` (everything). */
  selector?: Record<string, string> | string;
  /** Range start (inclusive). */
  start: Instant;
  /** Range end (inclusive). */
  end: Instant;
  /** Abort the request. */
  signal?: AbortSignal;
}

/**
 * One of the calls over a {@link ProfileQuery}: its profile type, selector
 * and range, then the call's own `fields`, aborted by its signal.
 */
function profileCall<T>(
  url: string,
  method: "SelectMergeStacktraces" | "SelectMergeProfile" | "SelectSeries",
  q: ProfileQuery,
  fields: Record<string, unknown>,
): Promise<T> {
  return querierCall<T>(url, method, {
    profileTypeID: q.profileType,
    labelSelector: labelSelector(q.selector ?? {}),
    start: Math.floor(ms(q.start)),
    end: Math.ceil(ms(q.end)),
    ...fields,
  }, q.signal);
}

/** An int64 that protojson sent as a string (or a number) to a JS number. */
function int(v: string | number | undefined, what: string): number {
  if (v === undefined) return 0;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`${what}: ${v} is not a safe integer`);
  }
  return n;
}

/** The flame graph of SelectMergeStacktraces, as Pyroscope sends it. */
export interface FlameGraph {
  /** Function names; `levels` index into it. */
  names: string[];
  /** One row per depth, root first; each is groups of four numbers:
   * [offset from the previous node's end, total, self, name index]. */
  levels: { values: number[] }[];
  /** Sum of all values. */
  total: number;
  /** Largest self value. */
  maxSelf: number;
}

/**
 * `SelectMergeStacktraces`: the flame graph of every matching profile merged
 * (numbers converted from protojson strings). `maxNodes` truncates it
 * (server default 8192 nodes); `total` is the whole sum either way.
 *
 * @example
 * ```ts ignore
 * import { selectMergeStacktraces, PROFILE_CPU_SAMPLES } from "./pyroscope_client.ts";
 * const fg = await selectMergeStacktraces(url, { profileType: PROFILE_CPU_SAMPLES, start: 0, end: Date.now() });
 * console.log(fg.total, fg.names);
 * ```
 */
export async function selectMergeStacktraces(
  url: string,
  q: ProfileQuery & { maxNodes?: number },
): Promise<FlameGraph> {
  type Raw = {
    flamegraph?: {
      names?: string[];
      levels?: { values?: (string | number)[] }[];
      total?: string;
      maxSelf?: string;
    };
  };
  const r = await profileCall<Raw>(
    url,
    "SelectMergeStacktraces",
    q,
    q.maxNodes !== undefined ? { maxNodes: q.maxNodes } : {},
  );
  const fg = r.flamegraph ?? {};
  return {
    names: fg.names ?? [],
    levels: (fg.levels ?? []).map((l) => ({
      values: (l.values ?? []).map((v) => int(v, "flamegraph value")),
    })),
    total: int(fg.total, "flamegraph total"),
    maxSelf: int(fg.maxSelf, "flamegraph maxSelf"),
  };
}

/** A function's share of a flame graph. */
export interface FunctionValue {
  /** Function name. */
  name: string;
  /** Value of samples whose leaf is this function. */
  self: number;
  /** Value of samples with this function anywhere on the stack (counted once
   * per node, so a recursive function counts more than once). */
  total: number;
}

/**
 * Per-function self and total values from a {@link FlameGraph}, largest self
 * first (the synthetic root "total" left out).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { flameGraphFunctions } from "./pyroscope_client.ts";
 * // total(10) -> main(10) -> { a(7, self 7), b(3, self 3) }
 * const fg = { names: ["total", "main", "a", "b"], total: 10, maxSelf: 7, levels: [
 *   { values: [0, 10, 0, 0] }, { values: [0, 10, 0, 1] }, { values: [0, 7, 7, 2, 0, 3, 3, 3] }] };
 * assert.deepEqual(flameGraphFunctions(fg), [
 *   { name: "a", self: 7, total: 7 }, { name: "b", self: 3, total: 3 }, { name: "main", self: 0, total: 10 }]);
 * ```
 */
export function flameGraphFunctions(fg: FlameGraph): FunctionValue[] {
  const by = new Map<string, FunctionValue>();
  fg.levels.forEach((level, depth) => {
    const v = level.values;
    for (let i = 0; i + 3 < v.length; i += 4) {
      const name = fg.names[v[i + 3]] ?? `#${v[i + 3]}`;
      if (depth === 0 && name === "total") continue;
      const f = by.get(name) ?? { name, self: 0, total: 0 };
      f.total += v[i + 1];
      f.self += v[i + 2];
      by.set(name, f);
    }
  });
  return [...by.values()].sort((a, b) =>
    b.self - a.self || b.total - a.total || (a.name < b.name ? -1 : 1)
  );
}

/** One distinct stack of a merged profile with its summed value. */
export interface StackValue {
  /** Function names, root first. */
  stack: string[];
  /** Summed value of the profile type asked for. */
  value: number;
}

/**
 * `SelectMergeProfile`: every matching profile merged into one pprof (as
 * protojson), reduced to its distinct stacks (root first) with summed values,
 * largest first. Exact: no node limit unless `maxNodes` is given.
 *
 * @example
 * ```ts ignore
 * import { mergedStacks, PROFILE_CPU_SAMPLES } from "./pyroscope_client.ts";
 * for (const s of await mergedStacks(url, { profileType: PROFILE_CPU_SAMPLES, selector: { hostname: "a" }, start: 0, end: Date.now() })) {
 *   console.log(s.stack.join(";"), s.value);
 * }
 * ```
 */
export async function mergedStacks(
  url: string,
  q: ProfileQuery & { maxNodes?: number },
): Promise<StackValue[]> {
  type Id = string | number;
  type Raw = {
    sample?: { locationId?: Id[]; value?: Id[] }[];
    location?: { id?: Id; line?: { functionId?: Id }[] }[];
    function?: { id?: Id; name?: Id }[];
    stringTable?: string[];
  };
  const p = await profileCall<Raw>(
    url,
    "SelectMergeProfile",
    q,
    q.maxNodes !== undefined ? { maxNodes: q.maxNodes } : {},
  );
  const strings = p.stringTable ?? [];
  const fnName = new Map<string, string>();
  for (const f of p.function ?? []) {
    fnName.set(String(f.id ?? 0), strings[int(f.name, "function name")] ?? "");
  }
  const locNames = new Map<string, string[]>();
  for (const l of p.location ?? []) {
    // A location's lines are innermost (inlined) first.
    locNames.set(
      String(l.id ?? 0),
      (l.line ?? []).map((ln) => fnName.get(String(ln.functionId ?? 0)) ?? "?"),
    );
  }
  const sums = new Map<string, StackValue>();
  for (const s of p.sample ?? []) {
    const leafFirst = (s.locationId ?? []).flatMap((id) =>
      locNames.get(String(id)) ?? ["?"]
    );
    const stack = leafFirst.reverse();
    const key = stack.join("\u0000");
    const value = int(s.value?.[0], "sample value");
    const e = sums.get(key);
    if (e) e.value += value;
    else sums.set(key, { stack, value });
  }
  return [...sums.values()].sort((a, b) =>
    b.value - a.value || (a.stack.join(";") < b.stack.join(";") ? -1 : 1)
  );
}

/**
 * The total value of a profile type over a range for a selector: the sum of
 * every matching sample (the number of samples for {@link PROFILE_CPU_SAMPLES},
 * nanoseconds for {@link PROFILE_CPU_NANOS}). 0 when nothing matches.
 *
 * @example
 * ```ts ignore
 * import { totalValue, PROFILE_CPU_SAMPLES } from "./pyroscope_client.ts";
 * const n = await totalValue(url, { profileType: PROFILE_CPU_SAMPLES, selector: { hostname: "a" }, start: from, end: until });
 * ```
 */
export async function totalValue(
  url: string,
  q: ProfileQuery,
): Promise<number> {
  return (await selectMergeStacktraces(url, { ...q, maxNodes: 1 })).total;
}

/** One series of {@link selectSeries}. */
export interface SeriesPoints {
  /** Its labels (only the `groupBy` ones when grouping). */
  labels: Record<string, string>;
  /** `[timestamp ms, value]`, oldest first. */
  points: [number, number][];
}

/**
 * `SelectSeries`: the value of a profile type over time, summed per `step`
 * seconds, one series per distinct value of the `groupBy` labels. Handy for
 * per-host totals in one call (sum the points). Points are stamped
 * `start + k*step` (each sums the step that ends there) and only stamps up
 * to `end` come back: a step longer than the range returns no points.
 *
 * @example
 * ```ts ignore
 * import { selectSeries, PROFILE_CPU_SAMPLES } from "./pyroscope_client.ts";
 * const s = await selectSeries(url, { profileType: PROFILE_CPU_SAMPLES, start: from, end: until, step: 10, groupBy: ["hostname"] });
 * for (const x of s) console.log(x.labels.hostname, x.points.reduce((a, [, v]) => a + v, 0));
 * ```
 */
export async function selectSeries(
  url: string,
  q: ProfileQuery & { step: number; groupBy?: string[] },
): Promise<SeriesPoints[]> {
  type Raw = {
    series?: {
      labels?: { name: string; value: string }[];
      points?: { value?: number; timestamp?: string | number }[];
    }[];
  };
  const r = await profileCall<Raw>(url, "SelectSeries", q, {
    step: q.step,
    groupBy: q.groupBy ?? [],
  });
  return (r.series ?? []).map((s) => ({
    labels: Object.fromEntries((s.labels ?? []).map((l) => [l.name, l.value])),
    points: (s.points ?? []).map((p) =>
      [int(p.timestamp, "point timestamp"), p.value ?? 0] as [number, number]
    ),
  }));
}

/** Range and matchers for the label calls; all optional. */
export interface LabelQuery {
  /** Series selectors, e.g. `['{service_name="app"}']`. */
  matchers?: string[];
  /** Range start; default 6 h ago. (Pyroscope itself, given 0, asks only
   * the ingesters' in-memory heads, which are empty after a restart.) */
  start?: Instant;
  /** Range end; default 10 min from now (the ingestion window's end). */
  end?: Instant;
  /** Abort the request. */
  signal?: AbortSignal;
}

/** The range of a label call (or of ProfileTypes), with its defaults. */
function labelRange(q: { start?: Instant; end?: Instant }) {
  const now = Date.now();
  return {
    start: Math.floor(q.start === undefined ? now - 6 * 3600_000 : ms(q.start)),
    end: Math.ceil(q.end === undefined ? now + 10 * 60_000 : ms(q.end)),
  };
}

/**
 * One of the label calls: its own `fields`, then the query's matchers and
 * range (the defaults of {@link LabelQuery}), aborted by its signal.
 */
function labelCall<T>(
  url: string,
  method: "LabelValues" | "LabelNames" | "Series",
  q: LabelQuery,
  fields: Record<string, unknown> = {},
): Promise<T> {
  return querierCall<T>(url, method, {
    ...fields,
    matchers: q.matchers ?? [],
    ...labelRange(q),
  }, q.signal);
}

/**
 * `LabelValues`: the values of one label, sorted (e.g. every `hostname`).
 *
 * @example
 * ```ts ignore
 * import { labelValues } from "./pyroscope_client.ts";
 * console.log(await labelValues(url, "hostname", { matchers: ['{service_name="streamprof"}'] }));
 * ```
 */
export async function labelValues(
  url: string,
  name: string,
  q: LabelQuery = {},
): Promise<string[]> {
  const r = await labelCall<{ names?: string[] }>(url, "LabelValues", q, {
    name,
  });
  return (r.names ?? []).slice().sort();
}

/**
 * `LabelNames`: every label name, sorted (includes `__name__`,
 * `service_name`, `pyroscope_spy`, `__delta__`...).
 *
 * @example
 * ```ts ignore
 * import { labelNames } from "./pyroscope_client.ts";
 * console.log(await labelNames(url));
 * ```
 */
export async function labelNames(
  url: string,
  q: LabelQuery = {},
): Promise<string[]> {
  const r = await labelCall<{ names?: string[] }>(url, "LabelNames", q);
  return (r.names ?? []).slice().sort();
}

/**
 * `Series`: the distinct label sets that match, each as a record.
 *
 * @example
 * ```ts ignore
 * import { series } from "./pyroscope_client.ts";
 * for (const s of await series(url, { matchers: ['{service_name="streamprof"}'] })) console.log(s.hostname, s.__profile_type__);
 * ```
 */
export async function series(
  url: string,
  q: LabelQuery & { labelNames?: string[] } = {},
): Promise<Record<string, string>[]> {
  const r = await labelCall<
    { labelsSet?: { labels?: { name: string; value: string }[] }[] }
  >(url, "Series", q, { labelNames: q.labelNames ?? [] });
  return (r.labelsSet ?? []).map((s) =>
    Object.fromEntries((s.labels ?? []).map((l) => [l.name, l.value]))
  );
}

/**
 * `ProfileTypes`: the profile type IDs that hold data in the range, sorted.
 *
 * @example
 * ```ts ignore
 * import { profileTypes } from "./pyroscope_client.ts";
 * console.log(await profileTypes(url, { start: 0, end: Date.now() }));
 * ```
 */
export async function profileTypes(
  url: string,
  q: Omit<LabelQuery, "matchers"> = {},
): Promise<string[]> {
  const r = await querierCall<{ profileTypes?: { ID: string }[] }>(
    url,
    "ProfileTypes",
    {
      ...labelRange(q),
    },
    q.signal,
  );
  return (r.profileTypes ?? []).map((t) => t.ID).sort();
}
