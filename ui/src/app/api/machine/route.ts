/** GET: GPUs, CPU and RAM of the machine that trains (the machine panel). */
import { NextResponse } from "next/server";
import { api } from "@/lib/server/http";
import { machineInfo } from "@/lib/server/machine";

export const GET = api(async () => NextResponse.json(machineInfo()));
