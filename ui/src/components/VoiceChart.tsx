"use client";
/**
 * Voice similarity per sample prompt over the run's samplings (sample.voice_metric): the
 * cosine similarity between each sample's voice and the training clips' voice, with the
 * base model's sample for the same prompt drawn as a dashed line. A second view shows
 * each sample against the base model's sample instead. Drawn as SVG like the loss chart.
 * When there is nothing to draw, or only zeros, it says why (lib/voiceChart.ts emptyReason)
 * and links to the dataset check of the job's datasets, which names the clips without speech.
 */
import { useState } from "react";
import Link from "next/link";
import { formatNumber, linePath, nearestRow, ticks, type Row } from "@/lib/chart";
import { EMPTY_TEXT, emptyReason, voiceChartData, type VoiceMeasure } from "@/lib/voiceChart";

export interface CheckLink { label: string; href: string }

const COLORS = ["#4ea1ff", "#ff9f43", "#2ed573", "#c56cf0", "#ffd32a", "#ff6b81", "#7bed9f", "#70a1ff"];
const W = 760;
const H = 240;
const M = { left: 48, right: 12, top: 10, bottom: 26 };

export function VoiceChart({ voice, checks = [] }: { voice: unknown; checks?: CheckLink[] }) {
  const [measure, setMeasure] = useState<VoiceMeasure>("similarity");
  const [hover, setHover] = useState<Row | null>(null);
  const data = voiceChartData(voice, measure);
  if (!data) return null;
  const { series, rows, reference } = data;
  const why = emptyReason(data, measure);
  const steps = rows.map((r) => r.step as number);
  const x0 = steps.length ? Math.min(...steps) : 0;
  const x1 = steps.length ? Math.max(...steps) : 1;
  const xSpan = x1 > x0 ? x1 - x0 : 1;
  const x = (step: number) => M.left + ((step - x0) / xSpan) * (W - M.left - M.right);
  // Similarities of these embeddings lie in [0, 1] (they are non-negative): a fixed scale
  // keeps runs comparable at a glance.
  const y = (v: number) => M.top + (1 - Math.max(0, Math.min(1, v))) * (H - M.top - M.bottom);
  const yTicks = ticks(0, 1, 5);
  const xTicks = steps.length ? ticks(x0, x1, 6).filter((t) => Number.isInteger(t)) : [];
  const onMove = (e: React.MouseEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * W;
    setHover(nearestRow(rows, x0 + ((px - M.left) / (W - M.left - M.right)) * xSpan));
  };

  return (
    <figure className="chart-panel" data-testid="voice-chart" style={{ marginTop: 10 }}>
      <figcaption>
        <strong>Voice similarity</strong>
        <select style={{ width: "auto" }} value={measure} onChange={(e) => setMeasure(e.target.value as VoiceMeasure)} aria-label="compare with">
          <option value="similarity">to the training clips&apos; voice</option>
          <option value="vs_base">to the base model&apos;s sample</option>
        </select>
        <span className="legend">
          {series.map((s) => (
            <span key={s.key} className="legend-item" title={s.prompt}>
              <span className="swatch" style={{ background: COLORS[s.index % COLORS.length] }} />
              #{s.index} {s.prompt.length > 40 ? `${s.prompt.slice(0, 40)}…` : s.prompt}
              {hover && typeof hover[s.key] === "number" && <span className="legend-value">{formatNumber(hover[s.key] as number)}</span>}
            </span>
          ))}
          {hover && <span className="legend-value">step {hover.step}</span>}
        </span>
      </figcaption>
      {reference && (
        <p className="muted" data-testid="voice-reference" style={{ margin: "2px 0 6px", fontSize: 12 }}>
          Reference: {reference.clips} clip(s) with speech ({reference.speechS.toFixed(1)} s)
          {reference.excludedNoSpeech > 0 && `, ${reference.excludedNoSpeech} without speech left out`}
          {reference.excludedOther > 0 && `, ${reference.excludedOther} without usable audio left out`}
          {series.some((s) => s.baseline !== null) && " · dashed: the base model's sample"}
        </p>
      )}
      {why && (
        <div className="warn-box voice-why" data-testid="voice-why" data-reason={why}>
          <p>{EMPTY_TEXT[why]}</p>
          {why !== "no-sample" && checks.length > 0 && (
            <p>{checks.map((c) => (
              <Link key={c.href} href={c.href} data-testid="voice-check-link">Check dataset {c.label}</Link>
            ))}</p>
          )}
        </div>
      )}
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Voice similarity chart" onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
        <rect x={M.left} y={M.top} width={W - M.left - M.right} height={H - M.top - M.bottom} className="plot-bg" />
        {yTicks.map((t) => (
          <g key={`y${t}`}>
            <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} className="grid-line" />
            <text x={M.left - 6} y={y(t) + 4} textAnchor="end" className="tick">{t.toFixed(1)}</text>
          </g>
        ))}
        {xTicks.map((t) => <text key={`x${t}`} x={x(t)} y={H - 8} textAnchor="middle" className="tick">{t}</text>)}
        {series.map((s) => s.baseline !== null && (
          <line key={`b${s.key}`} x1={M.left} x2={W - M.right} y1={y(s.baseline)} y2={y(s.baseline)}
            stroke={COLORS[s.index % COLORS.length]} strokeDasharray="5 4" strokeWidth={1.2} data-baseline={s.key} />
        ))}
        {rows.length && why !== "no-training-speech" ? series.map((s) => (
          <path key={s.key} d={linePath(rows, s.key, x, y)} stroke={COLORS[s.index % COLORS.length]} fill="none"
            strokeWidth={1.8} strokeLinecap="round" strokeLinejoin="round" data-series={s.key} />
        )) : <text x={W / 2} y={H / 2} textAnchor="middle" className="tick">{why === "no-training-speech" ? "no voice to compare with" : "no samples scored yet"}</text>}
        {hover && typeof hover.step === "number" && <line x1={x(hover.step)} x2={x(hover.step)} y1={M.top} y2={H - M.bottom} className="hover-line" />}
      </svg>
    </figure>
  );
}
