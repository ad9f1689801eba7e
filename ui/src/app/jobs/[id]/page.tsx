import { notFound } from "next/navigation";
import { requirePageAuth } from "@/lib/server/pageAuth";
import { JobView } from "@/components/JobView";

export const dynamic = "force-dynamic";

export default async function JobPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requirePageAuth(`/jobs/${encodeURIComponent(id)}`);
  if (!/^\d{1,12}$/.test(id)) notFound();
  return <JobView id={Number(id)} />;
}
