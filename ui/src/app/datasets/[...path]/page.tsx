import { notFound } from "next/navigation";
import { requirePageAuth } from "@/lib/server/pageAuth";
import { isSafeSegment } from "@/lib/server/pathGuard";
import { DatasetView } from "@/components/DatasetView";

export const dynamic = "force-dynamic";

export default async function DatasetPage({ params }: { params: Promise<{ path: string[] }> }) {
  const { path } = await params;
  await requirePageAuth(`/datasets/${path.map(encodeURIComponent).join("/")}`);
  if (!path.every(isSafeSegment)) notFound();
  return <DatasetView folder={path} />;
}
