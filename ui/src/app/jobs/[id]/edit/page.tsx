import { notFound } from "next/navigation";
import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobEditor } from "@/components/JobEditor";

export const dynamic = "force-dynamic";

export default async function EditJobPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requirePageAuth(`/jobs/${encodeURIComponent(id)}/edit`);
  if (!/^\d{1,12}$/.test(id)) notFound();
  return (
    <>
      <h1>Edit job #{id}</h1>
      <JobEditor jobId={Number(id)} />
    </>
  );
}
