/**
 * Route-handler plumbing: every API route is wrapped by `api()`, which checks the access
 * token again (the proxy is the first gate, this is the second: a route must never rely
 * on a proxy alone), maps known errors to status codes and logs the unknown ones.
 */
import { NextRequest, NextResponse } from "next/server";
import { isAuthorized, SESSION_COOKIE } from "@/lib/server/auth";
import { settings } from "@/lib/server/settings";
import { PathError } from "@/lib/server/pathGuard";
import { JobError } from "@/lib/server/errors";
import { factsOf, requestProblem } from "@/lib/server/requestGuard";

export type Ctx<P> = { params: Promise<P> };

export function authorized(req: NextRequest): boolean {
  return isAuthorized(settings().authToken, {
    authorization: req.headers.get("authorization"),
    cookie: req.cookies.get(SESSION_COOKIE)?.value,
  });
}

export function jsonError(status: number, message: string, extra: Record<string, unknown> = {}) {
  return NextResponse.json({ error: message, ...extra }, { status });
}

/** The Host and cross-site refusal of a request, as a response, or null (see requestGuard.ts). */
export function refusal(req: NextRequest): Response | null {
  const problem = requestProblem(factsOf(req, req.nextUrl.pathname), settings());
  return problem ? jsonError(problem.status, problem.message) : null;
}

export function api<P>(handler: (req: NextRequest, params: P) => Promise<Response> | Response) {
  return async (req: NextRequest, ctx: Ctx<P>): Promise<Response> => {
    const refused = refusal(req);
    if (refused) return refused;
    if (!authorized(req)) return jsonError(401, "authentication required (AI_TOOLKIT_AUTH)");
    try {
      return await handler(req, await ctx.params);
    } catch (err) {
      if (err instanceof PathError || err instanceof JobError) return jsonError(err.status, err.message);
      console.error("[ltx2-ui] request failed:", req.method, req.nextUrl.pathname, err);
      return jsonError(500, (err as Error).message || "internal error");
    }
  };
}

const MAX_BODY = 1024 * 1024;

/** The request's JSON body (at most 1 MiB); a JobError(400) when it is not JSON. */
export async function readJson(req: NextRequest): Promise<unknown> {
  const text = await req.text();
  if (text.length > MAX_BODY) throw new JobError("request body too large (1 MiB max)", 413);
  try {
    return JSON.parse(text);
  } catch {
    throw new JobError("the request body is not JSON", 400);
  }
}

export function jobId(raw: string): number {
  if (!/^\d{1,12}$/.test(raw)) throw new JobError(`bad job id ${JSON.stringify(raw)}`, 400);
  return Number(raw);
}
