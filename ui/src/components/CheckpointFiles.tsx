"use client";
/**
 * The LoRA files of a job with downloads, and the space its older checkpoints take: per
 * saved step the LoRA and its optimizer state (what a resume needs, and the largest file).
 * Older checkpoints, or only their optimizer states, can be deleted after a confirmation
 * that lists the files; the newest checkpoint is always kept (a resume starts from it),
 * and nothing is deleted while the job runs (lib/server/checkpointFiles.ts).
 */
import { useCallback, useEffect, useState } from "react";
import { apiFetch, formatBytes } from "@/lib/client";

interface LoraFile { file: string; size: number; step: number | null; best?: "val" | "voice" }
interface CheckpointFile { file: string; size: number; kind: "lora" | "state" | "checksums" }
interface Checkpoint { step: number; files: CheckpointFile[]; newest: boolean }
type What = "checkpoint" | "state";
interface Pending { steps: number[]; what: What; files: CheckpointFile[] }

export function fileUrl(id: number, file: string) {
  return `/api/jobs/${id}/files/${encodeURIComponent(file)}?download=1`;
}

export function CheckpointFiles({ jobId, loras, active, onChanged, children }: {
  jobId: number; loras: LoraFile[]; active: boolean; onChanged: () => void; children?: React.ReactNode;
}) {
  const [checkpoints, setCheckpoints] = useState<Checkpoint[]>([]);
  const [pending, setPending] = useState<Pending | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setCheckpoints((await apiFetch<{ checkpoints: Checkpoint[] }>(`/api/jobs/${jobId}/checkpoints`)).checkpoints);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [jobId]);
  const loraKey = loras.map((l) => `${l.file}:${l.size}`).join(",");
  useEffect(() => { load(); }, [load, loraKey]);

  const older = checkpoints.filter((c) => !c.newest);
  const ask = (steps: number[], what: What) => {
    const files = checkpoints.filter((c) => steps.includes(c.step))
      .flatMap((c) => c.files.filter((f) => what === "checkpoint" || f.kind !== "lora"));
    setPending({ steps, what, files });
  };
  const stateOf = (step: number | null) => checkpoints.find((c) => c.step === step)?.files.find((f) => f.kind === "state");
  const why = active ? "stop the job first: the trainer writes and prunes checkpoints while it runs" : undefined;
  const rows: { file: string | null; size: number | null; step: number | null; best?: "val" | "voice" }[] = [
    ...loras.map((l) => ({ file: l.file, size: l.size, step: l.step, best: l.best })),
    // a checkpoint whose LoRA was deleted keeps its state: list it too
    ...checkpoints.filter((c) => !c.files.some((f) => f.kind === "lora")).map((c) => ({ file: null, size: null, step: c.step })),
  ].sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity));

  return (
    <section className="card">
      <div className="section-head">
        <h2>LoRA files</h2>
        {older.length > 0 && (
          <div className="actions">
            <button type="button" className="small" disabled={active} title={why} onClick={() => ask(older.map((c) => c.step), "state")}
              data-testid="delete-old-states">Delete older optimizer states…</button>
            <button type="button" className="small danger-outline" disabled={active} title={why}
              onClick={() => ask(older.map((c) => c.step), "checkpoint")} data-testid="delete-old-checkpoints">Delete older checkpoints…</button>
          </div>
        )}
      </div>
      {children}
      {message && <p className="ok-box" data-testid="checkpoint-message">{message}</p>}
      {error && <p className="error-box">{error}</p>}
      {rows.length === 0 ? <p className="muted">No checkpoints yet.</p> : (
        <table className="table" data-testid="loras">
          <thead><tr><th>File</th><th>Step</th><th>Size</th><th>Optimizer state</th><th></th></tr></thead>
          <tbody>
            {rows.map((r) => {
              const checkpoint = checkpoints.find((c) => c.step === r.step);
              const state = stateOf(r.step);
              return (
                <tr key={`${r.file}:${r.step}`} data-step={r.step ?? "final"}>
                  <td><code>{r.file ?? "(LoRA deleted)"}</code></td>
                  <td>{r.best ? `best (${r.best === "val" ? "validation" : "voice"})` : r.step ?? "final"}</td>
                  <td>{r.size !== null ? formatBytes(r.size) : "—"}</td>
                  <td>{state ? formatBytes(state.size) : "—"}{checkpoint?.newest && <span className="muted"> (newest: kept for resume)</span>}</td>
                  <td className="actions">
                    {r.file && <a href={fileUrl(jobId, r.file)} download>Download</a>}
                    {checkpoint && !checkpoint.newest && (
                      <>
                        {state && <button type="button" className="small" disabled={active} title={why} onClick={() => ask([checkpoint.step], "state")}>Delete state…</button>}
                        <button type="button" className="small danger-outline" disabled={active} title={why} onClick={() => ask([checkpoint.step], "checkpoint")}>Delete…</button>
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {pending && (
        <div className="modal-backdrop" role="presentation">
          <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-checkpoints">
            <h2 id="confirm-checkpoints">
              {pending.what === "state" ? "Delete the optimizer state" : "Delete the checkpoint"}
              {pending.steps.length > 1 ? `s of ${pending.steps.length} steps` : ` of step ${pending.steps[0]}`}?
            </h2>
            <p>
              {pending.what === "state"
                ? "The LoRA files stay downloadable; the run can no longer resume from these steps."
                : "The LoRA files and their optimizer states are removed; the run can no longer resume from these steps."}
              {" "}The newest checkpoint is kept. This cannot be undone.
            </p>
            <ul className="issue-list" data-testid="confirm-files">
              {pending.files.map((f) => <li key={f.file}><code>{f.file}</code> ({formatBytes(f.size)})</li>)}
            </ul>
            <p>{formatBytes(pending.files.reduce((n, f) => n + f.size, 0))} in all.</p>
            <div className="actions">
              <button type="button" onClick={() => setPending(null)}>Cancel</button>
              <button type="button" className="danger" onClick={async () => {
                const { steps, what } = pending;
                setPending(null);
                setError(null);
                try {
                  const res = await apiFetch<{ deleted: string[]; freed: number }>(
                    `/api/jobs/${jobId}/checkpoints?steps=${steps.join(",")}&what=${what}`, { method: "DELETE" });
                  setMessage(`Deleted ${res.deleted.length} file(s), ${formatBytes(res.freed)} freed.`);
                } catch (err) {
                  setError((err as Error).message);
                }
                await load();
                onChanged();
              }}>Delete</button>
            </div>
          </div>
        </div>
      )}
    </section>
  );
}
