/**
 * Access token checks (AI_TOOLKIT_AUTH, as in upstream ai-toolkit).
 *
 * A request is allowed when no token is configured, or when it carries either
 *   - `Authorization: Bearer <token>` (scripts, curl), or
 *   - the session cookie set by the login page.
 * The cookie holds an HMAC of the token, not the token itself, so a leaked cookie jar
 * does not reveal the token (which may be reused elsewhere). Comparisons are constant-time.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "ltx2_ui_session";

function sameSecret(a: string, b: string): boolean {
  // Hash first so the comparison is constant-time whatever the lengths.
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}

/** The cookie value that proves the user typed `token` on the login page. */
export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("ltx2-ui-session-v1").digest("hex");
}

export function tokenMatches(token: string, offered: string | null | undefined): boolean {
  return typeof offered === "string" && offered.length > 0 && sameSecret(token, offered);
}

export interface Credentials {
  authorization?: string | null;
  cookie?: string | null;
}

/** Whether the credentials of a request satisfy `token` (null token: auth is off). */
export function isAuthorized(token: string | null, creds: Credentials): boolean {
  if (!token) return true;
  const header = creds.authorization ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (match && tokenMatches(token, match[1].trim())) return true;
  return tokenMatches(sessionValue(token), creds.cookie ?? null);
}
