import { describe, expect, it } from "vitest";
import { CARDS, SOP_SECTION_6_KEYS, formFieldPaths, simpleKeys } from "@/lib/formLayout";
import { newDataset, newJobConfig, setAt } from "@/lib/configModel";
import { findField } from "@/lib/schema";

describe("Simple view layout", () => {
  it("has a control for every key of SOP section 6", () => {
    const keys = new Set(simpleKeys());
    for (const key of SOP_SECTION_6_KEYS) expect(keys.has(key), key).toBe(true);
  });

  it("shows each key once: exactly one network-type selector", () => {
    const keys = simpleKeys();
    expect(keys.filter((k) => k === "network.type")).toHaveLength(1);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("lists only keys the trainer's schema has, each with help text", () => {
    for (const card of CARDS) {
      for (const key of card.keys) {
        const spec = findField(card.section, key);
        expect(spec, `${card.section}.${key}`).toBeDefined();
        expect(spec!.description.length).toBeGreaterThan(5);
      }
    }
  });

  it("covers the model section and the dataset keys of the issue", () => {
    const keys = new Set(simpleKeys());
    for (const k of ["model.name_or_path", "model.quantize", "model.qtype", "model.layer_offloading",
      "datasets[].folder_path", "datasets[].num_frames", "datasets[].fps", "datasets[].resolution"]) {
      expect(keys.has(k), k).toBe(true);
    }
  });

  it("knows which validator paths have a control (per dataset and prompt)", () => {
    let doc = newJobConfig();
    doc = setAt(doc, ["config", "process", 0, "datasets", 1], newDataset("data/x"));
    const paths = formFieldPaths(doc);
    expect(paths.has("config.name")).toBe(true);
    expect(paths.has("config.process[0].datasets[1].num_frames")).toBe(true);
    expect(paths.has("config.process[0].train.max_nonfinite_steps")).toBe(true); // under "More settings"
    expect(paths.has("config.process[0].sample.samples[0].prompt")).toBe(true);
    expect(paths.has("config.process[0].train.optimizer_params")).toBe(false); // YAML only
  });
});
