import { describe, expect, it } from "vitest";
import { buildGrid, samplePrompts, SampleRef } from "@/lib/samplesGrid";
import { fromYaml } from "@/lib/configModel";

const s = (step: number, index: number): SampleRef => ({ step, index, file: `samples/${step}_${index}.mp4`, kind: "video" });

describe("samples grid", () => {
  it("rows are prompts with their text, columns steps newest first", () => {
    const grid = buildGrid([s(10, 0), s(20, 1), s(10, 1), s(20, 0)], ["a cat", "a dog"], false);
    expect(grid.steps).toEqual([20, 10]);
    expect(grid.rows.map((r) => r.prompt)).toEqual(["a cat", "a dog"]);
    expect(grid.rows[1].cells.map((c) => (c.state === "file" ? c.sample.step : c.state))).toEqual([20, 10]);
  });
  it("shows a placeholder for a sample still being rendered", () => {
    const filling = buildGrid([s(10, 0), s(10, 1), s(20, 0)], ["a", "b"], true);
    expect(filling.steps).toEqual([20, 10]);
    expect(filling.rows[1].cells[0]).toEqual({ state: "pending" });
    const next = buildGrid([s(10, 0), s(10, 1)], ["a", "b"], true);
    expect(next.steps).toEqual([-1, 10]);
    expect(next.rows.every((r) => r.cells[0].state === "pending")).toBe(true);
    // Not sampling: a missing file is missing, not pending.
    expect(buildGrid([s(20, 0)], ["a", "b"], false).rows[1].cells[0]).toEqual({ state: "missing" });
  });
  it("reads prompts from sample.samples and the legacy sample.prompts", () => {
    const a = fromYaml("config:\n  process:\n    - sample:\n        samples:\n          - prompt: hello\n          - prompt: bye\n");
    expect(samplePrompts(a.ok ? a.doc : null)).toEqual(["hello", "bye"]);
    const b = fromYaml("config:\n  process:\n    - sample:\n        prompts: [one, two]\n");
    expect(samplePrompts(b.ok ? b.doc : null)).toEqual(["one", "two"]);
  });
});
