/** GET: the prepared windows of this dataset (prepare.jsonl); POST {source, trigger, ...}: prepare from footage. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api, readJson } from "@/lib/server/http";
import { prepareWindows, runPrepare } from "@/lib/server/prepare";

export const GET = api<{ path: string[] }>(async (_req, { path }) => {
  return NextResponse.json({ windows: await prepareWindows(getApp().settings, path) });
});

export const POST = api<{ path: string[] }>(async (req, { path }) => {
  return NextResponse.json(await runPrepare(getApp().settings, path, await readJson(req)));
});
