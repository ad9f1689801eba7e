/**
 * First gate of the access token: pages without a session go to /login, API calls get
 * 401. Route handlers and pages check again (see lib/server/http.ts and pageAuth.ts);
 * this file only keeps unauthenticated users from reaching them at all.
 */
import { NextRequest, NextResponse } from "next/server";
import { isAuthorized, SESSION_COOKIE } from "@/lib/server/auth";
import { settings } from "@/lib/server/settings";

const OPEN_PATHS = new Set(["/login", "/api/auth/login"]);

export function proxy(req: NextRequest) {
  const token = settings().authToken;
  const { pathname, search } = req.nextUrl;
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
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
