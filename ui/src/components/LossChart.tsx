"use client";
/**
 * The loss chart of a job, from metrics.jsonl, drawn as SVG: one panel for the losses
 * (total, video, audio raw and audio scaled), one for the audio multiplier of the
 * auto-balancer, one for the learning rate. Hover shows the values at a step, with the
 * trainer's peak memory at that step.
 */
import { useState } from "react";
import { Row, chartRows, extent, formatNumber, linePath, nearestRow, tickLabels, ticks } from "@/lib/chart";

interface Series { key: string; label: string; color: string }

const PANELS: { id: string; title: string; series: Series[]; logToggle?: boolean; width: number; height: number }[] = [
  {
    id: "loss", title: "Loss", logToggle: true, width: 760, height: 220, series: [
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

function Panel({ rows, title, series, logToggle, id, width: W, height: H }: {
  rows: Row[]; title: string; series: Series[]; logToggle?: boolean; id: string; width: number; height: number;
}) {
  const [log, setLog] = useState(false);
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [hover, setHover] = useState<Row | null>(null);
  const visible = series.filter((s) => !hidden.has(s.key));
  const ext = extent(rows, visible.map((s) => s.key), log);
  const steps = rows.map((r) => r.step).filter((s): s is number => typeof s === "number");
  const x0 = Math.min(...steps);
  const x1 = Math.max(...steps);
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const x = (step: number) => M.left + ((step - x0) / xSpan) * (W - M.left - M.right);
  const tr = (v: number) => (log ? Math.log10(v) : v);
  const lo = ext ? tr(ext.min) : 0;
  const hi = ext ? tr(ext.max) : 1;
  const y = (v: number) => M.top + (1 - (tr(v) - lo) / (hi - lo || 1)) * (H - M.top - M.bottom);
  const yTicks = ext ? (log ? ticks(lo, hi, 4).map((t) => 10 ** t) : ticks(ext.min, ext.max, 4)) : [];
  const yLabels = log ? yTicks.map(formatNumber) : tickLabels(yTicks);
  const xTicks = steps.length ? ticks(x0, x1, 6).filter((t) => Number.isInteger(t)) : [];

  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * W;
    const step = x0 + ((px - M.left) / (W - M.left - M.right)) * xSpan;
    setHover(nearestRow(rows, step));
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
          {logToggle && (
            <label className="legend-item"><input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} /> log scale</label>
          )}
          {hover && <span className="legend-value">step {hover.step}</span>}
          {hover && typeof hover.peak_mem_gb === "number" && (
            <span className="legend-value" data-testid="hover-peak-mem"
              title="the trainer's peak memory at this step (GPU: allocated by tensors; CPU: the process's peak resident size so far)">
              peak mem {hover.peak_mem_gb.toFixed(2)} GiB
            </span>
          )}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} chart`} onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
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
        {ext ? visible.map((s) => (
          <path key={s.key} d={linePath(rows, s.key, x, y, log)} stroke={s.color} fill="none" strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" data-series={s.key} />
        )) : <text x={W / 2} y={H / 2} textAnchor="middle" className="tick">no values yet</text>}
        {hover && typeof hover.step === "number" && <line x1={x(hover.step)} x2={x(hover.step)} y1={M.top} y2={H - M.bottom} className="hover-line" />}
      </svg>
    </figure>
  );
}

export function LossChart({ rows }: { rows: Row[] }) {
  if (!rows.length) return <p className="muted" data-testid="loss-chart-empty">No metrics yet: the first values appear after log_every steps.</p>;
  const shown = chartRows(rows);
  const [main, ...small] = PANELS;
  return (
    <div className="loss-chart" data-testid="loss-chart">
      <Panel rows={shown} {...main} />
      <div className="chart-pair">{small.map((p) => <Panel key={p.id} rows={shown} {...p} />)}</div>
    </div>
  );
}
