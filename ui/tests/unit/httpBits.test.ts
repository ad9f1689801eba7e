import { spawnSync } from "node:child_process";
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

  it("makes the launcher exit before starting Next.js on an open address without a token", () => {
    const env = { ...process.env };
    delete env.AI_TOOLKIT_AUTH;
    const run = spawnSync(process.execPath, [path.join(__dirname, "../../scripts/serve.mjs"), "--host", "0.0.0.0", "--port", "8699"],
      { env, encoding: "utf8", timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/refusing to listen on 0\.0\.0\.0/);
  });
});

describe("chart helpers", async () => {
  const { chartRows, linePath, tickLabels, ticks } = await import("@/lib/chart");
  it("breaks lines at missing values and shows lone points as dots", () => {
    const rows = [{ step: 1, a: 1 }, { step: 2, a: null }, { step: 3, a: 2 }, { step: 4, a: 3 }];
    expect(linePath(rows, "a", (s) => s, (v) => v)).toBe("M1.0,1.0l0,0M3.0,2.0L4.0,3.0");
  });
  it("drops audio losses of steps without audio supervision", () => {
    const [row] = chartRows([{ step: 1, audio_supervised_items: 0, audio_loss_raw: 0, loss: 1 }]);
    expect(row.audio_loss_raw).toBeNull();
    expect(row.loss).toBe(1);
  });
  it("labels ticks with the decimals their spacing needs", () => {
    const t = ticks(0.3176, 0.3184, 4);
    const labels = tickLabels(t);
    expect(new Set(labels).size).toBe(labels.length);
    expect(tickLabels([0, 0.5, 1])).toEqual(["0.0", "0.5", "1.0"]);
  });
});
