// @ts-check
/// <reference lib="dom" />
/**
 * The live view's samples-per-second chart: decoded events counted per
 * second of their own timestamps (kernel time, so the chart shows when
 * samples were taken, not when they arrived), the last {@link WINDOW_S}
 * seconds as bars; the newest second, still filling, drawn lighter.
 *
 * @example
 * ```js
 * import assert from "node:assert";
 * import { RateCounter } from "./rate_chart.js";
 * const r = new RateCounter();
 * for (const ns of [1.2e9, 1.5e9, 2.1e9]) r.add(ns);
 * assert.deepEqual(r.series(), [[1, 2], [2, 1]]);
 * ```
 * @module
 */

/** Seconds the chart shows. */
export const WINDOW_S = 60;

/** Events per second of their timestamps. */
export class RateCounter {
  constructor() {
    /** @type {Map<number, number>} */
    this.perSecond = new Map();
    this.latest = -Infinity;
  }

  /** Counts one event at `ns` (ns since boot). @param {number} ns */
  add(ns) {
    const s = Math.floor(ns / 1e9);
    this.perSecond.set(s, (this.perSecond.get(s) ?? 0) + 1);
    if (s > this.latest) {
      this.latest = s;
      for (const k of this.perSecond.keys()) {
        if (k <= s - 2 * WINDOW_S) this.perSecond.delete(k);
      }
    }
  }

  /**
   * `[second, events]` for the last `window` seconds up to the newest, oldest
   * first, seconds without events included as 0.
   * @param {number} [window]
   * @returns {[number, number][]}
   */
  series(window = WINDOW_S) {
    if (this.latest === -Infinity) return [];
    const first = Math.max(
      this.latest - window + 1,
      Math.min(...this.perSecond.keys()),
    );
    /** @type {[number, number][]} */
    const out = [];
    for (let s = first; s <= this.latest; s++) {
      out.push([s, this.perSecond.get(s) ?? 0]);
    }
    return out;
  }
}

/**
 * Draws the series as bars on a canvas, with the peak rate and the newest
 * full second written in.
 * @param {HTMLCanvasElement} canvas
 * @param {[number, number][]} series
 * @example
 * ```js ignore
 * // ignored: needs a browser (tests/browser/live_test.ts).
 * drawRateChart(canvas, counter.series());
 * ```
 */
export function drawRateChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const width = canvas.parentElement ? canvas.parentElement.clientWidth : 600;
  const height = 90;
  const dpr = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#666";
  if (series.length === 0) {
    ctx.fillText("waiting for samples...", 8, height / 2);
    return;
  }
  const peak = Math.max(1, ...series.map(([, n]) => n));
  const top = 14, bottom = height - 14;
  const slot = (width - 50) / WINDOW_S;
  const x0 = 50 + (WINDOW_S - series.length) * slot;
  series.forEach(([, n], i) => {
    const h = (bottom - top) * n / peak;
    ctx.fillStyle = i === series.length - 1
      ? "rgba(230,120,40,0.45)"
      : "rgb(230,120,40)";
    ctx.fillRect(x0 + i * slot + 1, bottom - h, Math.max(1, slot - 2), h);
  });
  ctx.fillStyle = "#333";
  ctx.fillText(`${peak.toLocaleString("en-US")}/s`, 4, top + 4);
  ctx.fillText("0", 4, bottom);
  ctx.strokeStyle = "#ccc";
  ctx.beginPath();
  ctx.moveTo(48, bottom + 0.5);
  ctx.lineTo(width, bottom + 0.5);
  ctx.stroke();
  const last = series.length >= 2 ? series[series.length - 2][1] : series[0][1];
  ctx.fillStyle = "#666";
  ctx.fillText(
    `samples per second (last ${WINDOW_S} s; last full second: ${
      last.toLocaleString("en-US")
    })`,
    52,
    height - 2,
  );
}
