/**
 * The job config as the form holds it, and the conversions around it.
 *
 * The form's state IS the config object (the same tree the YAML view shows), so the two
 * views round-trip by construction: the Simple view edits single keys in place and never
 * drops a key it does not show. Field ids are the validator's own paths
 * (`config.process[0].datasets[0].num_frames`), so errors land on their fields.
 */
import YAML from "yaml";
import { FieldSpec, PROCESS, SCHEMA, defaultOf } from "@/lib/schema";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type ConfigDoc = { [key: string]: Json };
export type PathPart = string | number;

/** "config.process[0].lr" -> ["config", "process", 0, "lr"]. */
export function parsePath(text: string): PathPart[] {
  const out: PathPart[] = [];
  for (const m of text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  }
  return out;
}

/** ["config", "process", 0, "lr"] -> "config.process[0].lr" (the Python validator's format). */
export function formatPath(parts: readonly PathPart[]): string {
  let out = "";
  for (const p of parts) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

export function getAt(doc: Json | undefined, parts: readonly PathPart[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const p of parts) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, Json>)[p as string];
  }
  return cur;
}

/**
 * A copy of `doc` with `value` at `parts` (undefined deletes the key). Only the
 * containers on the path are copied, so React sees a new object and untouched
 * branches keep their identity.
 */
export function setAt<T extends Json>(doc: T, parts: readonly PathPart[], value: Json | undefined): T {
  if (parts.length === 0) return (value ?? null) as T;
  const [head, ...rest] = parts;
  const base: Json = doc !== null && typeof doc === "object" ? doc : typeof head === "number" ? [] : {};
  const copy: Record<string, Json> | Json[] = Array.isArray(base) ? [...base] : { ...(base as Record<string, Json>) };
  const child = (copy as Record<string, Json>)[head as string];
  const next = rest.length ? setAt((child ?? (typeof rest[0] === "number" ? [] : {})) as Json, rest, value) : value;
  if (next === undefined) {
    if (Array.isArray(copy)) copy.splice(head as number, 1);
    else delete copy[head as string];
  } else {
    (copy as Record<string, Json>)[head as string] = next;
  }
  return copy as T;
}

// ------------------------------------------------------------------------------- YAML

/*
 * YAML 1.1 on both sides: the trainer reads files with PyYAML (YAML 1.1), so `on`, `yes`
 * and `no` must mean the same thing here as there, and strings that look like booleans
 * must be quoted when written.
 */
const YAML_OPTIONS = { version: "1.1", uniqueKeys: true, maxAliasCount: 50 } as const;

export function toYaml(doc: ConfigDoc): string {
  return YAML.stringify(doc, { ...YAML_OPTIONS, lineWidth: 0 });
}

export type YamlResult = { ok: true; doc: ConfigDoc } | { ok: false; error: string };

// The parser's wording, said the way a config author thinks about it.
const PLAIN_WORDS: [RegExp, string][] = [
  [/^Map keys must be unique/, "a key appears twice in the same section: keep one"],
  [/^Unresolved tag: tag:yaml.org,2002:(\S+)/, "tags such as !!$1 are not allowed in a config: write a plain value"],
  [/^Unresolved tag: (\S+)/, "tags such as $1 are not allowed in a config: write a plain value"],
  [/must be sufficiently indented and end with a \]/, "a [ list ] is not closed with ]"],
  [/must be sufficiently indented and end with a \}/, "a { mapping } is not closed with }"],
  [/^All mapping items must start at the same column/, "the keys of one section must line up (same indentation)"],
  [/^Implicit keys need to be on a single line/, "a key is missing its colon, or a value runs onto the next line"],
  [/^Nested mappings are not allowed in compact mappings/, "a value holds a ':' and needs quotes (\"...\")"],
  [/^Missing closing "?quote/, "a quoted value is not closed"],
];

/** One readable line for a YAML parse problem: where, what, and the line itself. */
export function yamlProblem(err: { message: string; linePos?: [{ line: number; col: number }, ...unknown[]] }, text: string): string {
  const head = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
  const known = PLAIN_WORDS.find(([pattern]) => pattern.test(head));
  // Replace only the matched part's meaning, never keep the parser's jargon around it.
  const what = known ? (known[1].includes("$1") ? (head.match(known[0]) ?? [head])[0].replace(known[0], known[1]) : known[1]) : head;
  const pos = err.linePos?.[0];
  if (!pos) return what;
  const line = text.split("\n")[pos.line - 1] ?? "";
  return `line ${pos.line}, column ${pos.col}: ${what}\n    ${line.trimEnd()}`;
}

/** Parse the Advanced view's text; never throws. Custom tags are not supported (safe). */
export function fromYaml(text: string): YamlResult {
  let parsed: unknown;
  try {
    const doc = YAML.parseDocument(text, YAML_OPTIONS);
    if (doc.errors.length) return { ok: false, error: yamlProblem(doc.errors[0], text) };
    if (doc.warnings.length) return { ok: false, error: yamlProblem(doc.warnings[0], text) };
    parsed = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { ok: false, error: "the config must be a mapping with 'job: extension' and a 'config' section" };
  }
  return { ok: true, doc: parsed as ConfigDoc };
}

// ------------------------------------------------------------------------ form values

