/** Second gate for pages (the proxy is the first): no session, no page. */
import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";
import { isAuthorized, SESSION_COOKIE } from "@/lib/server/auth";
import { settings } from "@/lib/server/settings";

export async function requirePageAuth(nextPath: string): Promise<void> {
  const token = settings().authToken;
  if (!token) return;
  const [c, h] = await Promise.all([cookies(), headers()]);
  if (!isAuthorized(token, { authorization: h.get("authorization"), cookie: c.get(SESSION_COOKIE)?.value })) {
    redirect(`/login?next=${encodeURIComponent(nextPath)}`);
  }
}
