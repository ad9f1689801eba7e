/** POST {id, action: keep | drop | transcript, transcript?}: the user's word on one prepared window. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, readJson } from "@/lib/server/http";
import { decideWindow } from "@/lib/server/prepare";

export const POST = api<{ path: string[] }>(async (req, { path }) => {
  return NextResponse.json({ ok: true, message: await decideWindow(getApp().settings, path, await readJson(req)) });
});
