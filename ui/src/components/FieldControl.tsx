"use client";
/**
 * One config key as a form control. The kind of control follows the schema: a choice
 * list -> select, boolean -> checkbox, "true/false/automatic" -> select, numbers and text
 * -> inputs, a list of numbers -> comma-separated text. Label, help and error sit with it.
 *
 * A key the config does not set shows its default as a placeholder (grey text, the model's
 * default for the config's arch), never as a value: a value in a field is one the config
 * sets. A field that does nothing in the current state (lib/formLayout.ts INACTIVE_WHEN) is
 * disabled, with the reason under it.
 */
import { useEffect, useState } from "react";
import {
  AUTO, Json, displayValue, formatPath, fromTriState, inputValue, triStateValue, PathPart,
} from "@/lib/configModel";
import { FieldSpec, defaultOf, helpText } from "@/lib/schema";

export interface FieldControlProps {
  spec: FieldSpec;
  sectionPath: string;
  path: PathPart[];
  value: Json | undefined;
  onChange: (value: Json | undefined) => void;
  error?: string;
  /** Replaces the default control (e.g. the dataset folder picker). */
  children?: React.ReactNode;
  label?: string;
  disabled?: boolean;
  /** The config's model.arch: which model defaults the placeholders show. */
  arch?: string;
  /** Why this field does nothing now (it is disabled), or undefined. */
  inactive?: string;
}

/** The placeholder of a key the config does not set: its default, or "(not set)". */
export function placeholderOf(spec: FieldSpec, sectionPath: string, arch?: string): string {
  const def = defaultOf(sectionPath, spec.key, arch);
  if (def !== undefined && def !== null && def !== "") return displayValue(spec, def as Json);
  return spec.nullable ? "(not set)" : "";
}

function TextLikeInput({ spec, value, onChange, id, disabled, placeholder }: {
  spec: FieldSpec; value: Json | undefined; onChange: (v: Json | undefined) => void; id: string; disabled?: boolean; placeholder: string;
}) {
  // Keep the raw text while typing ("0." or "7.5e-" are not numbers yet).
  const shown = displayValue(spec, value);
  const [text, setText] = useState(shown);
  // Follow changes made elsewhere (YAML view, a removed dataset) but not the user's own
  // typing: only when the typed text no longer means the shown value. Deliberately not
  // depending on `text`, or every keystroke would be "corrected".
  useEffect(() => {
    if (displayValue(spec, inputValue(spec, text)) !== shown) setText(shown);
  }, [shown]); // eslint-disable-line react-hooks/exhaustive-deps
  const numeric = spec.type === "integer" || spec.type === "number";
  return (
    <input
      id={id}
      type="text"
      inputMode={numeric ? "decimal" : undefined}
      value={text}
      disabled={disabled}
      placeholder={placeholder}
      onChange={(e) => {
        setText(e.target.value);
        onChange(inputValue(spec, e.target.value));
      }}
    />
  );
}

export function FieldControl({ spec, sectionPath, path, value, onChange, error, children, label, disabled, arch, inactive }: FieldControlProps) {
  const id = formatPath(path);
  const help = helpText(spec, sectionPath, arch);
  const def = defaultOf(sectionPath, spec.key, arch);
  const off = Boolean(disabled || inactive);
  let control: React.ReactNode;
  if (children) {
    control = children;
  } else if (spec.enum) {
    const current = value === undefined || value === null ? "" : String(value);
    const options = spec.enum.includes(current) || current === "" ? spec.enum : [current, ...spec.enum];
    control = (
      <select id={id} value={current} disabled={off} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}>
        {current === "" && <option value="">(default: {String(def ?? "")})</option>}
        {options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    );
  } else if (spec.type === "boolean" && spec.nullable) {
    control = (
      <select id={id} value={triStateValue(value)} disabled={off} onChange={(e) => onChange(fromTriState(e.target.value))}>
        <option value={AUTO}>automatic</option>
        <option value="true">on</option>
        <option value="false">off</option>
      </select>
    );
  } else if (spec.type === "boolean") {
    const checked = value === undefined || value === null ? def === true : value === true;
    control = <input id={id} type="checkbox" checked={checked} disabled={off} onChange={(e) => onChange(e.target.checked)} />;
  } else {
    control = <TextLikeInput spec={spec} value={value} onChange={onChange} id={id} disabled={off} placeholder={placeholderOf(spec, sectionPath, arch)} />;
  }
  return (
    <div className={`field${error ? " has-error" : ""}${inactive ? " inactive" : ""}${spec.type === "boolean" && !spec.nullable && !children ? " field-bool" : ""}`}
      data-field={id} data-inactive={inactive ? "true" : undefined}>
      <label htmlFor={id}>
        <span className="field-label">{label ?? spec.title ?? spec.key}</span>
        <code className="field-key" title="the key in the config file">{spec.key}</code>
        {spec.modelDefault && <span className="badge-ltx" title="The default comes from the LTX-2 defaults table">LTX-2</span>}
      </label>
      <div className="field-control">{control}</div>
      {inactive && <p className="field-inactive" data-testid="field-inactive">{inactive}</p>}
      <p className="field-help">{help}</p>
      {error && <p className="field-error" role="alert">{error}</p>}
    </div>
  );
}
