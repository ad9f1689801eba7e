/** GET ?file=NAME: what `lora_tools inspect` says of one LoRA file of the job (422: not an LTX-2 LoRA). */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { inspectLora, jobLoraPath } from "@/lib/server/loraTools";
import { jobFolder } from "@/lib/server/runner";

export const GET = api<{ id: string }>(async (req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const file = jobLoraPath(jobFolder(app.settings, row.name), req.nextUrl.searchParams.get("file"));
  return NextResponse.json({ ok: true, facts: await inspectLora(app.settings, file) });
});
