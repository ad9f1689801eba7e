/** POST: queue the job (start, or resume: the trainer continues from its newest state). */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { JobError } from "@/lib/server/errors";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { jobSummary } from "@/lib/server/views";

export const POST = api<{ id: string }>(async (_req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const queued = app.runner.enqueue(row.id);
  if (!queued) throw new JobError(`job is ${row.state}: it cannot be started now`, 409);
  return NextResponse.json({ ok: true, job: jobSummary(app, queued) });
});
