/** GET a media or caption file under the datasets root (the form's dataset preview). */
import { getApp } from "@/lib/server/app";
import { api } from "@/lib/server/http";
import { resolveInside } from "@/lib/server/pathGuard";
import { fileResponse } from "@/lib/server/range";

export const GET = api<{ path: string[] }>(async (req, { path }) => {
  const file = resolveInside(getApp().settings.datasetsRoot, path);
  return fileResponse(file, req.headers.get("range"), false);
});
