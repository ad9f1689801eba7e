import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobEditor } from "@/components/JobEditor";

export const dynamic = "force-dynamic";

/**
 * A new job; `?from=<id>`: a draft copy of that job (Duplicate), stored only when saved;
 * `?dataset=&trigger=&num_frames=&fps=`: a new job for that dataset (the Datasets page's Train).
 */
export default async function NewJobPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const q = await searchParams;
  const one = (key: string) => (typeof q[key] === "string" ? (q[key] as string) : undefined);
  const num = (key: string) => (one(key) && Number.isFinite(Number(one(key))) ? Number(one(key)) : undefined);
  const from = one("from");
  const fromJob = from !== undefined && /^\d{1,12}$/.test(from) ? Number(from) : undefined;
  await requirePageAuth(fromJob === undefined ? "/jobs/new" : `/jobs/new?from=${fromJob}`);
  const preset = { dataset: one("dataset"), trigger: one("trigger"), num_frames: num("num_frames"), fps: num("fps") };
  return (
    <>
      <h1>{fromJob === undefined ? "New job" : "New job (a copy: saved only when you save it)"}</h1>
      <p className="muted">LTX-2 with the SOP&apos;s defaults, shown as each field&apos;s placeholder. Every setting has its help text; the server checks the config with the trainer&apos;s own validator as you type and before saving.</p>
      <JobEditor fromJob={fromJob} preset={preset} />
    </>
  );
}
