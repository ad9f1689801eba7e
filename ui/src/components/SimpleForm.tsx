"use client";
/**
 * The Simple view: the cards of lib/formLayout.ts, each key rendered by FieldControl
 * from the generated schema. Edits go straight into the config tree (setAt), so keys
 * the form does not show are kept as they are.
 */
import { ConfigDoc, Json, PathPart, archOf, effectiveValue, formatPath, getAt, newDataset, setAt, switchArch } from "@/lib/configModel";
import { CARDS, Card, INACTIVE_WHEN } from "@/lib/formLayout";
import { FieldSpec, PROCESS, field, findField, section } from "@/lib/schema";
import { FieldControl } from "@/components/FieldControl";

export interface DatasetChoice {
  label: string;
  path: string;
  clips: number;
  images: number;
  /** A few media files, relative to the folder (for the preview links). */
  files: string[];
}

interface Props {
  doc: ConfigDoc;
  /** The new tree, and the validator path of the field that changed. */
  onChange: (doc: ConfigDoc, changed: string) => void;
  errors: Record<string, string>;
  datasets: DatasetChoice[];
  datasetsRoot: string;
  nameLocked: boolean;
}

const PROC: PathPart[] = ["config", "process", 0];

/** Keys of a section that have no control in any card: shown under "More settings". */
function moreKeys(sectionPath: string): FieldSpec[] {
  const used = new Set<string>();
  for (const c of CARDS) if (c.section === sectionPath) [...c.keys, ...(c.hidden ?? [])].forEach((k) => used.add(k));
  return section(sectionPath).fields.filter(
    (f) => !used.has(f.key) && !f.section && f.type !== "object" && f.type !== "any",
  );
}

function yamlOnlyKeys(sectionPath: string): string[] {
  return section(sectionPath).fields.filter((f) => f.section || f.type === "object" || f.type === "any").map((f) => f.key)
    .filter((k) => !CARDS.some((c) => c.section === sectionPath && c.hidden?.includes(k)));
}

function isFirstCardOf(card: Card): boolean {
  return CARDS.find((c) => c.section === card.section) === card;
}

/** Links to the first media files of the chosen folder (served from the datasets root). */
function DatasetPreview({ choice }: { choice?: DatasetChoice }) {
  if (!choice || choice.files.length === 0) return null;
  const url = (file: string) => `/api/datasets/files/${[...choice.label.split("/"), ...file.split("/")].map(encodeURIComponent).join("/")}`;
  return (
    <details className="more">
      <summary>Preview {choice.label} ({choice.clips} clips, {choice.images} images)</summary>
      <ul className="preview-list">
        {choice.files.map((f) => <li key={f}><a href={url(f)} target="_blank" rel="noreferrer">{f}</a></li>)}
      </ul>
      <a href={`/datasets/${choice.label.split("/").map(encodeURIComponent).join("/")}`} target="_blank" rel="noreferrer">
        Thumbnails, captions and the dataset check on the Datasets page
      </a>
    </details>
  );
}

