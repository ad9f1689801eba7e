/**
 * The config schema as the form sees it, read from src/generated/config_schema.json.
 *
 * That file is generated from the Python schema (`python -m toolkit.configuration.ui_export`), and a
 * pytest fails when it is stale: defaults, choices, bounds and help texts are never
 * typed twice. Section paths use `[]` for list items: `config.process[].datasets[]`.
 */
import generated from "@/generated/config_schema.json";

export type FieldType = "boolean" | "integer" | "number" | "string" | "array" | "object" | "any";

export interface FieldSpec {
  key: string;
  /** The human label (toolkit/configuration/titles.py); the YAML key is shown beside it. */
  title?: string;
  type: FieldType;
  description: string;
  default?: unknown;
  required?: boolean;
  nullable?: boolean;
  enum?: string[];
  section?: string;
  items?: { type?: string; minimum?: number; maximum?: number };
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  pattern?: string;
  minItems?: number;
  aliases?: string[];
  modelDefault?: boolean;
}

export interface SectionSpec {
  title: string;
  description: string;
  fields: FieldSpec[];
}

export interface UiSchema {
  generator: string;
  defaultArch: string;
  modelDefaults: Record<string, Record<string, unknown>>;
  ignoredUpstreamKeys: Record<string, Record<string, string>>;
  sections: Record<string, SectionSpec>;
}

export const SCHEMA = generated as unknown as UiSchema;

export const PROCESS = "config.process[]";

/** The section at `path` (throws: a missing section is a bug in the form layout). */
export function section(path: string): SectionSpec {
  const found = SCHEMA.sections[path];
  if (!found) throw new Error(`no config section ${path} in the generated schema`);
  return found;
}

/** The spec of `key` in section `path`, or undefined when the trainer has no such key. */
export function findField(path: string, key: string): FieldSpec | undefined {
  return SCHEMA.sections[path]?.fields.find((f) => f.key === key);
}

export function field(path: string, key: string): FieldSpec {
  const found = findField(path, key);
  if (!found) throw new Error(`no config key ${key} in ${path}`);
  return found;
}

/** `config.process[].network` + `linear` -> `network.linear` (the model-defaults key). */
function modelDefaultKey(sectionPath: string, key: string): string | null {
  if (!sectionPath.startsWith(PROCESS + ".")) return null;
  const rel = sectionPath.slice(PROCESS.length + 1).replace(/\[\]/g, "");
  return `${rel}.${key}`;
}

/**
 * The default of a field: the architecture's model default when the table has one
 * (e.g. LTX-2 rank 32), else the schema default; undefined for required fields.
 */
export function defaultOf(sectionPath: string, key: string, arch = SCHEMA.defaultArch): unknown {
  const mk = modelDefaultKey(sectionPath, key);
  const table = SCHEMA.modelDefaults[arch] ?? {};
  if (mk && mk in table) return table[mk];
  return findField(sectionPath, key)?.default;
}

/** The help text of a field with its bounds and default, for the form's hint line. */
export function helpText(spec: FieldSpec, sectionPath: string, arch = SCHEMA.defaultArch): string {
  let text = spec.description;
  const bounds: string[] = [];
  if (spec.minimum !== undefined) bounds.push(`≥ ${spec.minimum}`);
  if (spec.exclusiveMinimum !== undefined) bounds.push(`> ${spec.exclusiveMinimum}`);
  if (spec.maximum !== undefined) bounds.push(`≤ ${spec.maximum}`);
  if (spec.exclusiveMaximum !== undefined) bounds.push(`< ${spec.exclusiveMaximum}`);
  if (bounds.length) text += ` (${bounds.join(", ")})`;
  const def = defaultOf(sectionPath, spec.key, arch);
  if (def !== undefined && def !== null && def !== "") {
    const label = spec.modelDefault ? `${arch.replace(/^ltx/, "LTX-")} default` : "default";
    text += ` — ${label}: ${Array.isArray(def) ? def.join(", ") : String(def)}`;
  }
  return text;
}
