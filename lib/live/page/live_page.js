// @ts-check
/// <reference lib="dom" />
/**
 * The live view's script: connects to the server's WebSocket, walks every
 * chunk of raw ring records it receives with parser.wasm (embedded in the
 * page), aggregates in this tab, and once a second redraws the flame graph
 * and the samples-per-second chart and checks its own count against the
 * server's: the events this tab decoded must equal the events the server
 * sent it, exactly, and those plus the ones it skipped for this tab must
 * equal what it forwarded since the tab joined. The state is exposed as
 * `globalThis.live` (for tests).
 *
 * @module
 */
import { FlameView, wireToolbar } from "../../export/flamegraph/flame_view.js";
import { LiveProfile } from "./live_profile.js";
import { decodeChunk } from "./protocol.js";
import { drawRateChart, RateCounter } from "./rate_chart.js";
import { RecordWalker } from "./record_walker.js";

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {number} n */
const fmt = (n) => Math.round(n).toLocaleString("en-US");
/** @param {number} n */
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
/** @param {string} s */
const esc = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const config = JSON.parse($("live-config").textContent ?? "{}");
const wasm = Uint8Array.from(atob(config.wasm), (c) => c.charCodeAt(0));
const walker = await RecordWalker.create(wasm, config.abi, {
  inputBytes: config.chunkBytes,
});
const profile = new LiveProfile(config);
const rate = new RateCounter();
walker.onTimestamp = (/** @type {number} */ ns) => rate.add(ns);
walker.onTablesFull = () => profile.absorb(walker);

/**
 * What this tab did and what the server said, for the panel and tests.
 * @type {{
 *   connected: boolean, closed: { code: number, reason: string } | null,
 *   decodedEvents: number, decodedChunks: number, processedBytes: number,
 *   ackedBytes: number, mismatchedChunks: number, undecodedBytes: number,
 *   malformed: number, discarded: number, badMessages: number, seqGaps: number,
 *   lastSeq: number, hello: any, counters: any, end: any,
 *   check: { at: number, decoded: number, sent: number, skipped: number,
 *     offered: number, consumedSinceJoin: number, exact: boolean } | null,
 *   redraws: number,
 * }}
 */
const state = {
  connected: false,
  closed: null,
  decodedEvents: 0,
  decodedChunks: 0,
  processedBytes: 0,
  ackedBytes: 0,
  mismatchedChunks: 0,
  undecodedBytes: 0,
  malformed: 0,
  discarded: 0,
  badMessages: 0,
  seqGaps: 0,
  lastSeq: -1,
  hello: null,
  counters: null,
  end: null,
  check: null,
  redraws: 0,
};
const g =
  /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis));
g.live = state;

const view = new FlameView(/** @type {HTMLCanvasElement} */ ($("flame")), {
  tooltip: $("tooltip"),
  scroller: $("chart"),
});
wireToolbar(view, document);
g.flame = view;

const ws = new WebSocket(
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
);
ws.binaryType = "arraybuffer";

function ack() {
  if (
    state.processedBytes === state.ackedBytes ||
    ws.readyState !== WebSocket.OPEN
  ) return;
  ws.send(JSON.stringify({ t: "ack", bytes: state.processedBytes }));
  state.ackedBytes = state.processedBytes;
}
setInterval(ack, 100);

/** @param {ArrayBuffer} data */
function onChunk(data) {
  const c = decodeChunk(data);
  if (c === null) {
    state.badMessages++;
    return;
  }
  if (state.lastSeq >= 0 && c.seq !== state.lastSeq + 1) {
    state.seqGaps += c.seq - state.lastSeq - 1;
  }
  state.lastSeq = c.seq;
  const r = walker.walk(c.records);
  state.decodedEvents += r.events;
  state.decodedChunks++;
  state.malformed += r.malformed;
  state.discarded += r.discarded;
  state.undecodedBytes += r.undecoded;
  if (r.events !== c.events) state.mismatchedChunks++;
  state.processedBytes += data.byteLength;
  const windowBytes = state.hello?.windowBytes ?? 8 << 20;
  if (state.processedBytes - state.ackedBytes >= windowBytes / 4) ack();
}

/** @param {any} m */
function onCounters(m) {
  state.counters = m;
  // The socket keeps order: every chunk up to m.seq that was sent to this
  // tab has been decoded above, so the two counts must be equal now.
  state.check = {
    at: m.seq,
    decoded: state.decodedEvents,
    sent: m.sentEvents,
    skipped: m.skippedEvents,
    offered: m.offeredEvents,
    consumedSinceJoin: m.consumed - m.beforeJoin,
    exact: state.decodedEvents === m.sentEvents &&
      m.sentEvents + m.skippedEvents === m.offeredEvents &&
      m.offeredEvents === m.consumed - m.beforeJoin &&
      state.mismatchedChunks === 0 && state.undecodedBytes === 0,
  };
}

