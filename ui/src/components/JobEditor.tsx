"use client";
/**
 * New / edit job: the Simple view (form) and the Advanced view (YAML) over ONE config
 * tree. Switching to YAML prints the tree; switching back parses it (a YAML error keeps
 * you in the YAML view). Save sends the tree to the server, which validates it with the
 * Python validator; each problem is shown at its field, the rest in a list at the top.
 *
 * Validation also runs as you type: 700 ms after the last edit the tree goes to the same
 * validator (an answer to an older edit is dropped). A new job can start from a draft: the
 * copy of a job (Duplicate: `?from=<id>`, stored only when saved) or the tiny demo.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { useRouter } from "next/navigation";
import { ConfigDoc, fromYaml, newJobConfig, toYaml, withPreset } from "@/lib/configModel";
import { apiFetch } from "@/lib/client";
import { formFieldPaths } from "@/lib/formLayout";
import { DatasetChoice, SimpleForm } from "@/components/SimpleForm";

interface Issue { path: string; message: string }

type View = "simple" | "advanced";

/** How long typing must pause before the config is validated (ms). */
export const LIVE_VALIDATION_MS = 700;

/** What a page that sends the user here already knows (the Datasets page's "Train"). */
export interface JobPreset { dataset?: string; trigger?: string; num_frames?: number; fps?: number }

