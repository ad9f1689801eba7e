import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobEditor } from "@/components/JobEditor";

export const dynamic = "force-dynamic";

export default async function NewJobPage() {
  await requirePageAuth("/jobs/new");
  return (
    <>
      <h1>New job</h1>
      <p className="muted">LTX-2 with the SOP&apos;s defaults. Every setting has its help text; the server checks the config with the trainer&apos;s own validator before saving.</p>
      <JobEditor />
    </>
  );
}
