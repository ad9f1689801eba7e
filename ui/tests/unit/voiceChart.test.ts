import { describe, expect, it } from "vitest";
import { chartRows, linePath } from "@/lib/chart";
import { isVoiceRow, voiceChartData } from "@/lib/voiceChart";

// The shape toolkit/voice/metric.py writes into status.json.
const voice = {
  reference: { clips: 2, speech_s: 4.8, excluded_no_speech: 1, excluded_no_audio: 1, excluded_failed: 0 },
  prompts: ["a red circle", "tom waves"],
  baseline: [0.8, null],
  history: [
    { step: 10, similarity: [0.7, 0.5], vs_base: [0.9, null] },
    { step: 0, similarity: [0.8, 0.6], vs_base: [1, null] },
    { step: 10, similarity: [0.75, null], vs_base: [0.95, null] }, // re-sampled after a resume
  ],
};

describe("voice chart data", () => {
  it("gives one series per prompt, rows sorted by step, the later entry of a repeated step", () => {
    const data = voiceChartData(voice)!;
    expect(data.series.map((s) => [s.key, s.prompt, s.baseline])).toEqual([["p0", "a red circle", 0.8], ["p1", "tom waves", null]]);
    expect(data.rows).toEqual([{ step: 0, p0: 0.8, p1: 0.6 }, { step: 10, p0: 0.75, p1: null }]);
    expect(data.reference).toEqual({ clips: 2, speechS: 4.8, excludedNoSpeech: 1, excludedOther: 1 });
  });

  it("switches to the similarity against the base model's sample, without the baseline line", () => {
    const data = voiceChartData(voice, "vs_base")!;
    expect(data.rows).toEqual([{ step: 0, p0: 1, p1: null }, { step: 10, p0: 0.95, p1: null }]);
    expect(data.series.every((s) => s.baseline === null)).toBe(true);
  });

  it("draws nothing for a run without the voice metric and tolerates damaged entries", () => {
    expect(voiceChartData(undefined)).toBeNull();
    expect(voiceChartData({ prompts: [] })).toBeNull();
    const data = voiceChartData({ prompts: ["a"], history: [null, { step: "x" }, { step: 3, similarity: [Number.NaN] }] })!;
    expect(data.rows).toEqual([{ step: 3, p0: null }]);
    expect(data.reference).toBeNull();
  });

  it("a prompt with no speech at one sampling breaks its line there", () => {
    const rows = [{ step: 0, p0: 0.8 }, { step: 5, p0: null }, { step: 10, p0: 0.7 }];
    expect(linePath(rows, "p0", (s) => s, (v) => v * 100)).toBe("M0.0,80.0l0,0M10.0,70.0l0,0");
  });
});

describe("loss chart rows", () => {
  it("leaves out the voice rows so they do not break the loss lines", () => {
    const rows = [
      { step: 1, loss: 1.2 },
      { step: 1, voice_similarity: 0.7, voice_similarity_00: 0.7 },
      { step: 2, loss: 1.1 },
    ];
    expect(rows.map(isVoiceRow)).toEqual([false, true, false]);
    const shown = chartRows(rows);
    expect(shown.map((r) => r.step)).toEqual([1, 2]);
    expect(linePath(shown, "loss", (s) => s, (v) => v)).toBe("M1.0,1.2L2.0,1.1");
  });
});

describe("VoiceChart component", () => {
  it("draws a line per prompt and a dashed baseline where the base sample had a voice", async () => {
    const { createElement } = await import("react");
    const { renderToStaticMarkup } = await import("react-dom/server");
    const { VoiceChart } = await import("@/components/VoiceChart");
    const html = renderToStaticMarkup(createElement(VoiceChart, { voice }));
    expect(html).toContain('data-series="p0"');
    expect(html).toContain('data-series="p1"');
    expect(html).toContain('data-baseline="p0"');
    expect(html).not.toContain('data-baseline="p1"');
    expect(html).toContain("2 clip(s) with speech (4.8 s), 1 without speech left out");
    expect(renderToStaticMarkup(createElement(VoiceChart, { voice: null }))).toBe("");
  });
});