export function JobEditor({ jobId, fromJob, preset }: { jobId?: number; fromJob?: number; preset?: JobPreset }) {
  const router = useRouter();
  const [doc, setDoc] = useState<ConfigDoc | null>(null);
  const [view, setView] = useState<View>("simple");
  const [yamlText, setYamlText] = useState("");
  const [yamlError, setYamlError] = useState<string | null>(null);
  const [datasets, setDatasets] = useState<DatasetChoice[]>([]);
  const [datasetsRoot, setDatasetsRoot] = useState("");
  const [issues, setIssues] = useState<Issue[]>([]);
  const [warnings, setWarnings] = useState<string[]>([]);
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [nameLocked, setNameLocked] = useState(false);
  const [edits, setEdits] = useState(0); // edits since loading: live validation waits for the first
  const [live, setLive] = useState<"idle" | "checking" | "ok" | "problems">("idle");
  const liveSeq = useRef(0);
  const [presetBusy, setPresetBusy] = useState(false);

  useEffect(() => {
    (async () => {
      try {
        const ds = await apiFetch<{ root: string; folders: DatasetChoice[] }>("/api/datasets");
        setDatasets(ds.folders);
        setDatasetsRoot(ds.root);
        if (jobId === undefined && fromJob !== undefined) {
          setDoc((await apiFetch<{ config: ConfigDoc }>(`/api/jobs/${fromJob}/duplicate`)).config);
        } else if (jobId === undefined) {
          const chosen = ds.folders.find((f) => f.label === preset?.dataset) ?? ds.folders[0];
          setDoc(withPreset(newJobConfig({ folderPath: chosen?.path ?? "" }), preset));
        } else {
          const res = await apiFetch<{ config: ConfigDoc | null; yaml: string; job: { startedAt: string | null } }>(`/api/jobs/${jobId}`);
          if (!res.config) throw new Error("the stored config of this job cannot be read");
          setDoc(res.config);
          setNameLocked(Boolean(res.job.startedAt));
        }
      } catch (err) {
        setLoadError((err as Error).message);
      }
    })();
  }, [jobId, fromJob]);

  // Validation as you type (debounced): the same validator as Validate and Save.
  useEffect(() => {
    if (edits === 0 || !doc) return;
    const seq = ++liveSeq.current;
    const timer = setTimeout(async () => {
      let config: ConfigDoc | null = doc;
      if (view === "advanced") {
        const parsed = fromYaml(yamlText);
        if (!parsed.ok) {
          setYamlError(parsed.error);
          setLive("problems");
          return;
        }
        config = parsed.doc;
      }
      setLive("checking");
      try {
        const res = await apiFetch<{ ok: boolean; issues?: Issue[] }>("/api/jobs/validate", {
          method: "POST", body: JSON.stringify({ config, id: jobId ?? null }),
        });
        if (seq !== liveSeq.current) return; // a later edit is being checked
        setIssues(res.issues ?? []);
        setLive(res.ok ? "ok" : "problems");
      } catch {
        if (seq === liveSeq.current) setLive("idle"); // Validate and Save report the error itself
      }
    }, LIVE_VALIDATION_MS);
    return () => clearTimeout(timer);
  }, [edits]); // eslint-disable-line react-hooks/exhaustive-deps

  const loadPreset = async () => {
    setPresetBusy(true);
    setMessage(null);
    try {
      const res = await apiFetch<{ config: ConfigDoc; built: string[] }>("/api/presets/tiny-demo");
      setDoc(res.config);
      if (view === "advanced") setYamlText(toYaml(res.config));
      setIssues([]);
      setEdits((n) => n + 1);
      setMessage(`Loaded the tiny demo (${res.built.length ? `built ${res.built.join(" and ")}; ` : ""}a tiny random LTX-2 on synthetic clips: it runs on a CPU in about a minute). Press Save & start.`);
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setPresetBusy(false);
    }
  };

  const switchView = useCallback((next: View) => {
    if (!doc || next === view) return;
    if (next === "advanced") {
      setYamlText(toYaml(doc));
      setYamlError(null);
      setView("advanced");
      return;
    }
    const parsed = fromYaml(yamlText);
    if (!parsed.ok) {
      setYamlError(parsed.error);
      return;
    }
    setDoc(parsed.doc);
    setView("simple");
  }, [doc, view, yamlText]);

  /** The tree to send: in the YAML view, the YAML as typed (parsed here, validated there). */
  const current = (): ConfigDoc | null => {
    if (view === "simple") return doc;
    const parsed = fromYaml(yamlText);
    if (!parsed.ok) {
      setYamlError(parsed.error);
      return null;
    }
    setDoc(parsed.doc);
    return parsed.doc;
  };

  const submit = async (action: "validate" | "save" | "start") => {
    const config = current();
    if (!config) return;
    setBusy(action);
    setMessage(null);
    try {
      let res: { ok: boolean; issues?: Issue[]; warnings?: string[]; job?: { id: number } };
      if (action === "validate") {
        res = await apiFetch("/api/jobs/validate", { method: "POST", body: JSON.stringify({ config, id: jobId ?? null }) });
      } else if (jobId === undefined) {
        res = await apiFetch("/api/jobs", { method: "POST", body: JSON.stringify({ config, start: action === "start" }) });
      } else {
        res = await apiFetch(`/api/jobs/${jobId}`, { method: "PUT", body: JSON.stringify({ config }) });
        if (res.ok && action === "start") await apiFetch(`/api/jobs/${jobId}/start`, { method: "POST" });
      }
      setIssues(res.issues ?? []);
      setWarnings(res.warnings ?? []);
      if (!res.ok) {
        setMessage(`${res.issues?.length ?? 0} problem(s): see the fields marked in red.`);
      } else if (action === "validate") {
        setMessage("The config is valid.");
      } else {
        router.push(`/jobs/${res.job?.id ?? jobId}`);
      }
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setBusy(null);
    }
  };

  if (loadError) return <p className="error-box">Cannot load the form: {loadError}</p>;
  if (!doc) return <p>Loading…</p>;

  const errors: Record<string, string> = {};
  for (const i of issues) errors[i.path] = errors[i.path] ? `${errors[i.path]}; ${i.message}` : i.message;
  // Problems whose key has no control in the Simple view are listed at the top.
  const inForm = view === "simple" ? formFieldPaths(doc) : new Set<string>();
  const loose = issues.filter((i) => !inForm.has(i.path));

  return (
    <div className="editor">
      <div className="editor-bar">
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={view === "simple"} className={view === "simple" ? "active" : ""} onClick={() => switchView("simple")}>Simple</button>
          <button type="button" role="tab" aria-selected={view === "advanced"} className={view === "advanced" ? "active" : ""} onClick={() => switchView("advanced")}>Advanced (YAML)</button>
        </div>
        <div className="actions">
          <span className="muted" data-testid="live-validation" data-state={live}>
            {live === "checking" ? "checking…" : live === "ok" ? "no problems" : live === "problems" ? `${issues.length || "some"} problem(s)` : ""}
          </span>
          <button type="button" onClick={() => submit("validate")} disabled={busy !== null}>{busy === "validate" ? "Validating…" : "Validate"}</button>
          <button type="button" onClick={() => submit("save")} disabled={busy !== null}>{busy === "save" ? "Saving…" : "Save"}</button>
          <button type="button" className="primary" onClick={() => submit("start")} disabled={busy !== null}>{busy === "start" ? "Starting…" : "Save & start"}</button>
        </div>
      </div>
      {jobId === undefined && (
        <div className="preset-bar">
          <button type="button" onClick={loadPreset} disabled={presetBusy} data-testid="preset-tiny-demo">
            {presetBusy ? "Preparing the tiny demo…" : "Start from the tiny demo"}
          </button>
          <span className="muted">No GPU yet? A tiny random LTX-2 on synthetic clips shows a whole run (loss chart, samples with sound, LoRA files) in about a minute on a CPU.</span>
        </div>
      )}
      {message && <p className={issues.length ? "error-box" : "ok-box"} data-testid="form-message">{message}</p>}
      {loose.length > 0 && (
        <ul className="error-box issue-list" data-testid="loose-issues">
          {loose.map((i, n) => <li key={n}><code>{i.path || "config"}</code> {i.message}</li>)}
        </ul>
      )}
      {warnings.length > 0 && (
        <ul className="warn-box">{warnings.map((w, n) => <li key={n}>{w}</li>)}</ul>
      )}
      {view === "simple" ? (
        <SimpleForm doc={doc} onChange={(next, changed) => {
          setDoc(next);
          setEdits((n) => n + 1);
          // The problem reported for this field is the user's to fix now: stop showing it.
          setIssues((list) => list.filter((i) => i.path !== changed));
          setMessage(null);
        }} errors={errors} datasets={datasets} datasetsRoot={datasetsRoot} nameLocked={nameLocked} />
      ) : (
        <div className="card yaml-card">
          <p className="card-intro">
            The whole config as the trainer reads it (ai-toolkit format). Keys the Simple view does not show are kept.
            <label className="file-load">Load a YAML file… <input type="file" accept=".yaml,.yml,.json" onChange={async (e) => {
              const file = e.target.files?.[0];
              if (!file) return;
              if (file.size > 1024 * 1024) { setYamlError("the file is larger than 1 MiB"); return; }
              setYamlText(await file.text());
              setYamlError(null);
            }} /></label>
          </p>
          {yamlError && <p className="error-box" data-testid="yaml-error">The YAML cannot be read, so the form and Save wait until it is fixed — {yamlError}</p>}
          <textarea className="yaml" aria-label="config YAML" spellCheck={false} value={yamlText}
            onChange={(e) => { setYamlText(e.target.value); setYamlError(null); setEdits((n) => n + 1); }} />
        </div>
      )}
    </div>
  );
}
