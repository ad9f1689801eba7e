import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chartRows } from "@/lib/chart";
import { buildGrid, SampleRef } from "@/lib/samplesGrid";
import { listLoras } from "@/lib/server/runFiles";
import { bestSteps, isValidationRow, validationChartData } from "@/lib/validationChart";

// The shapes jobs/process/validation_steps.py writes into status.json.
const validation = {
  items: 10, sigmas: [0.1, 0.3, 0.5, 0.7, 0.9], criterion: "val_audio_loss",
  history: [
    { step: 2, video: 1.2, audio: 1.4, loss: 2.6 },
    { step: 0, video: 1.3, audio: 1.5, loss: 2.8 },
    { step: 2, video: 1.1, audio: null, loss: 1.1 }, // validated again after a resume
  ],
};
const best = {
  voice_similarity: { step: 4, value: 0.62, label: "voice similarity", file: "tom_best_voice.safetensors" },
  val_video_loss: { step: 2, value: 1.1, label: "validation video loss", file: null },
  val_audio_loss: { step: 0, value: 1.5, label: "validation audio loss", file: "tom_best_val.safetensors" },
};

describe("validation chart data", () => {
  it("gives one row per validated step, the later entry of a repeated step", () => {
    const data = validationChartData(validation)!;
    expect(data.rows).toEqual([{ step: 0, video: 1.3, audio: 1.5 }, { step: 2, video: 1.1, audio: null }]);
    expect(data.items).toBe(10);
    expect(data.criterion).toBe("val_audio_loss");
    expect(validationChartData(undefined)).toBeNull();
  });

  it("lists the best step per criterion in a fixed order, with its file", () => {
    expect(bestSteps(best).map((b) => [b.criterion, b.step, b.file])).toEqual([
      ["val_audio_loss", 0, "tom_best_val.safetensors"], ["val_video_loss", 2, null],
      ["voice_similarity", 4, "tom_best_voice.safetensors"]]);
    expect(bestSteps({ broken: { step: "x" } })).toEqual([]);
  });

  it("keeps validation rows and no-video steps out of the loss chart", () => {
    const rows = [
      { step: 0, val_loss: 2.8, val_video_loss: 1.3, val_audio_loss: 1.5 },
      { step: 1, loss: 0.5, video_loss: 0, audio_loss_raw: 1.3, video_scored_items: 0, audio_supervised_items: 1 },
      { step: 2, loss: 1.9, video_loss: 1.4, audio_loss_raw: 1.3, video_scored_items: 1, audio_supervised_items: 1 },
    ];
    expect(isValidationRow(rows[0])).toBe(true);
    expect(isValidationRow(rows[1])).toBe(false);
    const shown = chartRows(rows);
    expect(shown.map((r) => r.step)).toEqual([1, 2]);
    expect(shown[0].video_loss).toBeNull();
    expect(shown[1].video_loss).toBe(1.4);
  });
});

describe("audio-only runs and best-step files", () => {
  it("plays a sample's wav when the run wrote one beside its mp4", () => {
    const mp4: SampleRef = { step: 10, index: 0, file: "samples/000000010_00.mp4", kind: "video" };
    const wav: SampleRef = { step: 10, index: 0, file: "samples/000000010_00.wav", kind: "audio" };
    for (const order of [[mp4, wav], [wav, mp4]]) {
      const cell = buildGrid(order, ["a voice"], false).rows[0].cells[0];
      expect(cell.state === "file" && cell.sample.file).toBe(wav.file);
    }
  });

  it("lists the best-step files after the step files and the final LoRA", () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "loras-"));
    for (const name of ["tom_best_voice", "tom", "tom_000000002", "tom_best_val", "tom_best_other", "tom_000000004"]) {
      fs.writeFileSync(path.join(folder, `${name}.safetensors`), "x");
    }
    const loras = listLoras(folder, "tom");
    expect(loras.map((l) => [l.file, l.step, l.best ?? null])).toEqual([
      ["tom_000000002.safetensors", 2, null], ["tom_000000004.safetensors", 4, null], ["tom.safetensors", null, null],
      ["tom_best_val.safetensors", null, "val"], ["tom_best_voice.safetensors", null, "voice"]]);
    fs.rmSync(folder, { recursive: true });
  });
});
