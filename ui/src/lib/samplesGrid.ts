/**
 * The samples grid of a job page: one row per prompt of the config, one column per step
 * that has samples, newest step first. A cell the trainer is still rendering (the job is
 * sampling and the file is not there yet: samples are written under a temp name and
 * renamed when complete) is a placeholder.
 */
import { ConfigDoc, getAt } from "@/lib/configModel";

export interface SampleRef { step: number; index: number; file: string; kind: "video" | "audio" | "image" }

export type Cell = { state: "file"; sample: SampleRef } | { state: "pending" } | { state: "missing" };

export interface Grid {
  steps: number[]; // newest first
  rows: { index: number; prompt: string; cells: Cell[] }[];
}

/** The prompts of `sample.samples[].prompt` (or the legacy `sample.prompts`). */
export function samplePrompts(doc: ConfigDoc | null): string[] {
  if (!doc) return [];
  const sample = getAt(doc, ["config", "process", 0, "sample"]);
  const samples = getAt(sample ?? {}, ["samples"]);
  if (Array.isArray(samples)) return samples.map((s) => String(getAt(s, ["prompt"]) ?? ""));
  const legacy = getAt(sample ?? {}, ["prompts"]);
  return Array.isArray(legacy) ? legacy.map(String) : [];
}

export function buildGrid(samples: SampleRef[], prompts: string[], sampling: boolean): Grid {
  const steps = [...new Set(samples.map((s) => s.step))].sort((a, b) => b - a);
  const count = Math.max(prompts.length, ...samples.map((s) => s.index + 1), 0);
  // An audio-only run writes each sample's sound as a .wav beside its mp4 (sample.audio_only):
  // the sound is the sample there, so the cell plays the wav.
  const at = new Map<string, SampleRef>();
  for (const s of samples) {
    const key = `${s.step}_${s.index}`;
    const held = at.get(key);
    if (!held || (s.kind === "audio" && held.kind !== "audio")) at.set(key, s);
  }
  const newest = steps[0];
  const newestComplete = newest !== undefined && [...Array(count).keys()].every((i) => at.has(`${newest}_${i}`));
  // While sampling, either the newest column is filling up, or a new one has not begun yet.
  const pendingStep = sampling ? (newest !== undefined && !newestComplete ? newest : -1) : null;
  if (pendingStep === -1) steps.unshift(-1);
  const rows = [...Array(count).keys()].map((index) => ({
    index,
    prompt: prompts[index] ?? "",
    cells: steps.map((step): Cell => {
      const found = at.get(`${step}_${index}`);
      if (found) return { state: "file", sample: found };
      return step === pendingStep ? { state: "pending" } : { state: "missing" };
    }),
  }));
  return { steps, rows };
}
