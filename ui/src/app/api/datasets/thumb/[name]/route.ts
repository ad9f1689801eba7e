/** GET a cached thumbnail (names come from the folder listing). */
import { getApp } from "@/lib/server/app";
import { api } from "@/lib/server/http";
import { thumbsDir } from "@/lib/server/mediaFacts";
import { resolveInside } from "@/lib/server/pathGuard";
import { fileResponse } from "@/lib/server/range";

export const GET = api<{ name: string }>(async (req, { name }) => {
  const file = resolveInside(thumbsDir(getApp().settings), [name]);
  return fileResponse(file, req.headers.get("range"), false);
});
