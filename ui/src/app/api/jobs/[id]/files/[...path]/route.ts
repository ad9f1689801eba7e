/** GET a file of a job's output folder (samples, LoRAs, logs), with range support. */
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { resolveInside } from "@/lib/server/pathGuard";
import { fileResponse } from "@/lib/server/range";
import { jobFolder } from "@/lib/server/runner";

export const GET = api<{ id: string; path: string[] }>(async (req, { id, path }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const file = resolveInside(jobFolder(app.settings, row.name), path);
  return fileResponse(file, req.headers.get("range"), req.nextUrl.searchParams.get("download") === "1");
});
