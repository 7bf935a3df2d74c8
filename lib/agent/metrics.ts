/**
 * Prometheus text exposition (format 0.0.4) of the agent's counters and
 * gauges, and the small HTTP server that serves it on `/metrics`
 * (127.0.0.1 unless told otherwise; only GET).
 *
 * @example
 * ```ts
 * import assert from "node:assert";
 * import { renderMetrics } from "./metrics.ts";
 * const text = renderMetrics([
 *   { name: "streamprof_events_total", help: "Events consumed.", type: "counter",
 *     samples: [{ value: 42 }] },
 *   { name: "streamprof_stacks_lost_total", help: "Stacks lost, by cause.", type: "counter",
 *     samples: [{ labels: { kind: "user", cause: "fault" }, value: 0 }] },
 * ]);
 * assert.match(text, /^# HELP streamprof_events_total Events consumed\.\n# TYPE streamprof_events_total counter\nstreamprof_events_total 42\n/);
 * assert.match(text, /streamprof_stacks_lost_total\{kind="user",cause="fault"\} 0\n/);
 * ```
 * @module
 */

/** One metric family. */
export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: { labels?: Record<string, string>; value: number }[];
}

function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll(
    '"',
    '\\"',
  );
}

/** The exposition text of the families. */
export function renderMetrics(families: MetricFamily[]): string {
  let out = "";
  for (const f of families) {
    out += `# HELP ${f.name} ${f.help.replaceAll("\n", " ")}\n`;
    out += `# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length
        ? `{${
          Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
            .join(",")
        }}`
        : "";
      const v = Number.isFinite(s.value) ? String(s.value) : "NaN";
      out += `${f.name}${labels} ${v}\n`;
    }
  }
  return out;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The address it listens on. */
  readonly hostname: string;
  readonly port: number;
  /** Stops listening. */
  close(): Promise<void>;
}

/** Serves `collect()`'s families at GET /metrics. */
export function serveMetrics(
  hostname: string,
  port: number,
  collect: () => MetricFamily[],
): MetricsServer {
  const server = Deno.serve(
    { hostname, port, onListen: () => {} },
    (req) => {
      const url = new URL(req.url);
      if (req.method !== "GET" || url.pathname !== "/metrics") {
        return new Response("not found\n", { status: 404 });
      }
      return new Response(renderMetrics(collect()), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    },
  );
  const addr = server.addr as Deno.NetAddr;
  return {
    hostname: addr.hostname,
    port: addr.port,
    close: () => server.shutdown(),
  };
}
