/** POST {num_frames, fps, do_audio, resolution}: run.py --check on this dataset, problems by file. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { checkDataset } from "@/lib/server/datasetCheck";
import { api, readJson } from "@/lib/server/http";

export const POST = api<{ path: string[] }>(async (req, { path }) => {
  return NextResponse.json(await checkDataset(getApp().settings, path, await readJson(req)));
});
