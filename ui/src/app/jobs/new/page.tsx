import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobEditor } from "@/components/JobEditor";

export const dynamic = "force-dynamic";

/** A new job; `?from=<id>`: a draft copy of that job (Duplicate), stored only when saved. */
export default async function NewJobPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { from } = await searchParams;
  const fromJob = typeof from === "string" && /^\d{1,12}$/.test(from) ? Number(from) : undefined;
  await requirePageAuth(fromJob === undefined ? "/jobs/new" : `/jobs/new?from=${fromJob}`);
  return (
    <>
      <h1>{fromJob === undefined ? "New job" : "New job (a copy: saved only when you save it)"}</h1>
      <p className="muted">LTX-2 with the SOP&apos;s defaults, shown as each field&apos;s placeholder. Every setting has its help text; the server checks the config with the trainer&apos;s own validator as you type and before saving.</p>
      <JobEditor fromJob={fromJob} />
    </>
  );
}
