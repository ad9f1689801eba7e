"use client";
/**
 * One config key as a form control. The kind of control follows the schema: a choice
 * list -> select, boolean -> checkbox, "true/false/automatic" -> select, numbers and text
 * -> inputs, a list of numbers -> comma-separated text. Label, help and error sit with it.
 */
import { useEffect, useState } from "react";
import {
  AUTO, Json, displayValue, formatPath, fromTriState, inputValue, triStateValue, PathPart,
} from "@/lib/configModel";
import { FieldSpec, helpText } from "@/lib/schema";

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
}

function TextLikeInput({ spec, value, onChange, id, disabled }: {
  spec: FieldSpec; value: Json | undefined; onChange: (v: Json | undefined) => void; id: string; disabled?: boolean;
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
      placeholder={spec.nullable ? "(not set)" : spec.default !== undefined ? displayValue(spec, spec.default as Json) : ""}
      onChange={(e) => {
        setText(e.target.value);
        onChange(inputValue(spec, e.target.value));
      }}
    />
  );
}

export function FieldControl({ spec, sectionPath, path, value, onChange, error, children, label, disabled }: FieldControlProps) {
  const id = formatPath(path);
  const help = helpText(spec, sectionPath);
  let control: React.ReactNode;
  if (children) {
    control = children;
  } else if (spec.enum) {
    const current = value === undefined || value === null ? "" : String(value);
    const options = spec.enum.includes(current) || current === "" ? spec.enum : [current, ...spec.enum];
    control = (
      <select id={id} value={current} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}>
        {current === "" && <option value="">(default: {String(spec.default ?? "")})</option>}
        {options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    );
  } else if (spec.type === "boolean" && spec.nullable) {
    control = (
      <select id={id} value={triStateValue(value)} onChange={(e) => onChange(fromTriState(e.target.value))}>
        <option value={AUTO}>automatic</option>
        <option value="true">on</option>
        <option value="false">off</option>
      </select>
    );
  } else if (spec.type === "boolean") {
    const checked = value === undefined ? spec.default === true : value === true;
    control = <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />;
  } else {
    control = <TextLikeInput spec={spec} value={value} onChange={onChange} id={id} disabled={disabled} />;
  }
  return (
    <div className={`field${error ? " has-error" : ""}${spec.type === "boolean" && !spec.nullable && !children ? " field-bool" : ""}`} data-field={id}>
      <label htmlFor={id}>
        <span className="field-label">{label ?? spec.title ?? spec.key}</span>
        <code className="field-key" title="the key in the config file">{spec.key}</code>
        {spec.modelDefault && <span className="badge-ltx" title="The default comes from the LTX-2 defaults table">LTX-2</span>}
      </label>
      <div className="field-control">{control}</div>
      <p className="field-help">{help}</p>
      {error && <p className="field-error" role="alert">{error}</p>}
    </div>
  );
}
