"use client";
/**
 * One dataset folder: upload clips and images (drop them on the page or choose them),
 * a grid of thumbnails (first frame of each clip) with duration and audio, each caption
 * editable in place, delete with confirmation, the trainer's dataset check with each
 * problem (and each clip without speech) shown on its file's card and what the data holds
 * for the voice, "Prepare from footage" (PrepareFromFootage.tsx), and deleting the whole
 * dataset after a confirmation. Opened with `?check=1&num_frames=..` (the job page's link),
 * the check runs at once with those settings.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { ApiError, apiFetch, formatBytes } from "@/lib/client";
import { PrepareFromFootage } from "@/components/PrepareFromFootage";

interface Facts { ok: boolean; duration_s?: number | null; fps?: number | null; width?: number; height?: number; has_audio?: boolean; thumb?: string; error?: string }
// captionProblem: why a caption file beside the file was not read (a link leaving the
// datasets root, a FIFO, over 64 KiB: lib/server/datasets.ts readCaption); caption is null then
interface Entry { name: string; kind: "video" | "image" | "audio"; size: number; caption: string | null; captionProblem?: string; facts: Facts }
interface CheckResult {
  ok: boolean; exitCode: number | null; summary: string; report: string[]; problems: Record<string, string[]>;
  otherProblems: string[]; notes: Record<string, string[]>; voice: string | null;
}

/** The check's settings from the page's query (the job page links here with its dataset's). */
export interface CheckQuery { check?: string; num_frames?: string; fps?: string; resolution?: string; do_audio?: string }

const enc = (parts: string[]) => parts.map(encodeURIComponent).join("/");

/** Upload one file as a raw stream (not JSON, not a form: see requestGuard.ts). */
async function upload(folder: string[], file: File): Promise<void> {
  const res = await fetch(`/api/datasets/upload/${enc(folder)}?name=${encodeURIComponent(file.name)}`, {
    method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
  });
  if (res.status === 401) {
    window.location.href = `/login?next=${encodeURIComponent(window.location.pathname)}`;
    throw new ApiError("authentication required", 401, {});
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new ApiError(`${file.name}: ${String((body as { error?: string }).error ?? `HTTP ${res.status}`)}`, res.status, body);
  }
}

function CaptionEditor({ folder, entry, onSaved }: { folder: string[]; entry: Entry; onSaved: (text: string) => void }) {
  const [text, setText] = useState(entry.caption ?? "");
  const [state, setState] = useState<"idle" | "saving" | "saved" | string>("idle");
  useEffect(() => setText(entry.caption ?? ""), [entry.caption]);
  const dirty = text.trim() !== (entry.caption ?? "").trim();
  const save = async () => {
    setState("saving");
    try {
      const res = await apiFetch<{ caption: string }>(`/api/datasets/caption/${enc([...folder, entry.name])}`, {
        method: "PUT", body: JSON.stringify({ caption: text }),
      });
      onSaved(res.caption);
      setState("saved");
    } catch (err) {
      setState((err as Error).message);
    }
  };
  return (
    <div className="caption-editor">
      <textarea aria-label={`caption of ${entry.name}`} rows={3} value={text}
        placeholder={entry.captionProblem ? `(${entry.captionProblem})` : "(no caption file)"}
        onChange={(e) => { setText(e.target.value); setState("idle"); }}
        onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) save(); }} />
      <div className="caption-actions">
        <button type="button" className="small" disabled={!dirty || state === "saving"} onClick={save}>Save caption</button>
        {state === "saved" && !dirty && <span className="ok-text" data-testid="caption-saved">saved</span>}
        {state !== "idle" && state !== "saving" && state !== "saved" && <span className="error-inline" role="alert">{state}</span>}
      </div>
    </div>
  );
}

