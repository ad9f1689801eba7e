"use client";
/** The jobs table of the home page, refreshed every two seconds. */
import { useCallback, useEffect, useState } from "react";
import Link from "next/link";
import { apiFetch } from "@/lib/client";
import { JobActions, JobLike } from "@/components/JobActions";

interface Summary extends JobLike { step: number | null; total: number | null; createdAt: string; error: string | null }

export function JobsList() {
  const [jobs, setJobs] = useState<Summary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setJobs((await apiFetch<{ jobs: Summary[] }>("/api/jobs")).jobs);
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  }, []);
  useEffect(() => {
    load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [load]);

  if (!jobs) return error ? <p className="error-box">{error}</p> : <p>Loading…</p>;
  return (
    <>
      {error && <p className="error-box">Refresh failed: {error}</p>}
      {jobs.length === 0 ? (
        <div className="card empty">
          <p>No jobs yet.</p>
          <Link className="button primary" href="/jobs/new">Create a job</Link>
        </div>
      ) : (
        <table className="table jobs" data-testid="jobs-table">
          <thead><tr><th>#</th><th>Name</th><th>State</th><th>Progress</th><th>Created</th><th></th></tr></thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} data-job={j.name}>
                <td>{j.id}</td>
                <td><Link href={`/jobs/${j.id}`}>{j.name}</Link></td>
                <td><span className={`state state-${j.state}`} title={j.error ?? undefined}>{j.state}</span></td>
                <td>
                  {j.total ? (
                    <div className="progress small" title={`${j.step} / ${j.total}`}>
                      <div className="progress-bar" style={{ width: `${Math.min(100, ((j.step ?? 0) / j.total) * 100)}%` }} />
                      <span>{j.step} / {j.total}</span>
                    </div>
                  ) : "—"}
                </td>
                <td>{new Date(j.createdAt).toLocaleString()}</td>
                <td><JobActions job={j} onChanged={load} compact /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
