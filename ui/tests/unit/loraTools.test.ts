/**
 * The LoRA files view's routes, called as Next calls them, on a real job folder and the real
 * `python -m toolkit.lora_tools`: the listing, inspect's facts (cached per file version), a
 * file that is not an LTX-2 LoRA answered with the tool's one line, strip-audio and split
 * writing next to the original and refusing to overwrite, names that leave the folder refused.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { App } from "@/lib/server/app";
import { JobStore, openDatabase } from "@/lib/server/db";
import { inspectLora } from "@/lib/server/loraTools";
import { Runner } from "@/lib/server/runner";
import { GET as listRoute } from "@/app/api/jobs/[id]/loras/route";
import { GET as inspectRoute } from "@/app/api/jobs/[id]/loras/inspect/route";
import { POST as toolRoute } from "@/app/api/jobs/[id]/loras/tool/route";

const REPO = path.resolve(__dirname, "../../..");
let tmp: string;
let app: App;
let jobId: number;
let folder: string;

const request = (url: string, init: { method?: string; body?: string; contentType?: string } = {}) =>
  new NextRequest(`http://127.0.0.1${url}`, {
    method: init.method ?? "GET",
    body: init.body,
    headers: { host: "127.0.0.1", ...(init.body !== undefined ? { "content-type": init.contentType ?? "application/json" } : {}) },
  });
const ctx = () => ({ params: Promise.resolve({ id: String(jobId) }) });
const inspect = (file: string) => inspectRoute(request(`/api/jobs/${jobId}/loras/inspect?file=${encodeURIComponent(file)}`), ctx());
const tool = (body: unknown, contentType?: string) =>
  toolRoute(request(`/api/jobs/${jobId}/loras/tool`, { method: "POST", body: JSON.stringify(body), contentType }), ctx());

beforeAll(() => {
  delete process.env.AI_TOOLKIT_AUTH; // the routes' own auth check reads the environment
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-loras-")));
  const settings = {
    repoRoot: REPO, uiRoot: path.join(REPO, "ui"), python: path.join(REPO, ".venv/bin/python"),
    dbPath: path.join(tmp, "jobs.db"), datasetsRoot: path.join(tmp, "data"), outputRoot: path.join(tmp, "out"), authToken: null,
    bindHost: "127.0.0.1", port: null, allowedHosts: [], cacheDir: path.join(tmp, "cache"), maxUploadBytes: 1 << 20,
  };
  const store = new JobStore(openDatabase(settings.dbPath));
  app = { settings, store, runner: new Runner(store, settings, () => {}) };
  (globalThis as Record<symbol, unknown>)[Symbol.for("ltx2-trainer-ui.app")] = app;
  jobId = store.insert("alice", "job: extension\n").id;
  folder = path.join(settings.outputRoot, "alice");
  fs.mkdirSync(folder, { recursive: true });
  execFileSync(settings.python, ["ui/tests/fixtures/tiny_lora.py", path.join(folder, "alice.safetensors")], { cwd: REPO });
  fs.copyFileSync(path.join(folder, "alice.safetensors"), path.join(folder, "alice_000000010.safetensors"));
  fs.writeFileSync(path.join(folder, "notes.safetensors"), "not a tensor file");
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("LoRA files view routes", () => {
  it("lists the trainer's files first, then the others", async () => {
    const body = await (await listRoute(request(`/api/jobs/${jobId}/loras`), ctx())).json();
    expect(body.job.name).toBe("alice");
    expect(body.files.map((f: { file: string; kind: string }) => [f.file, f.kind])).toEqual([
      ["alice.safetensors", "final"], ["alice_000000010.safetensors", "checkpoint"], ["notes.safetensors", "derived"],
    ]);
  });

  it("inspects a LoRA, once per file version", { timeout: 120_000 }, async () => {
    const res = await inspect("alice.safetensors");
    expect(res.status).toBe(200);
    const { facts } = await res.json();
    expect(facts.version.text).toBe("LTX-2.0");
    expect(facts.network).toBe("LoRA");
    expect(facts.families.map((f: { family: string }) => f.family)).toEqual(["video", "audio", "a2v", "v2a"]);
    expect(facts.strip_audio).toMatchObject({ removes: 28, keeps: 28, removed_families: "audio, v2a" });
    const file = path.join(folder, "alice.safetensors");
    expect(await inspectLora(app.settings, file)).toBe(await inspectLora(app.settings, file)); // cached, no new Python
  });

  it("answers a file that is not an LTX-2 LoRA with the tool's line, and refuses names outside the folder", { timeout: 120_000 }, async () => {
    const res = await inspect("notes.safetensors");
    expect(res.status).toBe(422);
    expect((await res.json()).error).toMatch(/^notes\.safetensors: not an LTX-2 LoRA: it is not a readable \.safetensors file/);
    expect((await inspect("../jobs.db")).status).toBe(400);
    expect((await inspect("missing.safetensors")).status).toBe(404);
  });

  it("strips audio next to the original, then refuses to overwrite", { timeout: 180_000 }, async () => {
    const res = await tool({ file: "alice_000000010.safetensors", tool: "strip-audio" });
    expect(res.status).toBe(200);
    const { result } = await res.json();
    expect(result.output).toBe(path.join(folder, "alice_000000010_noaudio.safetensors"));
    expect(result).toMatchObject({ removed: 28, kept: 28 });
    const again = await tool({ file: "alice_000000010.safetensors", tool: "strip-audio" });
    expect(again.status).toBe(422);
    expect((await again.json()).error).toBe("alice_000000010_noaudio.safetensors already exists: remove or rename it to make it again");
  });

  it("splits into a video and an audio file next to the original", { timeout: 120_000 }, async () => {
    const res = await tool({ file: "alice.safetensors", tool: "split" });
    expect(res.status).toBe(200);
    expect((await res.json()).result).toMatchObject({ video_layers: 28, audio_layers: 28 });
    const body = await (await listRoute(request(`/api/jobs/${jobId}/loras`), ctx())).json();
    expect(body.files.map((f: { file: string }) => f.file)).toEqual(expect.arrayContaining([
      "alice_video.safetensors", "alice_audio.safetensors", "alice_000000010_noaudio.safetensors"]));
  });

  it("offers only strip-audio and split, and takes only JSON", async () => {
    const res = await tool({ file: "alice.safetensors", tool: "convert" });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/strip-audio, split/);
    expect((await tool({ file: "alice.safetensors", tool: "split" }, "text/plain")).status).toBe(415);
    expect((await tool({ file: "../alice.safetensors", tool: "split" })).status).toBe(400);
  });
});
