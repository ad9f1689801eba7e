import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fileResponse, parseRange } from "@/lib/server/range";
import { isAuthorized, sessionValue } from "@/lib/server/auth";
// The launcher's check is plain JS (it runs before the Next.js build exists).
import { bindProblem, isLoopbackHost } from "../../scripts/bindCheck.mjs";

describe("HTTP ranges", () => {
  it("parses single ranges", () => {
    expect(parseRange(null, 100)).toBeNull();
    expect(parseRange("bytes=0-", 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange("bytes=10-19", 100)).toEqual({ start: 10, end: 19 });
    expect(parseRange("bytes=90-500", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=5-1", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,5-6", 100)).toBeNull(); // multi-range: whole file
    expect(parseRange("items=0-1", 100)).toBeNull();
  });

  it("answers 206 with Content-Range and the exact bytes", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-range-")), "s.mp4");
    fs.writeFileSync(file, "0123456789");
    const part = fileResponse(file, "bytes=2-5", false);
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 2-5/10");
    expect(part.headers.get("content-length")).toBe("4");
    expect(part.headers.get("content-type")).toBe("video/mp4");
    expect(await part.text()).toBe("2345");
    const whole = fileResponse(file, null, true);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-disposition")).toBe('attachment; filename="s.mp4"');
    expect(fileResponse(file, "bytes=20-", false).status).toBe(416);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe("auth", () => {
  it("accepts the Bearer token or the session cookie, nothing else", () => {
    expect(isAuthorized(null, {})).toBe(true); // auth off
    expect(isAuthorized("s3cret", {})).toBe(false);
    expect(isAuthorized("s3cret", { authorization: "Bearer s3cret" })).toBe(true);
    expect(isAuthorized("s3cret", { authorization: "Bearer wrong" })).toBe(false);
    expect(isAuthorized("s3cret", { authorization: "Basic s3cret" })).toBe(false);
    expect(isAuthorized("s3cret", { cookie: sessionValue("s3cret") })).toBe(true);
    expect(isAuthorized("s3cret", { cookie: "s3cret" })).toBe(false); // the cookie is not the token
    expect(sessionValue("s3cret")).not.toContain("s3cret");
  });

  it("refuses to bind a non-loopback address without a token", () => {
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("::1")).toBe(true);
    expect(isLoopbackHost("0.0.0.0")).toBe(false);
    expect(bindProblem("127.0.0.1", undefined)).toBeNull();
    expect(bindProblem("0.0.0.0", undefined)).toMatch(/AI_TOOLKIT_AUTH/);
    expect(bindProblem("192.168.1.5", "  ")).toMatch(/refusing/);
    expect(bindProblem("0.0.0.0", "token")).toBeNull();
  });
});
