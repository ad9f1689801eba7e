/**
 * POST {file, tool: "strip-audio" | "split", sharedTo?: "video" | "audio"}: run the tool on one
 * LoRA file of the job; its outputs are written next to it (422 with the tool's reason when it
 * refuses: an existing output, nothing to split, layers that write both streams...).
 */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId, readJson } from "@/lib/server/http";
import { requireJob } from "@/lib/server/jobService";
import { jobLoraPath, runLoraTool } from "@/lib/server/loraTools";
import { jobFolder } from "@/lib/server/runner";

export const POST = api<{ id: string }>(async (req, { id }) => {
  const app = getApp();
  const row = requireJob(app, jobId(id));
  const body = (await readJson(req)) as { file?: unknown; tool?: unknown; sharedTo?: unknown } | null;
  const file = jobLoraPath(jobFolder(app.settings, row.name), body?.file);
  return NextResponse.json({ ok: true, result: await runLoraTool(app.settings, file, body?.tool, body?.sharedTo) });
});
