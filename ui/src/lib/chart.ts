/**
 * Pure helpers of the loss chart: scales, ticks and SVG paths (no chart library: the UI
 * must work offline and the needs are small).
 */
import { isValidationRow } from "@/lib/validationChart";
import { isVoiceRow } from "@/lib/voiceChart";

export type Row = Record<string, number | null | undefined>;

export interface Extent { min: number; max: number }

/** Min/max of `keys` over `rows` (finite values only; positive only on a log scale). */
export function extent(rows: Row[], keys: string[], log = false): Extent | null {
  let min = Infinity;
  let max = -Infinity;
  for (const r of rows) {
    for (const k of keys) {
      const v = r[k];
      if (typeof v !== "number" || !Number.isFinite(v) || (log && v <= 0)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) return null;
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return log ? { min: min / 2, max: max * 2 } : { min: min - pad, max: max + pad };
  }
  // A little room above and below, so a line never sits on the plot's edge.
  if (log) return { min: min / 1.1, max: max * 1.1 };
  const pad = (max - min) * 0.05;
  return { min: min - pad, max: max + pad };
}

/** About `count` round tick values covering [min, max]. */
export function ticks(min: number, max: number, count = 4): number[] {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function formatNumber(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** Labels for the ticks of one axis: as many decimals as the tick spacing needs. */
export function tickLabels(values: number[]): string[] {
  if (values.length < 2) return values.map(formatNumber);
  const step = Math.abs(values[1] - values[0]);
  const big = Math.max(...values.map(Math.abs));
  if (big >= 1e4 || (big < 1e-3 && big > 0) || step < 1e-4) return values.map((v) => (v === 0 ? "0" : v.toExponential(1)));
  const decimals = Math.min(6, Math.max(0, Math.ceil(-Math.log10(step))));
  return values.map((v) => v.toFixed(decimals));
}

/**
 * Rows as charted: the audio losses of a step whose batch had no audio (image items)
 * are 0 in metrics.jsonl; drawn as 0 they look like a perfect voice fit, so they are
 * treated as missing (the line breaks there), and so is the video loss of a step that
 * scored no video (audio files, video-to-audio). The voice metric's and the validation's
 * rows (one per sampling or validation, no training loss in them) are left out: as loss
 * rows they would break every line at each one.
 */
export function chartRows(rows: Row[]): Row[] {
  return rows.filter((r) => !isVoiceRow(r) && !isValidationRow(r)).map((r) => {
    let out = r;
    if (r.audio_supervised_items === 0) out = { ...out, audio_loss_raw: null, audio_loss_scaled: null };
    // A step of audio files only (or video-to-audio) scored no video: its 0 is no video fit either.
    if (r.video_scored_items === 0) out = { ...out, video_loss: null };
    return out;
  });
}

/**
 * An SVG path through the points of `key`; a missing value (null: the trainer logged
 * no audio loss for that step) breaks the line instead of drawing a false segment.
 */
export function linePath(rows: Row[], key: string, x: (step: number) => number, y: (v: number) => number, log = false): string {
  const runs: string[][] = [];
  let run: string[] | null = null;
  for (const r of rows) {
    const v = r[key];
    const step = r.step;
    if (typeof v !== "number" || !Number.isFinite(v) || typeof step !== "number" || (log && v <= 0)) {
      run = null;
      continue;
    }
    if (!run) runs.push((run = []));
    run.push(`${x(step).toFixed(1)},${y(v).toFixed(1)}`);
  }
  // A lone point gets a zero-length segment: with round caps it shows as a dot.
  return runs.map((pts) => `M${pts[0]}${pts.length > 1 ? `L${pts.slice(1).join("L")}` : "l0,0"}`).join("");
}

/** The row whose step is nearest to `step` (rows sorted by step). */
export function nearestRow(rows: Row[], step: number): Row | null {
  let best: Row | null = null;
  let bestD = Infinity;
  for (const r of rows) {
    if (typeof r.step !== "number") continue;
    const d = Math.abs(r.step - step);
    if (d < bestD) { best = r; bestD = d; }
  }
  return best;
}

/**
 * Exponential moving average of `key` (weight 0: the raw values; 0.99: very smooth), bias
 * corrected so the first points are the mean so far rather than pulled towards 0. A missing
 * value stays missing (the line breaks there) and does not move the average.
 */
export function smoothRows(rows: Row[], keys: string[], weight: number): Row[] {
  const w = Math.min(0.999, Math.max(0, weight));
  if (w === 0) return rows;
  const state = new Map<string, { s: number; n: number }>();
  return rows.map((r) => {
    const out: Row = { ...r };
    for (const k of keys) {
      const v = r[k];
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      const st = state.get(k) ?? { s: 0, n: 0 };
      st.s = w * st.s + (1 - w) * v;
      st.n += 1;
      state.set(k, st);
      out[k] = st.s / (1 - w ** st.n);
    }
    return out;
  });
}

/**
 * The least-squares line through `key` over the rows (on log10 values with `log`): where
 * the loss is heading, ignoring the noise. Null with fewer than two points.
 */
export function linearTrend(rows: Row[], key: string, log = false): { slope: number; intercept: number } | null {
  let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const r of rows) {
    const v = r[key];
    if (typeof r.step !== "number" || typeof v !== "number" || !Number.isFinite(v) || (log && v <= 0)) continue;
    const y = log ? Math.log10(v) : v;
    n++; sx += r.step; sy += y; sxx += r.step * r.step; sxy += r.step * y;
  }
  const den = n * sxx - sx * sx;
  if (n < 2 || den === 0) return null;
  const slope = (n * sxy - sx * sy) / den;
  return { slope, intercept: (sy - slope * sx) / n };
}

/**
 * Like `extent`, but from the `lo`–`hi` quantiles of the values (2nd to 98th percentile by
 * default): a few spikes (a NaN-skipped step, a first step's huge loss) no longer squash
 * the rest of the curve into a flat line. Lines past the range are cut at the plot's edge.
 */
export function clippedExtent(rows: Row[], keys: string[], log = false, lo = 0.02, hi = 0.98): Extent | null {
  const values: number[] = [];
  for (const r of rows) {
    for (const k of keys) {
      const v = r[k];
      if (typeof v === "number" && Number.isFinite(v) && (!log || v > 0)) values.push(v);
    }
  }
  if (values.length < 10) return extent(rows, keys, log);
  values.sort((a, b) => a - b);
  const min = values[Math.ceil((values.length - 1) * lo)];
  const max = values[Math.floor((values.length - 1) * hi)];
  return extent([{ a: min }, { a: max }], ["a"], log);
}

/** The rows whose step lies in [from, to] (a zoomed view). */
export function rowsInRange(rows: Row[], range: [number, number] | null): Row[] {
  if (!range) return rows;
  const [a, b] = range[0] <= range[1] ? range : [range[1], range[0]];
  return rows.filter((r) => typeof r.step === "number" && r.step >= a && r.step <= b);
}
