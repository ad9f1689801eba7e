/** GET: the draft of a copy of the job (its config under a free name); nothing is stored until it is saved. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, jobId } from "@/lib/server/http";
import { duplicateDraft } from "@/lib/server/jobService";

export const GET = api<{ id: string }>(async (_req, { id }) => {
  return NextResponse.json({ config: duplicateDraft(getApp(), jobId(id)) });
});
