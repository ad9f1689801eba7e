/** GET: the tiny demo as a new job's draft (lib/server/presets.ts); building the tiny model or the synthetic clips when missing. */
import { NextResponse } from "next/server";
import { getApp } from "@/lib/server/app";
import { api } from "@/lib/server/http";
import { tinyDemoDraft } from "@/lib/server/presets";

export const GET = api(async () => NextResponse.json(await tinyDemoDraft(getApp())));
