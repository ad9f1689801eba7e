"use client";
/**
 * The Config tab of the job page: the YAML that ran (the run folder's config.yaml, which
 * the trainer writes when a run starts), and, when the job was edited after that, the
 * stored config its next start will run.
 */
import { useEffect, useState } from "react";
import { apiFetch } from "@/lib/client";
import { fromYaml } from "@/lib/configModel";

/** The same config, whatever the YAML formatting (the trainer re-dumps what it read). */
function sameConfig(a: string, b: string): boolean {
  const stable = (v: unknown): unknown => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]))
    : Array.isArray(v) ? v.map(stable) : v);
  const pa = fromYaml(a);
  const pb = fromYaml(b);
  return pa.ok && pb.ok ? JSON.stringify(stable(pa.doc)) === JSON.stringify(stable(pb.doc)) : a.trim() === b.trim();
}

interface Configs { ran: string | null; ranAt: number | null; file: string; stored: string }

export function JobConfig({ id }: { id: number }) {
  const [data, setData] = useState<Configs | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    apiFetch<Configs>(`/api/jobs/${id}/config`).then(setData, (err: Error) => setError(err.message));
  }, [id]);
  if (error) return <p className="error-box">{error}</p>;
  if (!data) return <p>Loading…</p>;
  return (
    <section className="card" data-testid="job-config">
      {data.ran !== null ? (
        <>
          <h2>The config that ran</h2>
          <p className="muted"><code>{data.file}</code>{data.ranAt ? `, written at the start of the last run (${new Date(data.ranAt).toLocaleString()})` : ""}</p>
          <pre className="log config-yaml" data-testid="config-ran">{data.ran}</pre>
        </>
      ) : (
        <p className="muted" data-testid="config-not-run">This job has not run yet: below is the config its first start will run.</p>
      )}
      {(data.ran === null || !sameConfig(data.ran, data.stored)) && (
        <details open={data.ran === null}>
          <summary>{data.ran === null ? "Stored config" : "Stored config (edited since: the next start runs this)"}</summary>
          <pre className="log config-yaml" data-testid="config-stored">{data.stored}</pre>
        </details>
      )}
    </section>
  );
}
