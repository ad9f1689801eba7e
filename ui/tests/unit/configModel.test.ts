import { describe, expect, it } from "vitest";
import {
  ConfigDoc, Json, NEW_DATASET_PRESET, effectiveValue, formatPath, fromYaml, getAt, inputValue, jobNameOf, newJobConfig,
  parsePath, sanitizeName, setAt, switchArch, toYaml,
} from "@/lib/configModel";
import { CARDS, INACTIVE_WHEN } from "@/lib/formLayout";
import { PROCESS, SCHEMA, defaultOf, field, findField } from "@/lib/schema";

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
    expect(getAt(doc, [...P, "train", "lr"])).toBeUndefined(); // the original is untouched
    expect(getAt(next, [...P, "model"])).toBe(getAt(doc, [...P, "model"])); // shared branch
    const removed = setAt(next, [...P, "train", "lr"], undefined);
    expect(getAt(removed, [...P, "train"])).not.toHaveProperty("lr");
  });
});

describe("new job defaults come from the generated schema", () => {
  const doc = newJobConfig({ name: "x", folderPath: "data/synthetic" });

  it("uses the SOP's LTX-2 defaults, as the values in force (not written)", () => {
    expect(effectiveValue(doc, "network.linear")).toBe(32);
    expect(effectiveValue(doc, "network.rank_dropout")).toBe(0.1);
    expect(effectiveValue(doc, "train.lr")).toBe(7.5e-5);
    expect(effectiveValue(doc, "train.auto_balance_audio_loss")).toBe(true);
    expect(effectiveValue(doc, "train.noise_offset")).toBe(0.05);
    expect(effectiveValue(doc, "train.min_snr_gamma")).toBe(0);
    const switched = setAt(doc, [...P, "model", "arch"], "ltx2.3");
    expect(effectiveValue(switched, "sample.sample_steps")).toBe(SCHEMA.modelDefaults["ltx2.3"]["sample.sample_steps"]);
  });

  it("writes no default: every value in a new config differs from its default (all placeholders, no mix)", () => {
    const written: [string, Json][] = [];
    const walk = (node: Json | undefined, section: string, rel: string) => {
      if (!node || typeof node !== "object" || Array.isArray(node)) return;
      for (const [key, value] of Object.entries(node)) {
        const spec = findField(section, key);
        if (spec?.section) walk(value, spec.section, `${rel}${key}.`);
        else if (spec) written.push([`${rel}${key}`, value]);
      }
    };
    walk(getAt(doc, [...P]), PROCESS, "");
    walk(getAt(doc, [...P, "datasets", 0]), `${PROCESS}.datasets[]`, "datasets[0].");
    expect(written.length).toBeGreaterThan(0);
    for (const [key, value] of written) {
      const parts = key.replace("datasets[0].", "datasets[].").split(".");
      const name = parts.pop()!;
      const section = parts.length ? `${PROCESS}.${parts.join(".")}` : PROCESS;
      expect(value, key).not.toEqual(defaultOf(section, name));
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

describe("fields that do nothing in the current state", () => {
  it("name real keys of the form, each with its reason", () => {
    const shown = new Set(CARDS.flatMap((c) => c.keys.map((k) => `${c.at.join(".")}.${k}`)));
    for (const rule of INACTIVE_WHEN) {
      expect(shown.has(rule.key), rule.key).toBe(true);
      expect(rule.reason.length).toBeGreaterThan(10);
    }
  });

  it("the manual audio multiplier is off while auto-balance is on; strict thresholds while strict mode is off", () => {
    const doc = newJobConfig();
    const active = (d: ConfigDoc, key: string) => {
      const rule = INACTIVE_WHEN.find((r) => r.key === key)!;
      return rule.active(effectiveValue(d, rule.dependsOn));
    };
    expect(active(doc, "train.audio_loss_multiplier")).toBe(false); // auto-balance is on by default
    expect(active(setAt(doc, [...P, "train", "auto_balance_audio_loss"], false), "train.audio_loss_multiplier")).toBe(true);
    expect(active(doc, "train.strict_audio_min_supervised_ratio")).toBe(false);
    expect(active(doc, "train.strict_audio_warmup_steps")).toBe(false);
    const strict = setAt(doc, [...P, "train", "strict_audio_mode"], true);
    expect(active(strict, "train.strict_audio_min_supervised_ratio")).toBe(true);
    expect(active(strict, "train.strict_audio_warmup_steps")).toBe(true);
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
  const sampleSeed = field(`${PROCESS}.sample.samples[]`, "seed");
  const resolution = field(`${PROCESS}.datasets[]`, "resolution");

  it("turns typed text into config values", () => {
    expect(inputValue(lr, "7.5e-5")).toBe(7.5e-5);
    expect(inputValue(lr, "")).toBeUndefined(); // empty: back to the trainer's default
    expect(inputValue(sampleSeed, "")).toBeNull(); // nullable: explicit "not set" (the section's seed)
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
    expect(effectiveValue(doc, "sample.sample_steps")).toBe(40); // a placeholder: not written
    const fresh = switchArch(doc, "ltx2.3");
    expect(getAt(fresh, [...P, "sample", "sample_steps"])).toBeUndefined();
    expect(effectiveValue(fresh, "sample.sample_steps")).toBe(30); // the placeholder follows the arch
    // A config that writes the old arch's default (an ai-toolkit file) moves along too.
    doc = setAt(doc, [...P, "sample", "sample_steps"], 40);
    doc = setAt(doc, [...P, "sample", "guidance_scale"], 5); // the user's own value
    doc = switchArch(doc, "ltx2.3");
    expect(getAt(doc, [...P, "model", "arch"])).toBe("ltx2.3");
    expect(getAt(doc, [...P, "sample", "sample_steps"])).toBe(SCHEMA.modelDefaults["ltx2.3"]["sample.sample_steps"]);
    expect(getAt(doc, [...P, "sample", "sample_steps"])).toBe(30);
    expect(getAt(doc, [...P, "sample", "guidance_scale"])).toBe(5);
  });
});
