/**
 * Data shaping of the voice-similarity chart (components/VoiceChart.tsx).
 *
 * The trainer writes `status.json` → `voice` (toolkit/voice/metric.py):
 *   { reference: {clips, speech_s, excluded_no_speech, ...}, prompts: [..],
 *     baseline: [per prompt: the base model's sample vs the reference, or null],
 *     history: [{ step, similarity: [per prompt], vs_base: [per prompt], speech_s: [per prompt] }] }
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
  /** Seconds of speech of each prompt's sample at the latest sampling (null: not known). */
  latestSpeech: (number | null)[] | null;
  latestStep: number | null;
}

/** Why the chart shows no line, or a flat one (null: it shows the voice). */
export type EmptyReason = "no-training-speech" | "no-sample" | "no-sample-speech" | null;

/** The chart's explanation, in the words the dataset check uses (toolkit/voice/speech.py). */
export const EMPTY_TEXT: Record<Exclude<EmptyReason, null>, string> = {
  "no-training-speech": "No speech in the training clips: there is no voice to compare the samples with. "
    + "Their audio trains (music, tones, noise), but it is not a voice. Add clips of the character speaking; "
    + "the dataset check lists the clips without speech.",
  "no-sample": "No sample yet: the samples are scored when the trainer renders them (sample_every).",
  "no-sample-speech": "No speech in the samples: they score 0 until the model speaks "
    + "(early in training, or with a model that only makes noise, such as the tiny test model).",
};

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
  const speechByStep = new Map<number, (number | null)[]>();
  for (const entry of history) {
    if (!entry || typeof entry !== "object") continue;
    const e = entry as Record<string, unknown>;
    const step = num(e.step);
    const values = e[measure];
    if (step === null || !Array.isArray(values)) continue;
    const row: Row = { step };
    series.forEach((s) => { row[s.key] = num(values[s.index]); });
    byStep.set(step, row); // a step sampled again after a resume: the later entry wins
    const speech = Array.isArray(e.speech_s) ? e.speech_s : [];
    speechByStep.set(step, series.map((s) => num(speech[s.index])));
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
  const latestStep = rows.length ? (rows[rows.length - 1].step as number) : null;
  return { series, rows, reference, latestStep, latestSpeech: latestStep === null ? null : speechByStep.get(latestStep) ?? null };
}

/**
 * Why the chart is empty or flat: no speech in the training clips (no reference voice: the
 * similarity to it cannot be computed), no sampling scored yet, or no speech in any sample
 * of the latest sampling (each scores 0). Null when it shows a voice.
 */
export function emptyReason(data: VoiceChartData, measure: VoiceMeasure = "similarity"): EmptyReason {
  if (measure === "similarity" && data.reference && data.reference.clips === 0) return "no-training-speech";
  if (!data.rows.length) return "no-sample";
  const speech = data.latestSpeech;
  if (speech && speech.length && speech.every((s) => s === 0)) return "no-sample-speech";
  return null;
}

/** True for a metrics.jsonl row the voice metric wrote (no loss in it: not for the loss chart). */
export function isVoiceRow(row: Row): boolean {
  return "voice_similarity" in row && !("loss" in row);
}
