/**
 * Data shaping of the voice-similarity chart (components/VoiceChart.tsx).
 *
 * The trainer writes `status.json` → `voice` (toolkit/voice_metric.py):
 *   { reference: {clips, speech_s, excluded_no_speech, ...}, prompts: [..],
 *     baseline: [per prompt: the base model's sample vs the reference, or null],
 *     history: [{ step, similarity: [per prompt], vs_base: [per prompt] }] }
 * The chart reads status.json rather than metrics.jsonl because the UI thins long metric
 * files, which could drop the rare voice rows; the history in status.json is complete.
 */
import type { Row } from "@/lib/chart";

export type VoiceMeasure = "similarity" | "vs_base";

export interface VoiceSeries {
  index: number;
  prompt: string;
  key: string; // the Row key of this prompt's values
  baseline: number | null; // a horizontal line: where the base model's voice stood
}

export interface VoiceReference {
  clips: number;
  speechS: number;
  excludedNoSpeech: number;
  excludedOther: number;
}

export interface VoiceChartData {
  series: VoiceSeries[];
  rows: Row[]; // one per sampling, sorted by step: { step, p0, p1, ... }
  reference: VoiceReference | null;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The chart's data from status.json's `voice` (anything else, or nothing, gives null). */
export function voiceChartData(voice: unknown, measure: VoiceMeasure = "similarity"): VoiceChartData | null {
  if (!voice || typeof voice !== "object") return null;
  const v = voice as Record<string, unknown>;
  const prompts = Array.isArray(v.prompts) ? v.prompts.map((p) => String(p)) : [];
  const history = Array.isArray(v.history) ? v.history : [];
  const baseline = Array.isArray(v.baseline) ? v.baseline : [];
  if (!prompts.length) return null;
  const series: VoiceSeries[] = prompts.map((prompt, index) => ({
    index,
    prompt,
    key: `p${index}`,
    // The baseline is a similarity to the reference; against the base sample itself it would be 1.
    baseline: measure === "similarity" ? num(baseline[index]) : null,
  }));
  const byStep = new Map<number, Row>();
  for (const entry of history) {
    if (!entry || typeof entry !== "object") continue;
    const e = entry as Record<string, unknown>;
    const step = num(e.step);
    const values = e[measure];
    if (step === null || !Array.isArray(values)) continue;
    const row: Row = { step };
    series.forEach((s) => { row[s.key] = num(values[s.index]); });
    byStep.set(step, row); // a step sampled again after a resume: the later entry wins
  }
  const rows = [...byStep.values()].sort((a, b) => (a.step as number) - (b.step as number));
  const r = v.reference && typeof v.reference === "object" ? (v.reference as Record<string, unknown>) : null;
  const reference = r
    ? {
        clips: num(r.clips) ?? 0,
        speechS: num(r.speech_s) ?? 0,
        excludedNoSpeech: num(r.excluded_no_speech) ?? 0,
        excludedOther: (num(r.excluded_no_audio) ?? 0) + (num(r.excluded_failed) ?? 0),
      }
    : null;
  return { series, rows, reference };
}

/** True for a metrics.jsonl row the voice metric wrote (no loss in it: not for the loss chart). */
export function isVoiceRow(row: Row): boolean {
  return "voice_similarity" in row && !("loss" in row);
}
