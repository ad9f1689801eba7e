"use client";
/** Asks for the access token (AI_TOOLKIT_AUTH) and gets the session cookie for it. */
import { useState } from "react";
import { safeNextPath } from "@/lib/safeNext";

export function LoginForm({ next }: { next: string }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Only paths of this site: never send the user to another origin after login.
  const target = safeNextPath(next);
  return (
    <form className="card login" onSubmit={async (e) => {
      e.preventDefault();
      setBusy(true);
      setError(null);
      try {
        const res = await fetch("/api/auth/login", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
        });
        if (!res.ok) {
          setError(res.status === 401 ? "Wrong token." : `Login failed (HTTP ${res.status}).`);
          return;
        }
        window.location.href = target;
      } catch (err) {
        setError((err as Error).message);
      } finally {
        setBusy(false);
      }
    }}>
      <h1>Sign in</h1>
      <p>This trainer is protected by an access token (the <code>AI_TOOLKIT_AUTH</code> variable of the server).</p>
      <label htmlFor="token">Access token</label>
      <input id="token" type="password" autoComplete="current-password" value={token} onChange={(e) => setToken(e.target.value)} autoFocus />
      {error && <p className="field-error" role="alert">{error}</p>}
      <button type="submit" className="primary" disabled={busy || !token}>{busy ? "Checking…" : "Sign in"}</button>
    </form>
  );
}
