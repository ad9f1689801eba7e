/** GET: everything the job page polls: state, status.json, metrics, log tail, samples, LoRAs. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { jobProgress } from "@/lib/server/views";

export const GET = api<{ id: string }>(async (_req, { id }) => {
  const app = getApp();
  return NextResponse.json(jobProgress(app, requireJob(app, jobId(id))));
});
