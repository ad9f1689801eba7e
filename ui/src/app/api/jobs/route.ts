/** GET: every job with its run's progress. POST {config, start}: validate, store, queue. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, readJson } from "@/lib/server/http";
import { createJob } from "@/lib/server/jobService";
import { jobSummary } from "@/lib/server/views";

export const GET = api(async () => {
  const app = getApp();
  return NextResponse.json({ jobs: app.store.list().map((row) => jobSummary(app, row)) });
});

export const POST = api(async (req) => {
  const body = (await readJson(req)) as { config?: unknown; start?: unknown };
  const { checked, job } = await createJob(getApp(), body.config, body.start === true);
  if (!job) return NextResponse.json({ ok: false, issues: checked.issues, warnings: checked.warnings }, { status: 422 });
  return NextResponse.json({ ok: true, job: jobSummary(getApp(), job), warnings: checked.warnings }, { status: 201 });
});
