/** GET: the clips and images of a dataset folder with captions, durations, audio and thumbnails. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { listFolder } from "@/lib/server/datasets";
import { api } from "@/lib/server/http";

export const GET = api<{ path: string[] }>(async (_req, { path }) => {
  const s = getApp().settings;
  return NextResponse.json({ folder: path.join("/"), maxUploadBytes: s.maxUploadBytes, files: await listFolder(s, path) });
});
