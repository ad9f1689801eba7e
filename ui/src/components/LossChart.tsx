"use client";
/**
 * The loss chart of a job, from metrics.jsonl, drawn as SVG: one panel for the losses
 * (total, video, audio raw and audio scaled), one for the audio multiplier of the
 * auto-balancer, one for the learning rate. Hover shows the values at a step, with the
 * trainer's peak memory at that step.
 *
 * The losses are noisy step to step, so the loss panel has what ai-toolkit's loss graph
 * offers: smoothing (an EMA; the raw values stay as a faint line), a trend line (least
 * squares over the shown steps), outlier clipping (the y range from the 2nd to the 98th
 * percentile) and a log scale. Drag across any panel to zoom every panel to those steps;
 * "Reset zoom" shows them all again. The settings are remembered by this browser
 * (lib/chartSettings.ts); the zoom is not.
 */
import { useEffect, useState } from "react";
import {
  Extent, Row, chartRows, clippedExtent, extent, formatNumber, linePath, linearTrend, nearestRow, rowsInRange,
  smoothRows, tickLabels, ticks,
} from "@/lib/chart";
import { ChartSettings, DEFAULT_CHART_SETTINGS, readChartSettings, writeChartSettings } from "@/lib/chartSettings";

interface Series { key: string; label: string; color: string }

interface PanelSpec { id: string; title: string; series: Series[]; loss?: boolean; width: number; height: number }

const PANELS: PanelSpec[] = [
  {
    id: "loss", title: "Loss", loss: true, width: 760, height: 220, series: [
      { key: "loss", label: "total", color: "#e8e8e8" },
      { key: "video_loss", label: "video", color: "#4ea1ff" },
      { key: "audio_loss_raw", label: "audio (raw)", color: "#ff9f43" },
      { key: "audio_loss_scaled", label: "audio (scaled)", color: "#2ed573" },
    ],
  },
  { id: "multiplier", title: "Audio multiplier", width: 520, height: 220, series: [{ key: "audio_multiplier", label: "audio multiplier", color: "#c56cf0" }] },
  { id: "lr", title: "Learning rate", width: 520, height: 220, series: [{ key: "lr", label: "lr", color: "#ffd32a" }] },
];

const M = { left: 64, right: 12, top: 10, bottom: 26 };

