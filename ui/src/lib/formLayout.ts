/**
 * What the Simple view shows, card by card. Only keys are listed here: the control,
 * default and help text of each key come from the generated schema.
 *
 * Each key appears in exactly ONE place (one network-type selector: SOP change AC); a
 * unit test checks that, and that every key of SOP section 6 is present. Keys of a
 * section not listed here are still editable under that card's "More settings", so a
 * setting added to the trainer shows up in the form as soon as the schema is regenerated.
 */
import { PROCESS, SCHEMA } from "@/lib/schema";

export interface Card {
  id: string;
  title: string;
  /** Section path in the generated schema. */
  section: string;
  /** Where the section sits in the config, relative to config.process[0]. */
  at: (string | number)[];
  keys: string[];
  /** Keys of this section never shown as controls (server-managed or YAML-only). */
  hidden?: string[];
  intro?: string;
  /** A list section (datasets, samples): one group of controls per item. */
  list?: boolean;
}

export const CARDS: Card[] = [
  {
    id: "job",
    title: "Job",
    section: PROCESS,
    at: [],
    keys: ["trigger_word", "device"],
    // type is always diffusion_trainer; training_folder is set by the server per job.
    hidden: ["type", "training_folder", "network", "train", "model", "datasets", "save", "sample", "logging"],
  },
  {
    id: "model",
    title: "Model",
    section: `${PROCESS}.model`,
    at: ["model"],
    // arch: LTX-2 / 2.3 / 2.5; switching it moves the model defaults along (configModel.switchArch).
    keys: ["name_or_path", "arch", "quantize", "qtype", "layer_offloading", "layer_offloading_transformer_percent",
      "layer_offloading_text_encoder_percent", "low_vram"],
  },
  {
    id: "network",
    title: "Target (network)",
    section: `${PROCESS}.network`,
    at: ["network"],
    keys: ["type", "linear", "linear_alpha", "rank_dropout", "module_dropout", "lokr_factor"],
    intro: "Rank 32 with alpha 32 gives the LoRA scale alpha/rank = 1.0. DoRA often retains identity better at the same rank (try lr 5e-5).",
  },
  {
    id: "training",
    title: "Training",
    section: `${PROCESS}.train`,
    at: ["train"],
    keys: ["steps", "batch_size", "gradient_accumulation", "optimizer", "lr", "lr_scheduler", "lr_warmup_steps",
      "timestep_type", "dtype", "gradient_checkpointing", "noise_offset", "min_snr_gamma", "seed"],
    intro: "Prodigy and DAdaptation find the learning rate themselves: set lr to 1.0 with them.",
  },
  {
    id: "voice",
    title: "Voice (audio loss)",
    section: `${PROCESS}.train`,
    at: ["train"],
    keys: ["independent_audio_timestep", "auto_balance_audio_loss", "auto_balance_target_ratio",
      "audio_loss_multiplier", "audio_preservation", "audio_preservation_multiplier", "strict_audio_mode",
      "strict_audio_min_supervised_ratio", "strict_audio_warmup_steps"],
    intro: "These keep the character's voice: the audio gets its own timestep, and its loss is balanced against the video loss.",
  },
  {
    id: "preservation",
    title: "Differential output preservation",
    section: `${PROCESS}.train`,
    at: ["train"],
    keys: ["diff_output_preservation", "diff_output_preservation_multiplier", "diff_output_preservation_class"],
  },
  {
    id: "datasets",
    title: "Datasets",
    section: `${PROCESS}.datasets[]`,
    at: ["datasets"],
    list: true,
    keys: ["folder_path", "do_audio", "num_frames", "fps", "resolution", "caption_dropout_rate", "flip_x"],
  },
  {
    id: "save",
    title: "Save",
    section: `${PROCESS}.save`,
    at: ["save"],
    keys: ["save_every", "max_step_saves_to_keep", "dtype", "format"],
  },
  {
    id: "sample",
    title: "Samples",
    section: `${PROCESS}.sample`,
    at: ["sample"],
    keys: ["sample_every", "width", "height", "num_frames", "fps", "sample_steps", "guidance_scale", "seed", "walk_seed", "neg"],
    hidden: ["samples"],
  },
  {
    id: "logging",
    title: "Logging",
    section: `${PROCESS}.logging`,
    at: ["logging"],
    keys: ["log_every"],
  },
];

