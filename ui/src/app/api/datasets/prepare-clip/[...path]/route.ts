/** GET ?id=WINDOW: the clip of one prepared window (kept or left out), with range support. */
import { getApp } from "@/lib/server/app";
import { api } from "@/lib/server/http";
import { windowClip } from "@/lib/server/prepare";
import { fileResponse } from "@/lib/server/range";

export const GET = api<{ path: string[] }>(async (req, { path }) => {
  const file = windowClip(getApp().settings, path, req.nextUrl.searchParams.get("id") ?? "");
  return fileResponse(file, req.headers.get("range"), false);
});