export function SimpleForm({ doc, onChange, errors, datasets, datasetsRoot, nameLocked }: Props) {
  const set = (path: PathPart[], value: Json | undefined) => onChange(
    path[path.length - 1] === "arch" && typeof value === "string" ? switchArch(doc, value) : setAt(doc, path, value),
    formatPath(path));

  const arch = archOf(doc);
  /** Why the field at `path` does nothing now (formLayout INACTIVE_WHEN), or undefined. */
  const inactiveReason = (path: PathPart[]) => {
    const rel = formatPath(path.slice(PROC.length));
    const rule = INACTIVE_WHEN.find((r) => r.key === rel);
    return rule && !rule.active(effectiveValue(doc, rule.dependsOn)) ? rule.reason : undefined;
  };
  const control = (sectionPath: string, spec: FieldSpec, path: PathPart[], children?: React.ReactNode) => (
    <FieldControl
      arch={arch}
      inactive={inactiveReason(path)}
      key={formatPath(path)}
      spec={spec}
      sectionPath={sectionPath}
      path={path}
      value={getAt(doc, path)}
      onChange={(v) => set(path, v)}
      error={errors[formatPath(path)]}
    >
      {children}
    </FieldControl>
  );

  const fieldsOf = (sectionPath: string, keys: string[], base: PathPart[]) =>
    keys.map((k) => findField(sectionPath, k)).filter((f): f is FieldSpec => Boolean(f))
      .map((spec) => control(sectionPath, spec, [...base, spec.key]));

  const more = (sectionPath: string, base: PathPart[]) => {
    const extra = moreKeys(sectionPath);
    const yamlOnly = yamlOnlyKeys(sectionPath);
    if (!extra.length && !yamlOnly.length) return null;
    return (
      <details className="more">
        <summary>More settings ({extra.length})</summary>
        <div className="grid">{extra.map((spec) => control(sectionPath, spec, [...base, spec.key]))}</div>
        {yamlOnly.length > 0 && <p className="field-help">Edit {yamlOnly.join(", ")} in the Advanced (YAML) view.</p>}
      </details>
    );
  };

  const datasetCard = (card: Card) => {
    const list = getAt(doc, [...PROC, "datasets"]);
    const items = Array.isArray(list) ? list : [];
    return items.map((_, i) => {
      const base: PathPart[] = [...PROC, "datasets", i];
      const folderPath = [...base, "folder_path"];
      const current = getAt(doc, folderPath);
      const known = datasets.some((d) => d.path === current);
      const picker = (
        <select id={formatPath(folderPath)} value={typeof current === "string" ? current : ""}
          onChange={(e) => set(folderPath, e.target.value)}>
          <option value="">(choose a folder in {datasetsRoot})</option>
          {!known && typeof current === "string" && current && <option value={current}>{current} (not in the datasets root)</option>}
          {datasets.map((d) => (
            <option key={d.path} value={d.path}>{d.label} — {d.clips} clips, {d.images} images</option>
          ))}
        </select>
      );
      return (
        <div className="list-item" key={i} data-dataset={i}>
          <div className="list-item-head">
            <h3>Dataset {i + 1}</h3>
            {items.length > 1 && (
              <button type="button" className="small" onClick={() => set(base, undefined)}>Remove</button>
            )}
          </div>
          <div className="grid">
            {card.keys.map((k) => {
              const spec = findField(card.section, k);
              if (!spec) return null;
              return control(card.section, spec, [...base, k], k === "folder_path" ? picker : undefined);
            })}
          </div>
          <DatasetPreview choice={datasets.find((d) => d.path === current)} />
          {more(card.section, base)}
        </div>
      );
    });
  };

  const prompts = () => {
    const path: PathPart[] = [...PROC, "sample", "samples"];
    const list = getAt(doc, path);
    const items = Array.isArray(list) ? list : [];
    const spec = field(`${PROCESS}.sample.samples[]`, "prompt");
    return (
      <div className="prompts">
        <h3>Sample prompts</h3>
        <p className="field-help">{field(`${PROCESS}.sample`, "samples").description}. [trigger] is replaced by the trigger word.</p>
        {items.map((_, i) => {
          const p: PathPart[] = [...path, i, "prompt"];
          const value = getAt(doc, p);
          return (
            <div className={`prompt-row${errors[formatPath(p)] ? " has-error" : ""}`} key={i} data-field={formatPath(p)}>
              <textarea id={formatPath(p)} aria-label={`prompt ${i + 1}`} rows={2} value={typeof value === "string" ? value : ""}
                placeholder={spec.description} onChange={(e) => set(p, e.target.value)} />
              <button type="button" className="small" onClick={() => set([...path, i], undefined)}>Remove</button>
              {errors[formatPath(p)] && <p className="field-error">{errors[formatPath(p)]}</p>}
            </div>
          );
        })}
        <button type="button" className="small" onClick={() => set([...path, items.length], { prompt: "" })}>Add prompt</button>
      </div>
    );
  };

  const nameSpec = field("config", "name");
  return (
    <div className="simple-form">
      {CARDS.map((card) => (
        <section className="card" key={card.id} data-card={card.id}>
          <h2>{card.title}</h2>
          {card.intro && <p className="card-intro">{card.intro}</p>}
          {card.id === "job" && (
            <div className="grid">
              <FieldControl spec={nameSpec} sectionPath="config" path={["config", "name"]} arch={arch}
                value={getAt(doc, ["config", "name"])} onChange={(v) => set(["config", "name"], v)}
                error={errors["config.name"]} disabled={nameLocked} />
              {fieldsOf(card.section, card.keys, PROC)}
            </div>
          )}
          {card.list ? (
            <>
              {datasetCard(card)}
              <button type="button" className="small" onClick={() => {
                const list = getAt(doc, [...PROC, "datasets"]);
                set([...PROC, "datasets", Array.isArray(list) ? list.length : 0], newDataset(""));
              }}>Add dataset</button>
            </>
          ) : card.id !== "job" && (
            <div className="grid">{fieldsOf(card.section, card.keys, [...PROC, ...card.at])}</div>
          )}
          {card.id === "sample" && prompts()}
          {!card.list && isFirstCardOf(card) && more(card.section, [...PROC, ...card.at])}
        </section>
      ))}
    </div>
  );
}
