"use client";
/** Start/resume, stop, edit, duplicate and delete buttons of one job (list and job page). */
import { useState } from "react";
import { useRouter } from "next/navigation";
import { apiFetch } from "@/lib/client";
import { ConfirmDelete } from "@/components/ConfirmDelete";

export interface JobLike {
  id: number;
  name: string;
  state: string;
  folder: string;
  startedAt: string | null;
  /** The trainer's step (status.json); a job that never reached step 1 has nothing to resume. */
  step?: number | null;
}

export function JobActions({ job, onChanged, compact }: { job: JobLike; onChanged: () => void; compact?: boolean }) {
  const router = useRouter();
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      onChanged();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const post = (path: string) => apiFetch(`/api/jobs/${job.id}/${path}`, { method: "POST" });
  const idle = ["created", "stopped", "completed", "error"].includes(job.state);
  return (
    <div className="actions job-actions">
      {idle && (
        <button type="button" className="primary" onClick={() => act(() => post("start"))}
          title={job.state === "completed" ? "Continue from the last saved state (raise train.steps with Edit to train longer)" : undefined}>
          {job.state === "completed" ? "Continue" : (job.step ?? 0) > 0 ? "Resume" : "Start"}
        </button>
      )}
      {(job.state === "running" || job.state === "queued") && (
        <button type="button" className="danger" onClick={() => act(() => post("stop"))}>Stop</button>
      )}
      {job.state === "stopping" && (
        <button type="button" className="danger" title="The trainer is saving; this kills it (the last checkpoint stays)"
          onClick={() => act(() => post("stop?force=1"))}>Force stop</button>
      )}
      {!compact && idle && <button type="button" onClick={() => router.push(`/jobs/${job.id}/edit`)}>Edit</button>}
      <button type="button" title="Opens a copy of this job's config as a new job; nothing is stored until you save it"
        onClick={() => router.push(`/jobs/new?from=${job.id}`)}>Duplicate</button>
      {job.state !== "running" && job.state !== "stopping" && (
        <button type="button" onClick={() => setConfirm(true)}>Delete</button>
      )}
      {error && <span className="error-inline" role="alert">{error}</span>}
      {confirm && (
        <ConfirmDelete name={job.name} folder={job.folder} onCancel={() => setConfirm(false)} onConfirm={(files) => {
          setConfirm(false);
          act(async () => {
            await apiFetch(`/api/jobs/${job.id}${files ? "?files=1" : ""}`, { method: "DELETE" });
            router.push("/");
          });
        }} />
      )}
    </div>
  );
}