/** SOP section 6 (Config Reference): every one of these must have a control. */
export const SOP_SECTION_6_KEYS = [
  "train.independent_audio_timestep", "train.audio_loss_multiplier", "train.auto_balance_audio_loss",
  "train.strict_audio_mode", "train.strict_audio_min_supervised_ratio", "train.strict_audio_warmup_steps",
  "train.noise_offset", "train.min_snr_gamma", "train.lr_scheduler",
  "network.type", "network.linear", "network.linear_alpha", "network.rank_dropout", "network.module_dropout",
  "datasets[].do_audio", "datasets[].flip_x", "datasets[].caption_dropout_rate",
];

/** "train.lr" style names of every control of the Simple view (cards' listed keys). */
export function simpleKeys(): string[] {
  const out: string[] = [];
  for (const card of CARDS) {
    const prefix = card.section === PROCESS ? "" : card.section.slice(PROCESS.length + 1) + ".";
    for (const key of card.keys) out.push(prefix + key);
  }
  return out;
}

/**
 * Every validator path that has a control in the Simple view for `doc` (cards' keys,
 * "More settings", each dataset and prompt). Problems at other paths are listed at the
 * top of the form instead, so no error is ever invisible.
 */
export function formFieldPaths(doc: unknown): Set<string> {
  const out = new Set<string>(["config.name"]);
  const proc = "config.process[0]";
  const sectionKeys = (sectionPath: string) =>
    (SCHEMA.sections[sectionPath]?.fields ?? []).filter((f) => !f.section && f.type !== "object" && f.type !== "any").map((f) => f.key);
  const hidden = (sectionPath: string) => new Set(CARDS.filter((c) => c.section === sectionPath).flatMap((c) => c.hidden ?? []));
  for (const card of CARDS) {
    const keys = sectionKeys(card.section).filter((k) => !hidden(card.section).has(k));
    const rel = card.at.length ? "." + card.at.join(".") : "";
    if (card.list) {
      const list = (doc as { config?: { process?: { datasets?: unknown[] }[] } })?.config?.process?.[0]?.datasets;
      (Array.isArray(list) ? list : []).forEach((_, i) => keys.forEach((k) => out.add(`${proc}${rel}[${i}].${k}`)));
    } else {
      keys.forEach((k) => out.add(`${proc}${rel}.${k}`));
    }
  }
  const samples = (doc as { config?: { process?: { sample?: { samples?: unknown[] } }[] } })?.config?.process?.[0]?.sample?.samples;
  (Array.isArray(samples) ? samples : []).forEach((_, i) => out.add(`${proc}.sample.samples[${i}].prompt`));
  return out;
}

/**
 * Fields that do nothing in some state of another field: the form disables them and says
 * why, so nobody tunes a value the trainer ignores. Keys are relative to config.process[0];
 * `active` gets the effective value (written, or the default) of `dependsOn`.
 */
export const INACTIVE_WHEN: { key: string; dependsOn: string; active: (value: unknown) => boolean; reason: string }[] = [
  {
    key: "train.audio_loss_multiplier", dependsOn: "train.auto_balance_audio_loss", active: (v) => v !== true,
    reason: "Auto-balance sets the audio multiplier every step: turn auto-balance off to set it by hand.",
  },
  {
    key: "train.auto_balance_target_ratio", dependsOn: "train.auto_balance_audio_loss", active: (v) => v === true,
    reason: "Used only by auto-balance, which is off.",
  },
  {
    key: "train.strict_audio_min_supervised_ratio", dependsOn: "train.strict_audio_mode", active: (v) => v === true,
    reason: "Used only in strict audio mode, which is off.",
  },
  {
    key: "train.strict_audio_warmup_steps", dependsOn: "train.strict_audio_mode", active: (v) => v === true,
    reason: "Used only in strict audio mode, which is off.",
  },
];
