/** POST {config, id?}: the checks of a save, without saving (the form's "Validate"). */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId, readJson } from "@/lib/server/http";
import { checkConfig } from "@/lib/server/jobService";

export const POST = api(async (req) => {
  const body = (await readJson(req)) as { config?: unknown; id?: unknown };
  const id = body.id === undefined || body.id === null ? null : jobId(String(body.id));
  const checked = await checkConfig(getApp(), body.config, id);
  return NextResponse.json({ ok: checked.ok, issues: checked.issues, warnings: checked.warnings, yaml: checked.yaml });
});
