/**
 * The dataset routes probed as an attacker would, through the real route handlers on real
 * files: a caption that is a link to a file outside the datasets root, a FIFO or an oversized
 * file named like a caption, and DELETE / caption writes through a link to another dataset.
 * Plus what the UI hands the trainer: no `${VAR}` of the server's environment substituted
 * into (and echoed by) a posted config, and the datasets root the job is confined to.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NextRequest } from "next/server";

const REPO = path.resolve(__dirname, "../../..");
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-links-")));
const root = path.join(tmp, "data");
const SECRET = "TOPSECRET-do-not-show-4711";
// The route modules read the server settings once, from the environment.
Object.assign(process.env, { LTX2_REPO_ROOT: REPO, LTX2_DATASETS_ROOT: root, LTX2_UI_DB: path.join(tmp, "jobs.db") });
delete process.env.AI_TOOLKIT_AUTH;

const ORIGIN = "http://127.0.0.1:8675";
const ctx = (segments: string[]) => ({ params: Promise.resolve({ path: segments }) });
const request = (method: string, url: string, body?: unknown) => new NextRequest(`${ORIGIN}${url}`, {
  method,
  headers: { host: "127.0.0.1:8675", origin: ORIGIN, "sec-fetch-site": "same-origin", "content-type": "application/json" },
  body: body === undefined ? undefined : JSON.stringify(body),
});
const clip = path.join(REPO, "data", "synthetic", "clip_000.mp4");

beforeAll(() => {
  for (const d of ["ds1", "other"]) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.writeFileSync(path.join(tmp, "passwd"), `root:x:0:0:${SECRET}:/root:/bin/bash\n`);
  // ds1: a clip whose caption is a link out of the root, one whose caption is a FIFO, one whose
  // caption is too big, one whose caption links to another dataset's caption (inside: read)
  for (const stem of ["leak", "fifo", "big", "shared"]) fs.copyFileSync(clip, path.join(root, "ds1", `${stem}.mp4`));
  fs.symlinkSync(path.join(tmp, "passwd"), path.join(root, "ds1", "leak.txt"));
  execFileSync("mkfifo", [path.join(root, "ds1", "fifo.txt")]);
  fs.writeFileSync(path.join(root, "ds1", "big.txt"), "x".repeat(70 * 1024));
  // other: a clip and its caption, linked from ds1 under another name
  fs.copyFileSync(clip, path.join(root, "other", "clip_003.mp4"));
  fs.writeFileSync(path.join(root, "other", "clip_003.txt"), "sks in the other dataset\n");
  fs.symlinkSync(path.join(root, "other", "clip_003.txt"), path.join(root, "ds1", "shared.txt"));
  fs.symlinkSync("../other/clip_003.mp4", path.join(root, "ds1", "alias.mp4"));
  fs.writeFileSync(path.join(root, "ds1", "alias.txt"), "the alias's own caption\n");
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("dataset folder listing", () => {
  it("never reads a caption through a link out of the root, a FIFO or an oversized file", async () => {
    const { GET } = await import("@/app/api/datasets/folder/[...path]/route");
    const started = Date.now();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20); // the event loop must stay free meanwhile
    const res = await Promise.race([
      GET(request("GET", "/api/datasets/folder/ds1"), ctx(["ds1"])),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the listing hung (a FIFO read?)")), 30_000)),
    ]);
    clearInterval(timer);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(SECRET);
    const files = Object.fromEntries((JSON.parse(text).files as { name: string; caption: string | null; captionProblem?: string }[])
      .map((f) => [f.name, f]));
    expect(Object.keys(files).sort()).toEqual(["big.mp4", "fifo.mp4", "leak.mp4", "shared.mp4"]); // links to clips are not listed
    expect(files["leak.mp4"]).toMatchObject({ caption: null, captionProblem: expect.stringMatching(/leak\.txt is a link that leaves the datasets root/) });
    expect(files["fifo.mp4"]).toMatchObject({ caption: null, captionProblem: expect.stringMatching(/fifo\.txt is not a regular file/) });
    expect(files["big.mp4"]).toMatchObject({ caption: null, captionProblem: expect.stringMatching(/larger than 64 KiB/) });
    expect(files["shared.mp4"].caption).toBe("sks in the other dataset\n"); // a link inside the root is read
    if (Date.now() - started > 200) expect(ticks).toBeGreaterThan(0);
  });
});

describe("writes through a link act on the link", () => {
  it("DELETE removes the link and its own caption, not the clip it points to", async () => {
    const { DELETE } = await import("@/app/api/datasets/files/[...path]/route");
    const res = await DELETE(request("DELETE", "/api/datasets/files/ds1/alias.mp4"), ctx(["ds1", "alias.mp4"]));
    expect(res.status).toBe(200);
    expect((await res.json()).removed).toEqual(["alias.mp4", "alias.txt"]);
    expect(fs.existsSync(path.join(root, "ds1", "alias.mp4"))).toBe(false);
    expect(fs.readFileSync(path.join(root, "other", "clip_003.txt"), "utf8")).toBe("sks in the other dataset\n");
    expect(fs.statSync(path.join(root, "other", "clip_003.mp4")).size).toBe(fs.statSync(clip).size);
  });

  it("a caption written for a linked clip goes beside the link; a caption link is replaced, not written through", async () => {
    const { PUT } = await import("@/app/api/datasets/caption/[...path]/route");
    fs.symlinkSync("../other/clip_003.mp4", path.join(root, "ds1", "again.mp4"));
    let res = await PUT(request("PUT", "/api/datasets/caption/ds1/again.mp4", { caption: "new words" }), ctx(["ds1", "again.mp4"]));
    expect(res.status).toBe(200);
    expect(fs.readFileSync(path.join(root, "ds1", "again.txt"), "utf8")).toBe("new words\n");
    res = await PUT(request("PUT", "/api/datasets/caption/ds1/shared.mp4", { caption: "mine now" }), ctx(["ds1", "shared.mp4"]));
    expect(res.status).toBe(200);
    expect(fs.lstatSync(path.join(root, "ds1", "shared.txt")).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(path.join(root, "other", "clip_003.txt"), "utf8")).toBe("sks in the other dataset\n");
  });

  it("a clip link that leaves the root is still refused", async () => {
    const { DELETE } = await import("@/app/api/datasets/files/[...path]/route");
    fs.copyFileSync(clip, path.join(tmp, "outside.mp4"));
    fs.symlinkSync(path.join(tmp, "outside.mp4"), path.join(root, "ds1", "out.mp4"));
    const res = await DELETE(request("DELETE", "/api/datasets/files/ds1/out.mp4"), ctx(["ds1", "out.mp4"]));
    expect(res.status).toBe(403);
    expect(fs.existsSync(path.join(tmp, "outside.mp4"))).toBe(true);
  });
});

describe("what the UI hands the trainer", () => {
  it("confines the child to the datasets root and allows no environment variable by default", async () => {
    const { childEnv } = await import("@/lib/server/python");
    const { loadSettings } = await import("@/lib/server/settings");
    const s = loadSettings(process.env, REPO);
    const env = childEnv(s, { PATH: "/usr/bin", AI_TOOLKIT_AUTH: "t0ken" } as unknown as NodeJS.ProcessEnv);
    expect(env).toMatchObject({ LTX2_CONFIG_ENV_ALLOW: "", LTX2_CONFINE_DATASETS: root, PATH: "/usr/bin" });
    expect(env.AI_TOOLKIT_AUTH).toBeUndefined();
    expect(childEnv(s, { LTX2_UI_CONFIG_ENV_ALLOW: "HOME,USER" } as unknown as NodeJS.ProcessEnv).LTX2_CONFIG_ENV_ALLOW).toBe("HOME,USER");
  });

  it("a posted config cannot read the server's environment back through a validation message", async () => {
    const { validateConfigText } = await import("@/lib/server/python");
    const { loadSettings } = await import("@/lib/server/settings");
    const s = loadSettings(process.env, REPO);
    process.env.LTX2_LINKS_TEST_SECRET = SECRET;
    try {
      const yaml = [
        "job: extension", "config:", "  name: probe", "  process:", "    - type: sd_trainer",
        "      model: {name_or_path: models/tiny-ltx2}",
        `      datasets: [{folder_path: ${path.join(root, "ds1")}, caption_ext: "\${LTX2_LINKS_TEST_SECRET}"}]`,
      ].join("\n");
      const result = await validateConfigText(s, yaml);
      expect(result.ok).toBe(false);
      const text = JSON.stringify(result);
      expect(text).not.toContain(SECRET);
      expect(text).toMatch(/uses \$\{LTX2_LINKS_TEST_SECRET\}, but a config from the web UI may substitute only/);
    } finally {
      delete process.env.LTX2_LINKS_TEST_SECRET;
    }
  });
});
