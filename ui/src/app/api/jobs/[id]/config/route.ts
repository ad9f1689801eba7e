/**
 * GET: the YAML that ran (the run folder's config.yaml, written by the trainer when a run
 * starts) and the job's stored config (what the next start will run), for the Config tab.
 */
import fs from "node:fs";
import path from "node:path";
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { jobFolder } from "@/lib/server/runner";

export const GET = api<{ id: string }>(async (_req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const file = path.join(jobFolder(app.settings, row.name), "config.yaml");
  let ran: string | null = null;
  let ranAt: number | null = null;
  try {
    ran = fs.readFileSync(file, "utf8");
    ranAt = fs.statSync(file).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return NextResponse.json({ ran, ranAt, file, stored: row.config_yaml });
});
