/**
 * First gate of every request: the Host and cross-site checks (lib/server/requestGuard.ts),
 * then the access token: pages without a session go to /login, API calls get 401. Route
 * handlers and pages check again (see lib/server/http.ts and pageAuth.ts); this file only
 * keeps such requests from reaching them at all.
 */
import { NextRequest, NextResponse } from "next/server";
import { isAuthorized, SESSION_COOKIE } from "@/lib/server/auth";
import { factsOf, requestProblem } from "@/lib/server/requestGuard";
import { settings } from "@/lib/server/settings";

const OPEN_PATHS = new Set(["/login", "/api/auth/login"]);

export function proxy(req: NextRequest) {
  const s = settings();
  const { pathname, search } = req.nextUrl;
  const refused = requestProblem(factsOf(req, pathname), s);
  if (refused) return NextResponse.json({ error: refused.message }, { status: refused.status });
  const token = s.authToken;
  if (!token || OPEN_PATHS.has(pathname)) return NextResponse.next();
  const ok = isAuthorized(token, {
    authorization: req.headers.get("authorization"),
    cookie: req.cookies.get(SESSION_COOKIE)?.value,
  });
  if (ok) return NextResponse.next();
  if (pathname.startsWith("/api/")) {
    return NextResponse.json({ error: "authentication required (AI_TOOLKIT_AUTH)" }, { status: 401 });
  }
  const login = new URL("/login", req.url);
  login.searchParams.set("next", pathname + search);
  return NextResponse.redirect(login);
}

export const config = {
  // Static build assets carry no data; everything else (pages, API, files) is gated.
  // Uploads are left out: a proxy buffers (and past 10 MiB cuts) the body it sees, and
  // their route handler runs every check itself before it streams the file to disk.
  matcher: ["/((?!_next/static|_next/image|favicon.ico|icon.svg|api/datasets/upload/).*)"],
};
