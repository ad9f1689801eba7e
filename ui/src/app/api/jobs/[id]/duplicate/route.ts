/** POST: a copy of the job under a free name, not started. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { duplicateJob } from "@/lib/server/jobService";
import { jobSummary } from "@/lib/server/views";

export const POST = api<{ id: string }>(async (_req, { id }) => {
  const app = getApp();
  return NextResponse.json({ ok: true, job: jobSummary(app, duplicateJob(app, jobId(id))) }, { status: 201 });
});
