/**
 * Where the login page may send the user afterwards: a path of this site only.
 *
 * `next` comes from the URL, so anyone can write it. Prefix checks are not enough
 * (`/\example.org` is `//example.org` to a browser, which treats `\` as `/`), so the value
 * is resolved with the URL parser against a placeholder origin and must stay on it;
 * backslashes and control characters are refused outright.
 */
const PLACEHOLDER = "http://ltx2-ui.invalid";

export function safeNextPath(next: string | null | undefined): string {
  if (typeof next !== "string" || !next.startsWith("/")) return "/";
  // Backslashes, and the tab/newline characters URL parsers silently drop, never belong here.
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, PLACEHOLDER);
  } catch {
    return "/";
  }
  if (url.origin !== PLACEHOLDER) return "/";
  const path = url.pathname + url.search + url.hash;
  // A path that the browser would read as protocol-relative after normalisation.
  return path.startsWith("//") ? "/" : path;
}
