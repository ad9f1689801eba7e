/** POST: SIGINT to the job's process group (the trainer saves and exits); ?force=1: SIGKILL. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { jobSummary } from "@/lib/server/views";

export const POST = api<{ id: string }>(async (req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const stopped = app.runner.stop(row.id, req.nextUrl.searchParams.get("force") === "1") ?? row;
  return NextResponse.json({ ok: true, job: jobSummary(app, stopped) });
});
