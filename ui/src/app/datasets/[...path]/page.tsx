import { notFound } from "next/navigation";
import { requirePageAuth } from "@/lib/server/pageAuth";
import { isSafeSegment } from "@/lib/server/pathGuard";
import { CheckQuery, DatasetView } from "@/components/DatasetView";

export const dynamic = "force-dynamic";

export default async function DatasetPage({ params, searchParams }: {
  params: Promise<{ path: string[] }>; searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { path } = await params;
  const raw = await searchParams;
  const one = (key: keyof CheckQuery) => (typeof raw[key] === "string" ? (raw[key] as string) : undefined);
  const query: CheckQuery = { check: one("check"), num_frames: one("num_frames"), fps: one("fps"), resolution: one("resolution"), do_audio: one("do_audio") };
  await requirePageAuth(`/datasets/${path.map(encodeURIComponent).join("/")}`);
  if (!path.every(isSafeSegment)) notFound();
  return <DatasetView folder={path} query={query} />;
}
