/** GET a media or caption file under the datasets root; DELETE a clip or image and its caption. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { deleteMedia } from "@/lib/server/datasets";
import { api } from "@/lib/server/http";
import { resolveInside } from "@/lib/server/pathGuard";
import { fileResponse } from "@/lib/server/range";

export const GET = api<{ path: string[] }>(async (req, { path }) => {
  const file = resolveInside(getApp().settings.datasetsRoot, path);
  return fileResponse(file, req.headers.get("range"), false);
});

export const DELETE = api<{ path: string[] }>(async (_req, { path }) => {
  return NextResponse.json({ ok: true, removed: deleteMedia(getApp().settings, path) });
});
