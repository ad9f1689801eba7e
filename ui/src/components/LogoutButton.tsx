"use client";
export function LogoutButton() {
  return (
    <button type="button" className="small" onClick={async () => {
      const res = await fetch("/api/auth/login", { method: "DELETE", headers: { "Content-Type": "application/json" } });
      if (!res.ok) throw new Error(`logout failed: HTTP ${res.status}`);
      window.location.href = "/login";
    }}>Sign out</button>
  );
}
