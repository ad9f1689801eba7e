import { describe, expect, it } from "vitest";
import {
  ConfigDoc, EXPLICIT_KEYS, NEW_DATASET_PRESET, formatPath, fromYaml, getAt, inputValue, jobNameOf, newJobConfig,
  parsePath, sanitizeName, setAt, switchArch, toYaml,
} from "@/lib/configModel";
import { PROCESS, SCHEMA, defaultOf, field } from "@/lib/schema";

const P = ["config", "process", 0] as const;

describe("paths", () => {
  it("parses and formats the validator's paths", () => {
    const text = "config.process[0].datasets[1].num_frames";
    expect(parsePath(text)).toEqual(["config", "process", 0, "datasets", 1, "num_frames"]);
    expect(formatPath(parsePath(text))).toBe(text);
  });

  it("setAt copies only the changed branch and deletes with undefined", () => {
    const doc = newJobConfig();
    const next = setAt(doc, [...P, "train", "lr"], 0.0002);
    expect(getAt(next, [...P, "train", "lr"])).toBe(0.0002);
    expect(getAt(doc, [...P, "train", "lr"])).toBe(7.5e-5); // the original is untouched
    expect(getAt(next, [...P, "network"])).toBe(getAt(doc, [...P, "network"])); // shared branch
    const removed = setAt(next, [...P, "train", "lr"], undefined);
    expect(getAt(removed, [...P, "train"])).not.toHaveProperty("lr");
  });
});

describe("new job defaults come from the generated schema", () => {
  const doc = newJobConfig({ name: "x", folderPath: "data/synthetic" });

  it("uses the SOP's LTX-2 defaults", () => {
    expect(getAt(doc, [...P, "network"])).toMatchObject({ type: "lora", linear: 32, linear_alpha: 32, rank_dropout: 0.1 });
    expect(getAt(doc, [...P, "train"])).toMatchObject({
      lr: 7.5e-5, auto_balance_audio_loss: true, independent_audio_timestep: true, noise_offset: 0.05, min_snr_gamma: 0,
    });
  });

  it("writes every explicit key with the schema's (or model table's) default", () => {
    const sections: Record<string, string> = {
      network: "network", train: "train", model: "model", save: "save", sample: "sample", logging: "logging",
    };
    for (const [name, at] of Object.entries(sections)) {
      for (const key of EXPLICIT_KEYS[name as keyof typeof EXPLICIT_KEYS]) {
        expect(getAt(doc, [...P, at, key]), `${at}.${key}`).toEqual(defaultOf(`${PROCESS}.${at}`, key));
      }
    }
    for (const key of EXPLICIT_KEYS.dataset) {
      expect(getAt(doc, [...P, "datasets", 0, key])).toEqual(defaultOf(`${PROCESS}.datasets[]`, key));
    }
    for (const [key, value] of Object.entries(NEW_DATASET_PRESET)) {
      expect(getAt(doc, [...P, "datasets", 0, key])).toEqual(value);
    }
  });

  it("takes model defaults from the exported LTX-2 table", () => {
    const table = SCHEMA.modelDefaults.ltx2;
    for (const [key, value] of Object.entries(table)) {
      const [section, name] = key.split(".");
      expect(defaultOf(`${PROCESS}.${section}`, name)).toEqual(value);
      expect(field(`${PROCESS}.${section}`, name).modelDefault).toBe(true);
    }
  });

  it("offers exactly the trainer's network types", () => {
    expect(field(`${PROCESS}.network`, "type").enum).toEqual(["lora", "dora", "lokr"]);
  });
});

