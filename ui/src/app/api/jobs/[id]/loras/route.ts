/** GET: the job's LoRA files (the trainer's and those made from them) for the LoRA files view. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { listJobLoraFiles } from "@/lib/server/loraTools";
import { jobFolder } from "@/lib/server/runner";

export const GET = api<{ id: string }>(async (_req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  return NextResponse.json({
    job: { id: row.id, name: row.name, state: row.state },
    files: listJobLoraFiles(jobFolder(app.settings, row.name), row.name),
  });
});