function Panel({ raw, spec, settings, onZoom }: {
  raw: Row[]; spec: PanelSpec; settings: ChartSettings; onZoom: (range: [number, number]) => void;
}) {
  const { title, series, id, width: W, height: H } = spec;
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [hover, setHover] = useState<Row | null>(null);
  const [drag, setDrag] = useState<{ from: number; to: number } | null>(null);
  const log = Boolean(spec.loss && settings.log);
  const smoothing = spec.loss ? settings.smoothing : 0;
  const visible = series.filter((s) => !hidden.has(s.key));
  const keys = visible.map((s) => s.key);
  const rows = smoothRows(raw, series.map((s) => s.key), smoothing);
  const ext: Extent | null = spec.loss && settings.clip ? clippedExtent(rows, keys, log) : extent(smoothing ? [...rows, ...raw] : rows, keys, log);
  const steps = rows.map((r) => r.step).filter((s): s is number => typeof s === "number");
  const x0 = Math.min(...steps);
  const x1 = Math.max(...steps);
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const x = (step: number) => M.left + ((step - x0) / xSpan) * (W - M.left - M.right);
  const tr = (v: number) => (log ? Math.log10(v) : v);
  const lo = ext ? tr(ext.min) : 0;
  const hi = ext ? tr(ext.max) : 1;
  const yOf = (t: number) => M.top + (1 - (t - lo) / (hi - lo || 1)) * (H - M.top - M.bottom);
  // Clipped outliers are drawn at the plot's edge instead of far outside it.
  const y = (v: number) => Math.min(H - M.bottom, Math.max(M.top, yOf(tr(v))));
  const yTicks = ext ? (log ? ticks(lo, hi, 4).map((t) => 10 ** t) : ticks(ext.min, ext.max, 4)) : [];
  const yLabels = log ? yTicks.map(formatNumber) : tickLabels(yTicks);
  const xTicks = steps.length ? ticks(x0, x1, 6).filter((t) => Number.isInteger(t)) : [];
  const stepAt = (e: React.MouseEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * W;
    return x0 + ((px - M.left) / (W - M.left - M.right)) * xSpan;
  };

  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const step = stepAt(e);
    if (drag) setDrag({ ...drag, to: step });
    setHover(nearestRow(rows, step));
  };
  const onUp = () => {
    if (drag && Math.abs(x(drag.to) - x(drag.from)) > 6) onZoom([Math.min(drag.from, drag.to), Math.max(drag.from, drag.to)]);
    setDrag(null);
  };

  return (
    <figure className="chart-panel" data-panel={id}>
      <figcaption>
        <strong>{title}</strong>
        <span className="legend">
          {series.map((s) => (
            <label key={s.key} className="legend-item" style={{ opacity: hidden.has(s.key) ? 0.4 : 1 }}>
              <input type="checkbox" checked={!hidden.has(s.key)} onChange={() => {
                const next = new Set(hidden);
                if (next.has(s.key)) next.delete(s.key); else next.add(s.key);
                setHidden(next);
              }} />
              <span className="swatch" style={{ background: s.color }} />
              {s.label}
              {hover && typeof hover[s.key] === "number" && <span className="legend-value">{formatNumber(hover[s.key] as number)}</span>}
            </label>
          ))}
          {hover && <span className="legend-value">step {hover.step}</span>}
          {hover && typeof hover.peak_mem_gb === "number" && (
            <span className="legend-value" data-testid="hover-peak-mem"
              title="the trainer's peak memory at this step (GPU: allocated by tensors; CPU: the process's peak resident size so far)">
              peak mem {hover.peak_mem_gb.toFixed(2)} GiB
            </span>
          )}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} chart`} onMouseMove={onMove}
        onMouseDown={(e) => { e.preventDefault(); const s = stepAt(e); setDrag({ from: s, to: s }); }}
        onMouseUp={onUp} onMouseLeave={() => { setHover(null); setDrag(null); }} style={{ cursor: "crosshair" }}>
        <rect x={M.left} y={M.top} width={W - M.left - M.right} height={H - M.top - M.bottom} className="plot-bg" />
        {yTicks.map((t, i) => (
          <g key={`y${t}`}>
            <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} className="grid-line" />
            <text x={M.left - 6} y={y(t) + 4} textAnchor="end" className="tick">{yLabels[i]}</text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text key={`x${t}`} x={x(t)} y={H - 8} textAnchor="middle" className="tick">{t}</text>
        ))}
        {ext && smoothing > 0 && visible.map((s) => (
          <path key={`raw-${s.key}`} d={linePath(raw, s.key, x, y, log)} stroke={s.color} fill="none" strokeWidth={1}
            opacity={0.25} data-raw={s.key} />
        ))}
        {ext ? visible.map((s) => (
          <path key={s.key} d={linePath(rows, s.key, x, y, log)} stroke={s.color} fill="none" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" data-series={s.key} />
        )) : <text x={W / 2} y={H / 2} textAnchor="middle" className="tick">no values yet</text>}
        {ext && spec.loss && settings.trend && visible.map((s) => {
          const fit = linearTrend(raw, s.key, log);
          if (!fit) return null;
          const at = (step: number) => { const t = fit.intercept + fit.slope * step; return log ? 10 ** t : t; };
          return <line key={`trend-${s.key}`} x1={x(x0)} x2={x(x1)} y1={y(at(x0))} y2={y(at(x1))} stroke={s.color}
            strokeWidth={1.4} strokeDasharray="8 5" opacity={0.8} data-trend={s.key} />;
        })}
        {drag && (
          <rect x={Math.min(x(drag.from), x(drag.to))} y={M.top} width={Math.abs(x(drag.to) - x(drag.from))}
            height={H - M.top - M.bottom} className="zoom-box" />
        )}
        {hover && typeof hover.step === "number" && <line x1={x(hover.step)} x2={x(hover.step)} y1={M.top} y2={H - M.bottom} className="hover-line" />}
      </svg>
    </figure>
  );
}

export function LossChart({ rows }: { rows: Row[] }) {
  const [settings, setSettings] = useState<ChartSettings>(DEFAULT_CHART_SETTINGS);
  const [loaded, setLoaded] = useState(false);
  const [zoom, setZoom] = useState<[number, number] | null>(null);
  useEffect(() => {
    setSettings(readChartSettings(window.localStorage));
    setLoaded(true);
  }, []);
  const change = (next: Partial<ChartSettings>) => {
    const merged = { ...settings, ...next };
    setSettings(merged);
    if (loaded) writeChartSettings(window.localStorage, merged);
  };
  if (!rows.length) return <p className="muted" data-testid="loss-chart-empty">No metrics yet: the first values appear after log_every steps.</p>;
  const all = chartRows(rows);
  const zoomed = rowsInRange(all, zoom);
  const shown = zoomed.length >= 2 ? zoomed : all;
  const [main, ...small] = PANELS;
  return (
    <div className="loss-chart" data-testid="loss-chart">
      <div className="chart-controls" data-testid="chart-controls">
        <label title="An exponential moving average of the losses; the raw values stay as a faint line">
          Smoothing
          <input type="range" min={0} max={0.99} step={0.01} value={settings.smoothing} aria-label="smoothing"
            onChange={(e) => change({ smoothing: Number(e.target.value) })} />
          <span className="legend-value" data-testid="smoothing-value">{settings.smoothing.toFixed(2)}</span>
        </label>
        <label><input type="checkbox" checked={settings.trend} onChange={(e) => change({ trend: e.target.checked })} /> trend line</label>
        <label title="Scale the loss axis to the 2nd–98th percentile, so a few spikes do not flatten the curve">
          <input type="checkbox" checked={settings.clip} onChange={(e) => change({ clip: e.target.checked })} /> clip outliers
        </label>
        <label><input type="checkbox" checked={settings.log} onChange={(e) => change({ log: e.target.checked })} /> log scale</label>
        {zoom ? (
          <button type="button" className="small" onClick={() => setZoom(null)} data-testid="reset-zoom">
            Reset zoom (steps {Math.round(zoom[0])}–{Math.round(zoom[1])})
          </button>
        ) : <span className="muted">drag across a chart to zoom</span>}
      </div>
      <Panel raw={shown} spec={main} settings={settings} onZoom={setZoom} />
      <div className="chart-pair">{small.map((p) => <Panel key={p.id} raw={shown} spec={p} settings={settings} onZoom={setZoom} />)}</div>
    </div>
  );
}
