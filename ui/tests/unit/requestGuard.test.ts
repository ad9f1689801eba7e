import { describe, expect, it } from "vitest";
import { crossSiteProblem, GuardSettings, hostProblem, RequestFacts } from "@/lib/server/requestGuard";
import { safeNextPath } from "@/lib/safeNext";

describe("login redirect (next=)", () => {
  it("keeps same-origin paths", () => {
    expect(safeNextPath("/")).toBe("/");
    expect(safeNextPath("/jobs/3?x=1#top")).toBe("/jobs/3?x=1#top");
    expect(safeNextPath("/jobs/../datasets")).toBe("/datasets");
  });
  it("refuses anything that could leave the site", () => {
    for (const bad of [
      "/\\example.org/x", "\\\\example.org", "//example.org/x", "///example.org", "/\\/example.org",
      "https://example.org/", "example.org", "javascript:alert(1)", "/\texample", "/%5Cexample.org", "",
    ]) {
      const got = safeNextPath(bad);
      expect(got.startsWith("/") && !got.startsWith("//"), bad).toBe(true);
      expect(new URL(got, "http://127.0.0.1:8675").origin, bad).toBe("http://127.0.0.1:8675");
    }
    expect(safeNextPath("/\\example.org/x")).toBe("/");
    expect(safeNextPath("//example.org/x")).toBe("/");
    expect(safeNextPath(undefined)).toBe("/");
  });
});

const loopback: GuardSettings = { bindHost: "127.0.0.1", port: "8675", allowedHosts: [] };

describe("Host check (DNS rebinding)", () => {
  it("accepts the bound address and loopback names on our port", () => {
    for (const h of ["127.0.0.1:8675", "localhost:8675", "[::1]:8675", "LOCALHOST:8675"]) {
      expect(hostProblem(h, loopback), h).toBeNull();
    }
  });
  it("refuses other names, other ports and no Host with 421", () => {
    for (const h of ["evil.example:8675", "127.0.0.1.evil.example:8675", "127.0.0.1:9999", "127.0.0.1", "", "a b"]) {
      expect(hostProblem(h, loopback)?.status, h).toBe(421);
    }
    expect(hostProblem(null, loopback)?.status).toBe(421);
  });
  it("a specific address answers to itself and the listed extra names only", () => {
    const lan: GuardSettings = { bindHost: "192.168.1.5", port: "8675", allowedHosts: ["trainer.lan"] };
    expect(hostProblem("192.168.1.5:8675", lan)).toBeNull();
    expect(hostProblem("trainer.lan", lan)).toBeNull(); // behind a proxy: any port
    expect(hostProblem("localhost:8675", lan)?.status).toBe(421);
    expect(hostProblem("evil.example:8675", lan)?.status).toBe(421);
  });
});

const facts = (over: Partial<RequestFacts>): RequestFacts => ({
  method: "POST", pathname: "/api/jobs", host: "127.0.0.1:8675", origin: "http://127.0.0.1:8675",
  secFetchSite: "same-origin", contentType: "application/json", ...over,
});

describe("cross-site requests", () => {
  it("lets the UI's own JSON calls through", () => {
    expect(crossSiteProblem(facts({}))).toBeNull();
    expect(crossSiteProblem(facts({ origin: null, secFetchSite: null }))).toBeNull(); // curl
    expect(crossSiteProblem(facts({ method: "GET", contentType: null, origin: null }))).toBeNull();
    expect(crossSiteProblem(facts({ pathname: "/api/datasets/upload/x", contentType: "application/octet-stream" }))).toBeNull();
  });
  it("refuses another origin, even one on the same host (another port)", () => {
    expect(crossSiteProblem(facts({ origin: "http://127.0.0.1:9999", secFetchSite: "same-site" }))?.status).toBe(403);
    expect(crossSiteProblem(facts({ origin: "http://127.0.0.1:9999", secFetchSite: null }))?.status).toBe(403);
    expect(crossSiteProblem(facts({ origin: "null", secFetchSite: null }))?.status).toBe(403);
    expect(crossSiteProblem(facts({ origin: null, secFetchSite: "cross-site" }))?.status).toBe(403);
    // Reading the API from another site is refused too; opening a page from a link is not.
    expect(crossSiteProblem(facts({ method: "GET", secFetchSite: "cross-site", origin: null }))?.status).toBe(403);
    expect(crossSiteProblem(facts({ method: "GET", pathname: "/jobs/1", secFetchSite: "cross-site", origin: null }))).toBeNull();
  });
  it("refuses bodies a form or a no-cors request can send", () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", null]) {
      expect(crossSiteProblem(facts({ contentType: type, origin: null, secFetchSite: null }))?.status, String(type)).toBe(415);
    }
    expect(crossSiteProblem(facts({ method: "DELETE", contentType: "text/plain", origin: null }))?.status).toBe(415);
    expect(crossSiteProblem(facts({ pathname: "/api/datasets/upload/x", contentType: "text/plain" }))?.status).toBe(415);
  });
});
