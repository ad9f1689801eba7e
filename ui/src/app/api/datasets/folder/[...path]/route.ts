/**
 * GET: the clips and images of a dataset folder with captions, durations, audio and thumbnails.
 * DELETE: the whole folder (not while a queued or running job trains on it).
 */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { deleteDataset } from "@/lib/server/datasetDelete";
import { listFolder } from "@/lib/server/datasets";
import { api } from "@/lib/server/http";

export const GET = api<{ path: string[] }>(async (_req, { path }) => {
  const s = getApp().settings;
  return NextResponse.json({ folder: path.join("/"), maxUploadBytes: s.maxUploadBytes, files: await listFolder(s, path) });
});

export const DELETE = api<{ path: string[] }>(async (_req, { path }) => {
  deleteDataset(getApp(), path);
  return NextResponse.json({ ok: true });
});