describe("form <-> YAML round trip", () => {
  it("is lossless for a new config", () => {
    const doc = newJobConfig({ name: "rt", folderPath: "data/synthetic" });
    const back = fromYaml(toYaml(doc));
    expect(back).toEqual({ ok: true, doc });
  });

  it("keeps keys the form does not show, and edits only the changed key", () => {
    const yaml = [
      "job: extension",
      "config:",
      "  name: keep",
      "  process:",
      "    - type: sd_trainer",
      "      network: {type: dora, linear: 16, network_kwargs: {ignore_if_contains: [audio]}}",
      "      train: {steps: 10, optimizer_params: {weight_decay: 0.01}}",
      "      model: {name_or_path: models/tiny-ltx2}",
      "      datasets: [{folder_path: data/synthetic, num_frames: 17}]",
      "meta: {note: hello}",
    ].join("\n");
    const parsed = fromYaml(yaml);
    if (!parsed.ok) throw new Error(parsed.error);
    // The Simple view changes one field...
    const edited = setAt(parsed.doc, [...P, "network", "type"], "lokr");
    const again = fromYaml(toYaml(edited));
    if (!again.ok) throw new Error(again.error);
    // ...and everything else survives the trip through YAML.
    expect(getAt(again.doc, [...P, "network"])).toEqual({ type: "lokr", linear: 16, network_kwargs: { ignore_if_contains: ["audio"] } });
    expect(getAt(again.doc, [...P, "train", "optimizer_params"])).toEqual({ weight_decay: 0.01 });
    expect(getAt(again.doc, ["meta"])).toEqual({ note: "hello" });
  });

  it("reads YAML as the trainer's PyYAML does (YAML 1.1) and quotes look-alike strings", () => {
    const parsed = fromYaml("a: yes\nb: off\nc: '12'");
    expect(parsed).toEqual({ ok: true, doc: { a: true, b: false, c: "12" } });
    const text = toYaml({ word: "yes", num: "12" } as ConfigDoc);
    expect(text).toContain('word: "yes"');
    expect(text).toContain('num: "12"');
  });

  it("refuses unsafe or broken YAML instead of guessing", () => {
    expect(fromYaml("a: !!python/object/apply:os.system ['id']").ok).toBe(false);
    expect(fromYaml("a: 1\na: 2").ok).toBe(false);
    expect(fromYaml("- just\n- a list").ok).toBe(false);
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++) bomb.push(`${"bcdefghij"[i]}: &${"bcdefghij"[i]} [*${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}, *${"abcdefghij"[i]}]`);
    expect(fromYaml(bomb.join("\n")).ok).toBe(false);
  });
});

describe("input values", () => {
  const lr = field(`${PROCESS}.train`, "lr");
  const seed = field(`${PROCESS}.train`, "seed");
  const resolution = field(`${PROCESS}.datasets[]`, "resolution");

  it("turns typed text into config values", () => {
    expect(inputValue(lr, "7.5e-5")).toBe(7.5e-5);
    expect(inputValue(lr, "")).toBeUndefined(); // empty: back to the trainer's default
    expect(inputValue(seed, "")).toBeNull(); // nullable: explicit "not set"
    expect(inputValue(lr, "fast")).toBe("fast"); // left for the validator to report
    expect(inputValue(resolution, "512, 768")).toEqual([512, 768]);
  });

  it("sanitises run names like the trainer", () => {
    expect(sanitizeName(" my char/../x ")).toBe("my_char_.._x");
    expect(sanitizeName("..hidden..")).toBe("hidden");
    expect(jobNameOf(setAt(newJobConfig(), ["config", "name"], "a b"))).toBe("a_b");
  });
});

describe("YAML errors in the Advanced view", () => {
  it("say where and what in a config author's words", () => {
    const dup = fromYaml("config:\n  name: a\n  name: b\n");
    expect(dup.ok).toBe(false);
    if (!dup.ok) expect(dup.error).toBe("line 3, column 3: a key appears twice in the same section: keep one\n      name: b");
    const tag = fromYaml("x: !!python/object:os.system {}\n");
    if (!tag.ok) expect(tag.error).toMatch(/^line 1, column 4: tags such as !!python\/object:os.system are not allowed/);
    else throw new Error("a python tag was accepted");
    const open = fromYaml("a: [1, 2\n");
    if (!open.ok) expect(open.error).toMatch(/a \[ list \] is not closed with \]/);
    else throw new Error("an unclosed list was accepted");
  });
});

describe("the arch selector", () => {
  it("offers the three LTX-2 versions and moves the model defaults along", () => {
    const arch = field(`${PROCESS}.model`, "arch");
    expect(arch.enum).toEqual(["ltx2", "ltx2.3", "ltx2.5"]);
    let doc = newJobConfig();
    expect(getAt(doc, [...P, "sample", "sample_steps"])).toBe(40);
    doc = setAt(doc, [...P, "sample", "guidance_scale"], 5); // the user's own value
    doc = switchArch(doc, "ltx2.3");
    expect(getAt(doc, [...P, "model", "arch"])).toBe("ltx2.3");
    expect(getAt(doc, [...P, "sample", "sample_steps"])).toBe(SCHEMA.modelDefaults["ltx2.3"]["sample.sample_steps"]);
    expect(getAt(doc, [...P, "sample", "sample_steps"])).toBe(30);
    expect(getAt(doc, [...P, "sample", "guidance_scale"])).toBe(5);
  });
});
