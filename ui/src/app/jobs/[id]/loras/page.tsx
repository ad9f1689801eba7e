import { notFound } from "next/navigation";
import { requirePageAuth } from "@/lib/server/pageAuth";
import { LoraFilesView } from "@/components/LoraFilesView";

export const dynamic = "force-dynamic";

export default async function JobLorasPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  await requirePageAuth(`/jobs/${encodeURIComponent(id)}/loras`);
  if (!/^\d{1,12}$/.test(id)) notFound();
  return <LoraFilesView id={Number(id)} />;
}
