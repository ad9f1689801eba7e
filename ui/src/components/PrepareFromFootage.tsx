"use client";
/**
 * "Prepare from footage" on a dataset's page: run `python -m toolkit.prepare` from footage
 * inside the datasets root into this folder, then review every window it found: thumbnail,
 * play with sound, the transcript (editable in place), the speaker score and why a window
 * was left out, keep / drop. Then Check (the trainer's --check) and Train (a new job with
 * this folder, trigger word, frames and fps).
 */
import { useCallback, useEffect, useState } from "react";
import Link from "next/link";
import { apiFetch } from "@/lib/client";

interface WindowRow {
  id: string; status: "kept" | "left_out" | "failed"; start_s: number; end_s: number; source: string;
  speech_share: number; speaker_score: number | null; reasons: string[]; decision: string | null;
  transcript: string | null; asr_engine: string | null; caption: string | null; caption_by: string | null;
  clip: string | null; thumb: string | null;
}
interface RunResult { ok: boolean; exitCode: number | null; lines: string[]; error: string | null }

const enc = (parts: string[]) => parts.map(encodeURIComponent).join("/");

function TranscriptCell({ folder, row, onSaved }: { folder: string[]; row: WindowRow; onSaved: () => void }) {
  const [text, setText] = useState(row.transcript ?? "");
  const [state, setState] = useState<string>("idle");
  useEffect(() => setText(row.transcript ?? ""), [row.transcript]);
  const dirty = text.trim() !== (row.transcript ?? "").trim();
  const save = async () => {
    setState("saving");
    try {
      await apiFetch(`/api/datasets/prepare-decide/${enc(folder)}`, { method: "POST", body: JSON.stringify({ id: row.id, action: "transcript", transcript: text }) });
      setState("saved");
      onSaved();
    } catch (err) {
      setState((err as Error).message);
    }
  };
  return (
    <div className="transcript-cell">
      <input type="text" aria-label={`transcript of ${row.id}`} value={text} placeholder="(no speech)"
        onChange={(e) => { setText(e.target.value); setState("idle"); }}
        onKeyDown={(e) => { if (e.key === "Enter") save(); }} />
      <button type="button" className="small" disabled={!dirty || state === "saving"} onClick={save}>Save</button>
      {state === "saved" && !dirty && <span className="ok-text" data-testid="transcript-saved">saved</span>}
      {!["idle", "saving", "saved"].includes(state) && <span className="error-inline" role="alert">{state}</span>}
      {row.asr_engine && <div className="muted small-text">{row.asr_engine === "user" ? "typed by you" : `heard by ${row.asr_engine}`}</div>}
      {row.caption && <div className="muted small-text" data-testid="window-caption">caption{row.caption_by !== "user" ? " (machine-made: review)" : ""}: {row.caption}</div>}
    </div>
  );
}

