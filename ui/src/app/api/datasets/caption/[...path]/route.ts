/** PUT {caption}: write the caption file of a clip or image (atomically). */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { writeCaption } from "@/lib/server/datasets";
import { api, readJson } from "@/lib/server/http";

export const PUT = api<{ path: string[] }>(async (req, { path }) => {
  const body = (await readJson(req)) as { caption?: unknown };
  return NextResponse.json({ ok: true, caption: writeCaption(getApp().settings, path, body.caption) });
});
