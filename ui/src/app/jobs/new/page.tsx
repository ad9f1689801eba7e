import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobEditor } from "@/components/JobEditor";

export const dynamic = "force-dynamic";

type Search = Promise<Record<string, string | string[] | undefined>>;

export default async function NewJobPage({ searchParams }: { searchParams: Search }) {
  await requirePageAuth("/jobs/new");
  const q = await searchParams;
  const one = (key: string) => (typeof q[key] === "string" ? (q[key] as string) : undefined);
  const num = (key: string) => (one(key) && Number.isFinite(Number(one(key))) ? Number(one(key)) : undefined);
  const preset = { dataset: one("dataset"), trigger: one("trigger"), num_frames: num("num_frames"), fps: num("fps") };
  return (
    <>
      <h1>New job</h1>
      <p className="muted">LTX-2 with the SOP&apos;s defaults. Every setting has its help text; the server checks the config with the trainer&apos;s own validator before saving.</p>
      <JobEditor preset={preset} />
    </>
  );
}
