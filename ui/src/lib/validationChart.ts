/**
 * Data shaping of the validation chart and the best-checkpoint list (components/ValidationChart.tsx).
 *
 * The trainer writes into status.json (toolkit/train/validation.py, best_checkpoints.py):
 *   validation: { items, sigmas, criterion, history: [{ step, video, audio, loss }] }
 *   best: { val_audio_loss | val_video_loss | voice_similarity: { step, value, label, file } }
 * Read from status.json rather than metrics.jsonl, which the UI thins on long runs (the
 * rare validation rows could be dropped); the history there is complete.
 */
import type { Row } from "@/lib/chart";

export interface ValidationData {
  rows: Row[]; // one per validation, sorted by step: { step, video, audio }
  items: number | null;
  criterion: string | null;
}

export interface BestStep {
  criterion: string;
  label: string;
  step: number;
  value: number;
  file: string | null; // the file that keeps this step's weights, or null
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export function validationChartData(validation: unknown): ValidationData | null {
  if (!validation || typeof validation !== "object") return null;
  const v = validation as Record<string, unknown>;
  const history = Array.isArray(v.history) ? v.history : [];
  const byStep = new Map<number, Row>();
  for (const entry of history) {
    if (!entry || typeof entry !== "object") continue;
    const e = entry as Record<string, unknown>;
    const step = num(e.step);
    if (step === null) continue;
    byStep.set(step, { step, video: num(e.video), audio: num(e.audio) }); // a repeated step: the last wins
  }
  const rows = [...byStep.values()].sort((a, b) => (a.step as number) - (b.step as number));
  return { rows, items: num(v.items), criterion: typeof v.criterion === "string" ? v.criterion : null };
}

const ORDER = ["val_audio_loss", "val_video_loss", "voice_similarity"];

/** The best step of each criterion, in a fixed order (audio loss, video loss, voice). */
export function bestSteps(best: unknown): BestStep[] {
  if (!best || typeof best !== "object") return [];
  const out: BestStep[] = [];
  for (const [criterion, held] of Object.entries(best as Record<string, unknown>)) {
    if (!held || typeof held !== "object") continue;
    const h = held as Record<string, unknown>;
    const step = num(h.step);
    const value = num(h.value);
    if (step === null || value === null) continue;
    out.push({ criterion, label: typeof h.label === "string" ? h.label : criterion, step, value,
      file: typeof h.file === "string" ? h.file : null });
  }
  return out.sort((a, b) => ORDER.indexOf(a.criterion) - ORDER.indexOf(b.criterion));
}

/** A validation row of metrics.jsonl (no training loss in it): not a point of the loss chart. */
export function isValidationRow(row: Row): boolean {
  return "val_loss" in row && !("loss" in row);
}