export function PrepareFromFootage({ folder, onCheck, onChanged }: { folder: string[]; onCheck: (frames: string, fps: string) => void; onChanged: () => void }) {
  const [opts, setOpts] = useState({ source: "", trigger: "", reference: "", seen: "", num_frames: "121", fps: "24", silent_share: "0.1" });
  const [windows, setWindows] = useState<WindowRow[] | null>(null);
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<RunResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [playing, setPlaying] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setWindows((await apiFetch<{ windows: WindowRow[] }>(`/api/datasets/prepare/${enc(folder)}`)).windows);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [folder]);
  useEffect(() => { load(); }, [load]);

  const run = async () => {
    setRunning(true);
    setError(null);
    try {
      setResult(await apiFetch<RunResult>(`/api/datasets/prepare/${enc(folder)}`, { method: "POST", body: JSON.stringify(opts) }));
      await load();
      onChanged();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setRunning(false);
    }
  };

  const decide = async (row: WindowRow, action: "keep" | "drop") => {
    try {
      await apiFetch(`/api/datasets/prepare-decide/${enc(folder)}`, { method: "POST", body: JSON.stringify({ id: row.id, action }) });
      await load();
      onChanged();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const field = (key: keyof typeof opts, label: string, wide = false) => (
    <label>{label} <input type="text" aria-label={`prepare ${label}`} className={wide ? "wide" : undefined} value={opts[key]}
      onChange={(e) => setOpts({ ...opts, [key]: e.target.value })} /></label>
  );
  const kept = windows?.filter((w) => w.status === "kept") ?? [];
  const trainHref = `/jobs/new?${new URLSearchParams({ dataset: folder.join("/"), trigger: opts.trigger, num_frames: opts.num_frames, fps: opts.fps })}`;

  return (
    <section className="card" data-testid="prepare">
      <div className="check-form">
        <strong>Prepare from footage</strong>
        {field("source", "footage", true)}
        {field("trigger", "trigger")}
        {field("reference", "reference voice", true)}
        {field("seen", "what is seen", true)}
        {field("num_frames", "frames")}
        {field("fps", "fps")}
        {field("silent_share", "silent share")}
        <button type="button" className="primary" disabled={running || !opts.source || !opts.trigger} onClick={run}>{running ? "Preparing…" : "Prepare"}</button>
      </div>
      <p className="muted">Long videos (a file or folder inside the datasets root) are cut into clips of exactly the frames at the fps, inside one shot, starting and ending in pauses; each clip&apos;s speech is transcribed into its caption, and windows with another voice, several voices or music under the voice are left out (listen, and keep them if you disagree). Without a reference voice the footage&apos;s main speaker is the character.</p>
      {error && <p className="error-box" role="alert">{error}</p>}
      {result && (
        <div data-testid="prepare-result">
          <p className={result.ok ? "ok-box" : "warn-box"}>{result.ok ? "prepared" : `exit ${result.exitCode}: ${result.error ?? ""}`}</p>
          {result.lines.length > 0 && <pre className="log small-log">{result.lines.join("\n")}</pre>}
        </div>
      )}
      {playing && (
        <video key={playing} className="prepare-player" controls autoPlay data-testid="prepare-player"
          src={`/api/datasets/prepare-clip/${enc(folder)}?id=${encodeURIComponent(playing)}`} />
      )}
      {windows && windows.length > 0 && (
        <>
          <table className="prepare-table" data-testid="prepare-table">
            <thead><tr><th>clip</th><th>time</th><th>speaker</th><th>transcript</th><th>verdict</th><th /></tr></thead>
            <tbody>
              {windows.map((w) => (
                <tr key={w.id} data-window={w.id} data-status={w.status} className={w.status === "kept" ? "" : "left-out"}>
                  <td>
                    {w.thumb ? (
                      <button type="button" className="thumb-button" aria-label={`play ${w.id}`} onClick={() => setPlaying(w.id)}>
                        <img alt={`first frame of ${w.id}`} src={`/api/datasets/thumb/${encodeURIComponent(w.thumb)}`} />
                      </button>
                    ) : <span className="muted">not cut</span>}
                  </td>
                  <td>{w.source}<br />{w.start_s.toFixed(2)}–{w.end_s.toFixed(2)} s<br /><span className="muted">speech {(w.speech_share * 100).toFixed(0)}%</span></td>
                  <td data-testid="speaker-score">{w.speaker_score === null ? "–" : w.speaker_score.toFixed(2)}</td>
                  <td><TranscriptCell folder={folder} row={w} onSaved={load} /></td>
                  <td data-testid="verdict">{w.status === "kept" ? "kept" : "left out"}{w.reasons.length ? `: ${w.reasons.join(", ").replaceAll("_", " ")}` : ""}{w.decision ? ` (your ${w.decision})` : ""}</td>
                  <td>
                    {w.status === "kept"
                      ? <button type="button" className="small danger-outline" onClick={() => decide(w, "drop")}>Drop</button>
                      : <button type="button" className="small" onClick={() => decide(w, "keep")}>Keep</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="actions">
            <span className="muted">{kept.length} of {windows.length} windows kept</span>
            <button type="button" onClick={() => onCheck(opts.num_frames, opts.fps)}>Check</button>
            <Link className="button primary" href={trainHref}>Train</Link>
          </div>
        </>
      )}
    </section>
  );
}