/** The text an input shows for a value. */
export function displayValue(spec: FieldSpec, value: Json | undefined): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * What the config gets when the user types `text` into a field. Empty means "not set"
 * (undefined: the key is removed and the trainer's default applies). Text that is not a
 * number stays text, so the validator reports it at the field instead of the form
 * silently replacing it.
 */
export function inputValue(spec: FieldSpec, text: string): Json | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return spec.nullable ? null : undefined;
  if (spec.type === "integer" || spec.type === "number") {
    const n = Number(trimmed);
    return Number.isFinite(n) ? n : trimmed;
  }
  if (spec.type === "array") {
    const parts = trimmed.split(/[,\s]+/).filter(Boolean);
    const numeric = spec.items?.type === "integer" || spec.items?.type === "number";
    return parts.map((p) => (numeric && Number.isFinite(Number(p)) ? Number(p) : p));
  }
  return text;
}

/** Tri-state choices for nullable booleans (null = the trainer decides). */
export const AUTO = "auto";

export function triStateValue(value: Json | undefined): string {
  return value === true ? "true" : value === false ? "false" : AUTO;
}

export function fromTriState(choice: string): Json {
  return choice === "true" ? true : choice === "false" ? false : null;
}

/** The model.arch of a config (the default arch when it names none). */
export function archOf(doc: ConfigDoc): string {
  const arch = getAt(doc, ["config", "process", 0, "model", "arch"]);
  return typeof arch === "string" && SCHEMA.modelDefaults[arch] ? arch : SCHEMA.defaultArch;
}

/** The value the trainer uses for `dotted` (relative to config.process[0]): written, or the default. */
export function effectiveValue(doc: ConfigDoc, dotted: string): unknown {
  const parts = dotted.split(".");
  const written = getAt(doc, ["config", "process", 0, ...parts]);
  if (written !== undefined && written !== null) return written;
  const key = parts.pop()!;
  const sectionPath = parts.length ? `${PROCESS}.${parts.join(".")}` : PROCESS;
  return defaultOf(sectionPath, key, archOf(doc));
}

// ------------------------------------------------------------------------ new configs

/**
 * Values a new job starts with that are NOT the schema default, and why.
 * The schema's dataset default is image training (num_frames 1, no audio); a voice LoRA
 * needs clips with sound, so new datasets start from the SOP quick-start (section 5).
 *
 * Nothing else is written: every default shows as the field's placeholder (grey, with
 * the LTX-2 value where the defaults table has one), so a value in a field is always one
 * that the config sets, and the YAML holds only what differs from the defaults.
 */
export const NEW_DATASET_PRESET: Record<string, Json> = { num_frames: 81, do_audio: true };

/**
 * A new `model.arch`: keys that still hold the old arch's model default (e.g. LTX-2's 40
 * sample steps) take the new arch's (LTX-2.3's 30); values the user changed stay.
 */
export function switchArch(doc: ConfigDoc, arch: string): ConfigDoc {
  const proc = ["config", "process", 0];
  const current = getAt(doc, [...proc, "model", "arch"]);
  const before = SCHEMA.modelDefaults[typeof current === "string" ? current : SCHEMA.defaultArch] ?? {};
  let out = setAt(doc, [...proc, "model", "arch"], arch);
  for (const [dotted, value] of Object.entries(SCHEMA.modelDefaults[arch] ?? {})) {
    const path = [...proc, ...dotted.split(".")];
    const held = getAt(out, path);
    if (held !== undefined && JSON.stringify(held) === JSON.stringify(before[dotted])) out = setAt(out, path, value as Json);
  }
  return out;
}

export function newDataset(folderPath = ""): ConfigDoc {
  return { folder_path: folderPath, ...NEW_DATASET_PRESET };
}

/**
 * A complete new-job config: the SOP's LTX-2 defaults (not written: the trainer applies
 * them, the form shows them as placeholders), one dataset, one prompt.
 */
export function newJobConfig(opts: { name?: string; folderPath?: string; modelPath?: string } = {}): ConfigDoc {
  return {
    job: "extension",
    config: {
      name: opts.name ?? "my_character_lora",
      process: [
        {
          type: "diffusion_trainer",
          trigger_word: "ohwx",
          model: { name_or_path: opts.modelPath ?? "Lightricks/LTX-2" },
          datasets: [newDataset(opts.folderPath ?? "")],
          sample: {
            samples: [{ prompt: "[trigger] looking into the camera, says: 'Hello, it is good to see you again.'" }],
          },
        },
      ],
    },
    meta: { created_with: "ltx2-trainer-ui" },
  };
}

/** A new config with what the Datasets page knows: trigger word, frames and fps of the prepared clips. */
export function withPreset(doc: ConfigDoc, preset?: { trigger?: string; num_frames?: number; fps?: number }): ConfigDoc {
  if (!preset) return doc;
  let out = doc;
  if (preset.trigger) out = setAt(out, parsePath("config.process[0].trigger_word"), preset.trigger);
  if (preset.num_frames) out = setAt(out, parsePath("config.process[0].datasets[0].num_frames"), preset.num_frames);
  if (preset.fps) out = setAt(out, parsePath("config.process[0].datasets[0].fps"), preset.fps);
  return out;
}

/** The config's run name (sanitised the way the trainer does: letters, digits, _ - .). */
export function sanitizeName(name: string): string {
  return name.trim().replace(/[^A-Za-z0-9_.\-]+/g, "_").replace(/^\.+|\.+$/g, "");
}

export function jobNameOf(doc: ConfigDoc): string {
  const name = getAt(doc, ["config", "name"]);
  return typeof name === "string" || typeof name === "number" ? sanitizeName(String(name)) : "";
}
