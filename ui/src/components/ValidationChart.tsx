"use client";
/**
 * Held-out validation loss per modality (validation_datasets): the flow-matching MSE of the
 * validation items at fixed sigmas and noise, video and audio, with the best step of each
 * marked; below it, the best step per criterion (validation audio loss, validation video
 * loss, voice similarity) and the file that keeps its weights. Drawn as SVG like the loss chart.
 */
import { useState } from "react";
import { extent, formatNumber, linePath, nearestRow, tickLabels, ticks, type Row } from "@/lib/chart";
import { bestSteps, validationChartData } from "@/lib/validationChart";

const SERIES = [
  { key: "video", label: "video", color: "#4ea1ff", best: "val_video_loss" },
  { key: "audio", label: "audio", color: "#ff9f43", best: "val_audio_loss" },
];
const W = 760;
const H = 220;
const M = { left: 64, right: 12, top: 10, bottom: 26 };

export function ValidationChart({ validation, best }: { validation: unknown; best: unknown }) {
  const [hover, setHover] = useState<Row | null>(null);
  const data = validationChartData(validation);
  if (!data) return null;
  const { rows } = data;
  const marks = bestSteps(best);
  const ext = extent(rows, SERIES.map((s) => s.key));
  const steps = rows.map((r) => r.step as number);
  const x0 = steps.length ? Math.min(...steps) : 0;
  const x1 = steps.length ? Math.max(...steps) : 1;
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const x = (step: number) => M.left + ((step - x0) / xSpan) * (W - M.left - M.right);
  const lo = ext?.min ?? 0;
  const hi = ext?.max ?? 1;
  const y = (v: number) => M.top + (1 - (v - lo) / (hi - lo || 1)) * (H - M.top - M.bottom);
  const yTicks = ext ? ticks(ext.min, ext.max, 4) : [];
  const yLabels = tickLabels(yTicks);
  const xTicks = steps.length ? ticks(x0, x1, 6).filter((t) => Number.isInteger(t)) : [];
  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * W;
    setHover(nearestRow(rows, x0 + ((px - M.left) / (W - M.left - M.right)) * xSpan));
  };

  return (
    <figure className="chart-panel" data-testid="validation-chart" style={{ marginTop: 10 }}>
      <figcaption>
        <strong>Validation loss (held out)</strong>
        <span className="legend">
          {SERIES.map((s) => (
            <span key={s.key} className="legend-item">
              <span className="swatch" style={{ background: s.color }} />
              {s.label}
              {hover && typeof hover[s.key] === "number" && <span className="legend-value">{formatNumber(hover[s.key] as number)}</span>}
            </span>
          ))}
          {hover && <span className="legend-value">step {hover.step}</span>}
        </span>
      </figcaption>
      {data.items !== null && (
        <p className="muted" style={{ margin: "2px 0 6px", fontSize: 12 }}>
          {data.items} held-out item(s), fixed sigmas and noise · dotted: the best step of each line
        </p>
      )}
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Validation loss chart" onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
        <rect x={M.left} y={M.top} width={W - M.left - M.right} height={H - M.top - M.bottom} className="plot-bg" />
        {yTicks.map((t, i) => (
          <g key={`y${t}`}>
            <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} className="grid-line" />
            <text x={M.left - 6} y={y(t) + 4} textAnchor="end" className="tick">{yLabels[i]}</text>
          </g>
        ))}
        {xTicks.map((t) => <text key={`x${t}`} x={x(t)} y={H - 8} textAnchor="middle" className="tick">{t}</text>)}
        {SERIES.map((s) => {
          const mark = marks.find((m) => m.criterion === s.best);
          return mark && steps.length ? (
            <line key={`best-${s.key}`} x1={x(mark.step)} x2={x(mark.step)} y1={M.top} y2={H - M.bottom}
              stroke={s.color} strokeDasharray="2 3" strokeWidth={1.2} data-best={s.best} />
          ) : null;
        })}
        {ext ? SERIES.map((s) => (
          <path key={s.key} d={linePath(rows, s.key, x, y)} stroke={s.color} fill="none" strokeWidth={1.8}
            strokeLinecap="round" strokeLinejoin="round" data-series={s.key} />
        )) : <text x={W / 2} y={H / 2} textAnchor="middle" className="tick">no validation yet</text>}
        {hover && typeof hover.step === "number" && <line x1={x(hover.step)} x2={x(hover.step)} y1={M.top} y2={H - M.bottom} className="hover-line" />}
      </svg>
    </figure>
  );
}

/** The best step per criterion, with a download of the file that keeps it. */
export function BestSteps({ best, fileUrl }: { best: unknown; fileUrl: (file: string) => string }) {
  const marks = bestSteps(best);
  if (!marks.length) return null;
  return (
    <table className="table" data-testid="best-steps" style={{ marginBottom: 10 }}>
      <thead><tr><th>Best by</th><th>Step</th><th>Value</th><th>File</th></tr></thead>
      <tbody>
        {marks.map((m) => (
          <tr key={m.criterion} data-criterion={m.criterion}>
            <td>{m.label}</td>
            <td>{m.step}</td>
            <td>{formatNumber(m.value)}</td>
            <td>{m.file ? <a href={fileUrl(m.file)} download>{m.file}</a> : <span className="muted">(no file of its own)</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
