/**
 * POST ?name=<file name> with the file as an application/octet-stream body: streamed to
 * disk (never held in memory), size-limited, name sanitised, linked into place when
 * complete. This path is not seen by the proxy (it would buffer the body), so api()'s
 * checks (Host, origin, content type, token) are the gate.
 */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { saveUpload } from "@/lib/server/datasets";
import { api } from "@/lib/server/http";

export const POST = api<{ path: string[] }>(async (req, { path }) => {
  const saved = await saveUpload(getApp().settings, path, req.nextUrl.searchParams.get("name") ?? "", req.body);
  return NextResponse.json({ ok: true, ...saved }, { status: 201 });
});