ws.onopen = () => {
  state.connected = true;
};
ws.onclose = (/** @type {CloseEvent} */ e) => {
  state.connected = false;
  state.closed = { code: e.code, reason: e.reason };
  redraw();
};
ws.onmessage = (/** @type {MessageEvent} */ e) => {
  if (typeof e.data !== "string") return onChunk(e.data);
  let m;
  try {
    m = JSON.parse(e.data);
  } catch {
    state.badMessages++;
    return;
  }
  if (m.t === "hello") {
    state.hello = m;
    renderHeader(m);
  } else if (m.t === "symbols") profile.addSymbols(m.entries);
  else if (m.t === "processes") profile.addProcesses(m.entries);
  else if (m.t === "counters") onCounters(m);
  else if (m.t === "end") {
    state.end = m;
    ack();
    redraw();
  }
};

/** @param {any} h */
function renderHeader(h) {
  const fields = [
    ["host", h.host],
    ["kernel", h.kernel],
    ["arch", h.arch],
    ["of", h.target],
    ["frequency", `${h.frequencyHz} Hz`],
    ["CPUs", String(h.cpus)],
    [
      "duration",
      h.durationMs ? `${(h.durationMs / 1000).toFixed(0)} s` : "until stopped",
    ],
    ["joined after", `${fmt(h.beforeJoin)} events`],
  ];
  $("meta").innerHTML = fields
    .map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(String(v))}</dd></div>`)
    .join("");
}

function renderReconciliation() {
  const c = state.check, m = state.counters, lines = [];
  if (!c || !m) {
    lines.push([
      "",
      `waiting for the server's counters (decoded ${
        fmt(state.decodedEvents)
      } events so far)`,
    ]);
  } else {
    const same = c.decoded === c.sent && state.mismatchedChunks === 0 &&
      state.undecodedBytes === 0;
    lines.push([
      same ? "ok" : "bad",
      `this tab decoded ${fmt(c.decoded)} events with parser.wasm ${
        same ? "=" : "!="
      } ${fmt(c.sent)} the server sent it${
        same
          ? ": exact"
          : `: MISMATCH (${state.mismatchedChunks} chunks disagree, ${state.undecodedBytes} bytes undecoded)`
      }`,
    ]);
    const whole = c.sent + c.skipped === c.offered &&
      c.offered === c.consumedSinceJoin;
    lines.push([
      c.skipped === 0 && whole ? "ok" : whole ? "warn" : "bad",
      `server consumed ${
        fmt(c.consumedSinceJoin)
      } events since this tab joined (after ${fmt(m.beforeJoin)}) = ${
        fmt(c.sent)
      } sent + ${fmt(c.skipped)} skipped${
        c.skipped === 0
          ? ""
          : `: this tab fell ${
            mb(m.windowBytes)
          } behind and the server, which never waits for a tab, skipped ${
            fmt(m.skippedChunks)
          } chunks (${mb(m.skippedBytes)}) for it`
      }${whole ? "" : " (DOES NOT ADD UP)"}`,
    ]);
    if (m.produced !== undefined) {
      lines.push([
        m.dropped === 0 ? "ok" : "warn",
        `profiler: produced ${fmt(m.produced)} = consumed ${
          fmt(m.consumed)
        } + dropped ${fmt(m.dropped)} (kernel counters, ${
          (m.elapsedMs / 1000).toFixed(0)
        } s)`,
      ]);
    }
  }
  if (state.end) {
    const e = state.end;
    lines.push([
      e.ok ? "ok" : "bad",
      `run ended${e.interrupted ? " (interrupted)" : ""}: ${e.line}`,
    ]);
    if (e.stackLine) lines.push(["", e.stackLine]);
  }
  if (state.closed && !state.end) {
    lines.push([
      "bad",
      `connection closed (${state.closed.code}${
        state.closed.reason ? `: ${state.closed.reason}` : ""
      })`,
    ]);
  }
  $("live-reconciliation").innerHTML = lines
    .map(([cls, text]) => `<p class="acct ${cls}">${esc(text)}</p>`)
    .join("");
  $("conn").textContent = state.end
    ? "run ended"
    : state.connected
    ? "live"
    : state.closed
    ? "disconnected"
    : "connecting...";
  $("conn").className = state.connected && !state.end ? "conn on" : "conn";
}

function redraw() {
  profile.absorb(walker);
  walker.cut();
  view.setData(profile.tree());
  drawRateChart(/** @type {HTMLCanvasElement} */ ($("rate")), rate.series());
  renderReconciliation();
  state.redraws++;
}
setInterval(redraw, 1000);
redraw();
