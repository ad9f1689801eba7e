/**
 * Pure helpers of the loss chart: scales, ticks and SVG paths (no chart library: the UI
 * must work offline and the needs are small).
 */
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
  return { min, max };
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
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/**
 * An SVG path through the points of `key`; a missing value (null: the trainer logged
 * no audio loss for that step) breaks the line instead of drawing a false segment.
 */
export function linePath(rows: Row[], key: string, x: (step: number) => number, y: (v: number) => number, log = false): string {
  let d = "";
  let pen = false;
  for (const r of rows) {
    const v = r[key];
    const step = r.step;
    if (typeof v !== "number" || !Number.isFinite(v) || typeof step !== "number" || (log && v <= 0)) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${x(step).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
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
