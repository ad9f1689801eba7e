/**
 * Cross-site and DNS-rebinding defences, applied to every request (in the proxy, and again
 * in every route handler), with or without an access token.
 *
 * Why each rule:
 * - Host: a DNS-rebinding page reaches this server under its own name (evil.example ->
 *   127.0.0.1), so the browser treats our answers as its own and lets it read them. A
 *   request whose Host is not the address we were started on is refused (421).
 * - Origin / Sec-Fetch-Site: another site (including another port of 127.0.0.1, which is
 *   "same-site" for cookies!) may send no-cors requests and forms. Any request that says it
 *   comes from another origin is refused (403) before it can change anything.
 * - Content-Type: a no-cors request or an HTML form can only send text/plain,
 *   urlencoded or multipart bodies. State-changing routes accept only application/json
 *   (uploads: application/octet-stream), which a browser sends cross-origin only after a
 *   CORS preflight that this server never grants.
 */
import os from "node:os";
import { isLoopbackHost } from "../../../scripts/bindCheck.mjs";

export interface GuardSettings {
  bindHost: string; // the address the server listens on (LTX2_UI_HOST)
  port: string | null; // its port, when known (LTX2_UI_PORT)
  allowedHosts: string[]; // extra names (LTX2_UI_ALLOWED_HOSTS), e.g. a reverse proxy's
}

export interface Refusal {
  status: 403 | 415 | 421;
  message: string;
}

export interface RequestFacts {
  method: string;
  pathname: string;
  host: string | null;
  origin: string | null;
  secFetchSite: string | null;
  contentType: string | null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Routes whose body is a raw file stream rather than JSON. */
export const UPLOAD_PATH_PREFIX = "/api/datasets/upload/";

/** `name:port` split; IPv6 literals keep their brackets. Null when unparseable. */
export function splitHost(value: string): { name: string; port: string | null } | null {
  const v = value.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(v);
  return m ? { name: m[1], port: m[2] ?? null } : null;
}

function bracket(address: string): string {
  return address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
}

/** Host names this server answers to. */
export function allowedHostNames(g: GuardSettings): Set<string> {
  const names = new Set<string>(g.allowedHosts.map((h) => h.trim().toLowerCase()).filter(Boolean));
  const bind = g.bindHost.trim().toLowerCase();
  names.add(bracket(bind));
  if (isLoopbackHost(bind)) {
    for (const n of ["localhost", "127.0.0.1", "[::1]"]) names.add(n);
  } else if (bind === "0.0.0.0" || bind === "::" || bind === "[::]") {
    // Listening everywhere: the machine's own addresses and name. IP literals cannot be
    // rebound, so they are safe; any other name must be listed in LTX2_UI_ALLOWED_HOSTS.
    for (const n of ["localhost", "127.0.0.1", "[::1]", os.hostname().toLowerCase()]) names.add(n);
    for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? []) names.add(bracket(a.address.toLowerCase().split("%")[0]));
    }
  }
  return names;
}

/** Why the Host header is refused, or null when it names this server. */
export function hostProblem(host: string | null, g: GuardSettings): Refusal | null {
  const allowed = allowedHostNames(g);
  const shown = [...allowed].slice(0, 4).join(", ");
  const refuse = (why: string): Refusal => ({
    status: 421,
    message: `${why}: this server answers only to ${shown}${g.port ? ` on port ${g.port}` : ""} ` +
      "(add other names to LTX2_UI_ALLOWED_HOSTS)",
  });
  if (!host) return refuse("the request has no Host header");
  const parts = splitHost(host);
  if (!parts) return refuse(`bad Host header ${JSON.stringify(host.slice(0, 100))}`);
  if (!allowed.has(parts.name)) return refuse(`Host ${JSON.stringify(parts.name)} is not this server`);
  // Names listed by the user may sit behind a proxy on another port; our own must match.
  const extra = g.allowedHosts.some((h) => h.trim().toLowerCase() === parts.name);
  if (!extra && g.port && (parts.port ?? "80") !== g.port) {
    return refuse(`Host ${JSON.stringify(host)} names another port`);
  }
  return null;
}

function mediaType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

/** Why a request from another site (or a form-like body) is refused, or null. */
export function crossSiteProblem(r: RequestFacts): Refusal | null {
  const method = r.method.toUpperCase();
  const api = r.pathname.startsWith("/api/");
  const changes = !SAFE_METHODS.has(method);
  // Pages may be opened from a link on another site; the API and any change may not.
  if (api || changes) {
    const site = (r.secFetchSite ?? "").toLowerCase();
    if (site && site !== "same-origin" && site !== "none") {
      return { status: 403, message: `refused: a ${site} request (only this UI's own pages may call its API)` };
    }
    if (r.origin !== null) {
      let originHost: string | null = null;
      try {
        originHost = r.origin === "null" ? null : new URL(r.origin).host.toLowerCase();
      } catch {
        originHost = null;
      }
      if (!originHost || originHost !== (r.host ?? "").trim().toLowerCase()) {
        return { status: 403, message: `refused: a request from another origin (${r.origin.slice(0, 100)})` };
      }
    }
  }
  if (changes) {
    const type = mediaType(r.contentType);
    const wanted = r.pathname.startsWith(UPLOAD_PATH_PREFIX) ? "application/octet-stream" : "application/json";
    if (type !== wanted) {
      return { status: 415, message: `refused: ${method} ${r.pathname} takes Content-Type ${wanted}, not ${type || "none"}` };
    }
  }
  return null;
}

/** Both checks, Host first (a rebound request must not learn anything else). */
export function requestProblem(r: RequestFacts, g: GuardSettings): Refusal | null {
  return hostProblem(r.host, g) ?? crossSiteProblem(r);
}

/** The facts of a web Request (proxy and route handlers share this). */
export function factsOf(req: Request, pathname: string): RequestFacts {
  const h = req.headers;
  return {
    method: req.method,
    pathname,
    host: h.get("host"),
    origin: h.get("origin"),
    secFetchSite: h.get("sec-fetch-site"),
    contentType: h.get("content-type"),
  };
}
