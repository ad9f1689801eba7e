/**
 * POST {token}: when it matches AI_TOOLKIT_AUTH, set the session cookie (HttpOnly,
 * SameSite=Strict, an HMAC of the token). DELETE: log out. This route is reachable
 * without a session (the proxy lets it through), so it checks the token itself.
 */
import { NextRequest, NextResponse } from "next/server";
import { SESSION_COOKIE, sessionValue, tokenMatches } from "@/lib/server/auth";
import { refusal } from "@/lib/server/http";
import { settings } from "@/lib/server/settings";

export async function POST(req: NextRequest) {
  const refused = refusal(req);
  if (refused) return refused;
  const token = settings().authToken;
  if (!token) return NextResponse.json({ ok: true, auth: false });
  let offered: unknown;
  try {
    offered = ((await req.json()) as { token?: unknown }).token;
  } catch {
    return NextResponse.json({ error: "send {\"token\": \"...\"}" }, { status: 400 });
  }
  if (typeof offered !== "string" || !tokenMatches(token, offered)) {
    // Slow down guessing a little; the token should be long enough not to need more.
    await new Promise((resolve) => setTimeout(resolve, 400));
    return NextResponse.json({ error: "wrong token" }, { status: 401 });
  }
  const res = NextResponse.json({ ok: true, auth: true });
  res.cookies.set(SESSION_COOKIE, sessionValue(token), {
    httpOnly: true,
    sameSite: "strict",
    path: "/",
    secure: req.nextUrl.protocol === "https:",
    maxAge: 60 * 60 * 24 * 30,
  });
  return res;
}

export async function DELETE(req: NextRequest) {
  const refused = refusal(req);
  if (refused) return refused;
  const res = NextResponse.json({ ok: true });
  res.cookies.delete(SESSION_COOKIE);
  return res;
}
