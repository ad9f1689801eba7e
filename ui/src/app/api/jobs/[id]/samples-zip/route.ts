/** GET: every sample of a job (and the base model's samples of the voice metric) as one ZIP file. */
import fs from "node:fs";
import path from "node:path";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { JobError } from "@/lib/server/errors";
import { jobFolder } from "@/lib/server/runner";
import { listSamples } from "@/lib/server/runFiles";
import { ZipEntry, checkZipLimits, zipStream } from "@/lib/server/zipStore";

export const GET = api<{ id: string }>(async (_req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const folder = jobFolder(app.settings, row.name);
  const top = `${row.name}_samples`;
  const entries: ZipEntry[] = listSamples(folder).reverse() // oldest step first
    .map((s) => ({ name: `${top}/${path.basename(s.file)}`, file: path.join(folder, s.file) }));
  const baseDir = path.join(folder, "samples", "base");
  if (fs.existsSync(baseDir)) {
    for (const name of fs.readdirSync(baseDir).sort()) {
      // Finished files only: the trainer writes under a hidden temp name and renames.
      if (/^[A-Za-z0-9_-]+\.mp4$/.test(name)) entries.push({ name: `${top}/base/${name}`, file: path.join(baseDir, name) });
    }
  }
  if (!entries.length) throw new JobError("this job has no samples yet", 404);
  let size: number;
  try {
    size = checkZipLimits(entries);
  } catch (err) {
    throw new JobError((err as Error).message, 413);
  }
  return new Response(zipStream(entries), {
    headers: {
      "Content-Type": "application/zip",
      "Content-Length": String(size),
      "Content-Disposition": `attachment; filename="${top}.zip"`,
      "Cache-Control": "no-store",
    },
  });
});
