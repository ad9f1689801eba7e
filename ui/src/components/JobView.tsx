"use client";
/**
 * The job page: polls /api/jobs/<id>/progress (every second while the job is active)
 * and shows state, step of total, s/it, ETA, the loss chart, samples with sound (all of
 * them as one ZIP), LoRA downloads and older checkpoints to delete, and the log tail; the
 * Config tab shows the YAML that ran.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import Link from "next/link";
import { apiFetch, formatDuration } from "@/lib/client";
import { LossChart } from "@/components/LossChart";
import { VoiceChart } from "@/components/VoiceChart";
import { BestSteps, ValidationChart } from "@/components/ValidationChart";
import { JobActions, JobLike } from "@/components/JobActions";
import { MachinePanel } from "@/components/MachinePanel";
import { SamplesGrid } from "@/components/SamplesGrid";
import { CheckpointFiles, fileUrl } from "@/components/CheckpointFiles";
import { JobConfig } from "@/components/JobConfig";
import { trainerStateShown } from "@/lib/jobState";

interface Progress {
  job: JobLike & { error: string | null; exitCode: number | null; pid: number | null; createdAt: string; finishedAt: string | null };
  status: { state?: string; step?: number; total?: number; s_per_it?: number | null; eta_s?: number | null; last_checkpoint?: string | null; last_sample?: string | null; error?: string | null; peak_mem_gb?: number | null; peak_mem_kind?: string | null } | null;
  statusProblem: string | null;
  metrics: Record<string, number | null>[];
  metricsTotal: number;
  metricsBadLines: number;
  log: string;
  processLog: string;
  samples: { step: number; index: number; file: string; kind: "video" | "audio" | "image" }[];
  prompts: string[];
  loras: { file: string; size: number; step: number | null; modified: number; best?: "val" | "voice" }[];
  checks: { label: string; href: string }[];
}

const ACTIVE = new Set(["queued", "running", "stopping"]);

export function JobView({ id }: { id: number }) {
  const [data, setData] = useState<Progress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tab, setTab] = useState<"overview" | "config">("overview");
  const logRef = useRef<HTMLPreElement>(null);

  const load = useCallback(async () => {
    try {
      setData(await apiFetch<Progress>(`/api/jobs/${id}/progress`));
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, [id]);

  const active = data ? ACTIVE.has(data.job.state) : true;
  useEffect(() => {
    load();
    const timer = setInterval(load, active ? 1000 : 5000);
    return () => clearInterval(timer);
  }, [load, active]);

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [data?.log]);

  if (!data) return error ? <p className="error-box">{error}</p> : <p>Loading…</p>;
  const { job, status } = data;
  const step = status?.step ?? 0;
  const total = status?.total ?? 0;
  const pct = total ? Math.min(100, (step / total) * 100) : 0;
  const trainerState = trainerStateShown(job.state, status?.state);

  return (
    <div className="job-view">
      <div className="job-head">
        <h1>{job.name}</h1>
        <span className={`state state-${job.state}`} data-testid="job-state">{job.state}</span>
        {trainerState && <span className="muted" data-testid="trainer-state">trainer: {trainerState}</span>}
        <JobActions job={job} onChanged={load} />
      </div>
      <div className="tabs job-tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "overview"} className={tab === "overview" ? "active" : ""} onClick={() => setTab("overview")}>Overview</button>
        <button type="button" role="tab" aria-selected={tab === "config"} className={tab === "config" ? "active" : ""} onClick={() => setTab("config")}>Config</button>
      </div>
      {error && <p className="error-box">Polling failed: {error}</p>}
      {job.error && <pre className="error-box" data-testid="job-error">{job.error}</pre>}
      {data.statusProblem && <p className="warn-box">{data.statusProblem}</p>}
      {tab === "config" ? <JobConfig id={job.id} /> : <>

      <section className="card stats">
        <div className="progress" aria-label="progress"><div className="progress-bar" style={{ width: `${pct}%` }} /></div>
        <dl>
          <div><dt>Step</dt><dd data-testid="job-step">{step} / {total || "—"}</dd></div>
          <div><dt>s/it</dt><dd>{status?.s_per_it != null ? status.s_per_it.toFixed(2) : "—"}</dd></div>
          <div><dt>ETA</dt><dd>{ACTIVE.has(job.state) ? formatDuration(status?.eta_s) : "—"}</dd></div>
          <div className="wide"><dt>Last checkpoint</dt><dd>{status?.last_checkpoint ? status.last_checkpoint.split("/").pop() : "—"}</dd></div>
          <div className="wide"><dt>Output</dt><dd><code>{job.folder}</code></dd></div>
        </dl>
      </section>

      <MachinePanel peak={{ gb: status?.peak_mem_gb, kind: status?.peak_mem_kind }} />

      <section className="card">
        <h2>Loss</h2>
        <LossChart rows={data.metrics} />
        <VoiceChart voice={(data.status as { voice?: unknown } | null)?.voice} checks={data.checks} />
        <ValidationChart validation={(data.status as { validation?: unknown } | null)?.validation}
          best={(data.status as { best?: unknown } | null)?.best} />
        {data.metricsTotal > data.metrics.length && <p className="muted">Showing {data.metrics.length} of {data.metricsTotal} logged steps.</p>}
        {data.metricsBadLines > 0 && <p className="warn-box">{data.metricsBadLines} line(s) of metrics.jsonl could not be read.</p>}
      </section>

      <section className="card">
        <div className="section-head">
          <h2>Samples</h2>
          {data.samples.length > 0 && (
            <a className="button" href={`/api/jobs/${job.id}/samples-zip`} download data-testid="samples-zip">Download all samples (.zip)</a>
          )}
        </div>
        <SamplesGrid jobId={job.id} samples={data.samples} prompts={data.prompts} sampling={status?.state === "sampling"} />
      </section>

      <CheckpointFiles jobId={job.id} loras={data.loras} active={ACTIVE.has(job.state)} onChanged={load}>
        <p><Link href={`/jobs/${job.id}/loras`} data-testid="lora-tools-link">Inspect, strip audio, split video / audio…</Link></p>
        <BestSteps best={(data.status as { best?: unknown } | null)?.best} fileUrl={(file) => fileUrl(job.id, file)} />
      </CheckpointFiles>

      <section className="card">
        <h2>Log</h2>
        <pre className="log" ref={logRef} data-testid="log">{data.log || "(no log yet)"}</pre>
        {data.processLog && (
          <details open={job.state === "error"}>
            <summary>Trainer console output</summary>
            <pre className="log" data-testid="process-log">{data.processLog}</pre>
          </details>
        )}
      </section>
      </>}
      <p><Link href="/">← all jobs</Link></p>
    </div>
  );
}
