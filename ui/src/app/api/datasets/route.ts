/** GET: the folders under the datasets root that a job may train on, with file counts. */
import { NextResponse } from "next/server";
import path from "node:path";
import { getApp } from "@/lib/server/app";
import { api } from "@/lib/server/http";
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