export function DatasetView({ folder, query = {} }: { folder: string[]; query?: CheckQuery }) {
  const router = useRouter();
  const [files, setFiles] = useState<Entry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [uploading, setUploading] = useState<string | null>(null);
  const [uploadErrors, setUploadErrors] = useState<string[]>([]);
  const [dragging, setDragging] = useState(false);
  const [confirm, setConfirm] = useState<Entry | null>(null);
  const [check, setCheck] = useState<CheckResult | null>(null);
  const [checking, setChecking] = useState(false);
  const [opts, setOpts] = useState({
    num_frames: query.num_frames ?? "81", fps: query.fps ?? "24", resolution: query.resolution ?? "512",
    do_audio: query.do_audio !== "false",
  });
  const [confirmFolder, setConfirmFolder] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  const load = useCallback(async () => {
    try {
      setFiles((await apiFetch<{ files: Entry[] }>(`/api/datasets/folder/${enc(folder)}`)).files);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [folder]);
  useEffect(() => { load(); }, [load]);

  const add = async (list: FileList | File[]) => {
    const chosen = [...list];
    const failed: string[] = [];
    // Media first, so a caption uploaded with its clip lands beside it.
    chosen.sort((a, b) => Number(a.name.endsWith(".txt")) - Number(b.name.endsWith(".txt")));
    for (const [i, file] of chosen.entries()) {
      setUploading(`Uploading ${file.name} (${i + 1} of ${chosen.length}, ${formatBytes(file.size)})…`);
      try {
        await upload(folder, file);
      } catch (err) {
        failed.push((err as Error).message);
      }
    }
    setUploading(null);
    setUploadErrors(failed);
    setCheck(null);
    await load();
  };

  const runCheck = useCallback(async (o: typeof opts = opts) => {
    setChecking(true);
    try {
      setCheck(await apiFetch<CheckResult>(`/api/datasets/check/${enc(folder)}`, {
        method: "POST",
        body: JSON.stringify({ num_frames: Number(o.num_frames), fps: Number(o.fps), resolution: Number(o.resolution), do_audio: o.do_audio }),
      }));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setChecking(false);
    }
  }, [folder, opts]);
  const autoCheck = useRef(query.check === "1");
  useEffect(() => {
    if (autoCheck.current && files?.length) {
      autoCheck.current = false;
      runCheck();
    }
  }, [files, runCheck]);

  return (
    <div className={`dataset-view${dragging ? " dragging" : ""}`}
      onDragOver={(e) => { e.preventDefault(); setDragging(true); }}
      onDragLeave={(e) => { if (e.currentTarget === e.target) setDragging(false); }}
      onDrop={(e) => { e.preventDefault(); setDragging(false); if (e.dataTransfer.files.length) add(e.dataTransfer.files); }}>
      <div className="page-head">
        <h1>{folder.join("/")}</h1>
        <Link href="/datasets">← all datasets</Link>
        <button type="button" className="small danger-outline" onClick={() => setConfirmFolder(true)}>Delete dataset</button>
      </div>
      {error && <p className="error-box" role="alert">{error}</p>}

      <section className="card dropzone" data-testid="dropzone">
        <p>Drop clips, images and <code>.txt</code> captions here, or{" "}
          <button type="button" className="small" onClick={() => input.current?.click()}>choose files</button>
          <input ref={input} type="file" multiple hidden data-testid="upload-input"
            accept=".mp4,.mov,.webm,.mkv,.avi,.m4v,.png,.jpg,.jpeg,.webp,.bmp,.wav,.flac,.mp3,.m4a,.ogg,.opus,.txt"
            onChange={(e) => { if (e.target.files?.length) add(e.target.files); e.target.value = ""; }} />
        </p>
        {uploading && <p className="muted" data-testid="uploading">{uploading}</p>}
        {uploadErrors.map((m) => <p key={m} className="error-inline" role="alert">{m}</p>)}
      </section>

      <PrepareFromFootage folder={folder} onChanged={load}
        onCheck={(frames, fps) => { const o = { ...opts, num_frames: frames, fps }; setOpts(o); runCheck(o); }} />

      <section className="card">
        <div className="check-form">
          <strong>Dataset check</strong>
          <label>frames <input type="text" inputMode="numeric" aria-label="check num_frames" value={opts.num_frames} onChange={(e) => setOpts({ ...opts, num_frames: e.target.value })} /></label>
          <label>fps <input type="text" inputMode="decimal" aria-label="check fps" value={opts.fps} onChange={(e) => setOpts({ ...opts, fps: e.target.value })} /></label>
          <label>resolution <input type="text" inputMode="numeric" aria-label="check resolution" value={opts.resolution} onChange={(e) => setOpts({ ...opts, resolution: e.target.value })} /></label>
          <label className="checkbox-line"><input type="checkbox" checked={opts.do_audio} onChange={(e) => setOpts({ ...opts, do_audio: e.target.checked })} /> audio</label>
          <button type="button" className="primary" disabled={checking || !files?.length} onClick={() => runCheck()}>{checking ? "Checking…" : "Check dataset"}</button>
        </div>
        <p className="muted">Runs <code>run.py --check</code>: every file is opened and its audio decoded as training would, without loading a model.</p>
        {check && (
          <div data-testid="check-result">
            <p className={check.ok ? "ok-box" : "warn-box"} data-testid="check-summary">{check.summary || (check.ok ? "ok" : `exit ${check.exitCode}`)}</p>
            {check.voice && (
              <p className={check.voice.startsWith("no ") ? "warn-box" : "muted"} data-testid="check-voice">
                <strong>Voice:</strong> {check.voice}
              </p>
            )}
            {check.report.length > 0 && <pre className="log small-log">{check.report.join("\n")}</pre>}
            {check.otherProblems.map((p) => <p key={p} className="warn-box">{p}</p>)}
          </div>
        )}
      </section>

      {files && files.length === 0 && <p className="muted">This folder has no clips, images or audio files yet.</p>}
      <div className="media-grid" data-testid="media-grid">
        {files?.map((f) => {
          const problems = check?.problems[f.name] ?? [];
          const notes = check?.notes[f.name] ?? [];
          return (
            <article key={f.name} className={`media-card${problems.length ? " has-problem" : ""}`} data-file={f.name}>
              <div className="media-thumb">
                {f.kind === "audio" && f.facts.ok
                  ? <audio controls preload="none" data-testid="audio-player" src={`/api/datasets/files/${enc([...folder, f.name])}`} />
                  : f.facts.thumb ? <img alt={`first frame of ${f.name}`} src={`/api/datasets/thumb/${encodeURIComponent(f.facts.thumb)}`} />
                  : <span className="muted">{f.facts.error ? "unreadable" : "no preview"}</span>}
                {f.kind !== "image" && f.facts.duration_s != null && <span className="media-duration" data-testid="duration">{f.facts.duration_s.toFixed(1)} s</span>}
              </div>
              <div className="media-meta">
                <a href={`/api/datasets/files/${enc([...folder, f.name])}`} target="_blank" rel="noreferrer" className="media-name">{f.name}</a>
                <span className="muted">{formatBytes(f.size)}{f.facts.width ? ` · ${f.facts.width}×${f.facts.height}` : ""}</span>
                {f.kind === "video" && f.facts.ok && (
                  <span className={f.facts.has_audio ? "badge-audio" : "badge-noaudio"} data-testid="audio-badge">{f.facts.has_audio ? "audio" : "no audio"}</span>
                )}
              </div>
              {f.facts.error && <p className="field-error">{f.facts.error}</p>}
              {problems.map((p) => <p key={p} className="field-error" data-testid="file-problem">{p}</p>)}
              {notes.map((p) => <p key={p} className="field-note" data-testid="file-note">{p}</p>)}
              <CaptionEditor folder={folder} entry={f}
                onSaved={(text) => setFiles((all) => all?.map((x) => (x.name === f.name ? { ...x, caption: text } : x)) ?? null)} />
              <button type="button" className="small danger-outline" onClick={() => setConfirm(f)}>Delete</button>
            </article>
          );
        })}
      </div>

      {confirmFolder && (
        <div className="modal-backdrop" role="presentation">
          <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-folder">
            <h2 id="confirm-folder">Delete the dataset {folder.join("/")}?</h2>
            <p>
              All of its {files?.length ?? 0} clips and images, their captions and the trainer&apos;s latent cache
              in it are removed from disk. Jobs that train on it will not find it. This cannot be undone.
            </p>
            <div className="actions">
              <button type="button" onClick={() => setConfirmFolder(false)}>Cancel</button>
              <button type="button" className="danger" onClick={async () => {
                setConfirmFolder(false);
                try {
                  await apiFetch(`/api/datasets/folder/${enc(folder)}`, { method: "DELETE" });
                  router.push("/datasets");
                } catch (err) {
                  setError((err as Error).message);
                }
              }}>Delete dataset</button>
            </div>
          </div>
        </div>
      )}
      {confirm && (
        <div className="modal-backdrop" role="presentation">
          <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-file">
            <h2 id="confirm-file">Delete {confirm.name}?</h2>
            <p>The file{confirm.caption !== null ? " and its caption" : ""} will be removed from the dataset folder. This cannot be undone.</p>
            <div className="actions">
              <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
              <button type="button" className="danger" onClick={async () => {
                const target = confirm;
                setConfirm(null);
                try {
                  await apiFetch(`/api/datasets/files/${enc([...folder, target.name])}`, { method: "DELETE" });
                  setCheck(null);
                } catch (err) {
                  setError((err as Error).message);
                }
                await load();
              }}>Delete</button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
