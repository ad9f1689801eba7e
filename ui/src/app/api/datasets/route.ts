/** GET: the folders under the datasets root, with file counts. POST {name}: create one. */
import { NextResponse } from "next/server";
import path from "node:path";
import { getApp } from "@/lib/server/app";
import { createFolder } from "@/lib/server/datasets";
import { api, readJson } from "@/lib/server/http";
import { configFolderPath } from "@/lib/server/jobService";
import { listDatasetFolders } from "@/lib/server/pathGuard";
import { datasetCounts } from "@/lib/server/views";

export const GET = api(async () => {
  const { settings: s } = getApp();
  const folders = listDatasetFolders(s.datasetsRoot).map((rel) => {
    const abs = path.join(s.datasetsRoot, rel);
    return { label: rel, path: configFolderPath(s.repoRoot, abs), ...datasetCounts(abs) };
  });
  return NextResponse.json({ root: s.datasetsRoot, folders });
});

export const POST = api(async (req) => {
  const body = (await readJson(req)) as { name?: unknown };
  if (typeof body.name !== "string") return NextResponse.json({ error: 'send {"name": "..."}' }, { status: 400 });
  return NextResponse.json({ ok: true, name: createFolder(getApp().settings, body.name) }, { status: 201 });
});
