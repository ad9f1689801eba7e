/**
 * GET: the job's step checkpoints (LoRA, optimizer state, checksums per step).
 * DELETE ?steps=100,200[&what=state]: delete older checkpoints, or only their optimizer
 * states; the newest is always kept (lib/server/checkpointFiles.ts).
 */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { deleteCheckpoints, listCheckpoints } from "@/lib/server/checkpointFiles";
import { JobError } from "@/lib/server/errors";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { jobFolder } from "@/lib/server/runner";

type P = { id: string };

export const GET = api<P>(async (_req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  return NextResponse.json({ checkpoints: listCheckpoints(jobFolder(app.settings, row.name), row.name) });
});

export const DELETE = api<P>(async (req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const raw = req.nextUrl.searchParams.get("steps") ?? "";
  if (!/^\d{1,12}(,\d{1,12})*$/.test(raw)) throw new JobError("steps must be a comma-separated list of step numbers", 400);
  const what = req.nextUrl.searchParams.get("what") ?? "checkpoint";
  if (what !== "checkpoint" && what !== "state") throw new JobError("what must be checkpoint or state", 400);
  const steps = [...new Set(raw.split(",").map(Number))];
  return NextResponse.json({ ok: true, ...deleteCheckpoints(jobFolder(app.settings, row.name), row, steps, what) });
});
