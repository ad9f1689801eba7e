/** GET one job (with its config), PUT {config} to edit it, DELETE (?files=1 removes its output). */
import { NextResponse } from "next/server";
import { fromYaml } from "@/lib/configModel";
import { getApp } from "@/lib/server/app";
import { api, jobId, readJson } from "@/lib/server/http";
import { deleteJob, requireJob, updateJob } from "@/lib/server/jobService";
import { jobSummary } from "@/lib/server/views";

type P = { id: string };

export const GET = api<P>(async (_req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const parsed = fromYaml(row.config_yaml);
  return NextResponse.json({ job: jobSummary(app, row), yaml: row.config_yaml, config: parsed.ok ? parsed.doc : null });
});

export const PUT = api<P>(async (req, { id }) => {
  const body = (await readJson(req)) as { config?: unknown };
  const { checked, job } = await updateJob(getApp(), jobId(id), body.config);
  if (!job) return NextResponse.json({ ok: false, issues: checked.issues, warnings: checked.warnings }, { status: 422 });
  return NextResponse.json({ ok: true, job: jobSummary(getApp(), job), warnings: checked.warnings });
});

export const DELETE = api<P>(async (req, { id }) => {
  deleteJob(getApp(), jobId(id), req.nextUrl.searchParams.get("files") === "1");
  return NextResponse.json({ ok: true });
});
