/**
 * The Datasets page's server side on real files: names sanitised, uploads streamed with
 * a size limit and never replacing a file, captions written atomically, deletes inside
 * the root only, and the trainer's --check problems matched to their files.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSettings, Settings } from "@/lib/server/settings";
import { createFolder, deleteMedia, listFolder, sanitizeName, saveUpload, writeCaption } from "@/lib/server/datasets";
import { checkDataset, parseProblems } from "@/lib/server/datasetCheck";

const REPO = path.resolve(__dirname, "../../..");
let tmp: string;
let s: Settings;

const stream = (bytes: Uint8Array, chunk = 4096) => new ReadableStream<Uint8Array>({
  start(c) {
    for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.subarray(i, i + chunk));
    c.close();
  },
});

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-datasets-")));
  s = loadSettings({
    LTX2_REPO_ROOT: REPO, LTX2_DATASETS_ROOT: path.join(tmp, "data"), LTX2_UI_DB: path.join(tmp, "jobs.db"), LTX2_UI_MAX_UPLOAD_MB: "1",
  } as unknown as NodeJS.ProcessEnv, REPO);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("dataset files", () => {
  it("sanitises names", () => {
    expect(sanitizeName("../../Clip (1).MP4", "file")).toBe("Clip_1.MP4");
    expect(sanitizeName("C:\\Users\\me\\été.png", "file")).toBe("ete.png");
    expect(sanitizeName(".hidden.mp4", "file")).toBe("hidden.mp4");
    expect(() => sanitizeName("evil.sh", "file")).toThrow(/only clips/);
    expect(() => sanitizeName("../..", "folder")).toThrow(/no usable name/);
    expect(sanitizeName("My Voice!", "folder")).toBe("My_Voice");
  });

  it("streams uploads into place, refuses too large and existing files", async () => {
    const name = createFolder(s, "alice");
    const clip = fs.readFileSync(path.join(REPO, "data", "synthetic", "clip_000.mp4"));
    expect(await saveUpload(s, [name], "talk.mp4", stream(clip))).toEqual({ name: "talk.mp4", size: clip.length });
    expect(fs.readFileSync(path.join(tmp, "data", "alice", "talk.mp4")).equals(clip)).toBe(true);
    await expect(saveUpload(s, [name], "talk.mp4", stream(clip))).rejects.toMatchObject({ status: 409 });
    await expect(saveUpload(s, [name], "big.mp4", stream(new Uint8Array(1024 * 1024 + 1)))).rejects.toMatchObject({ status: 413 });
    await expect(saveUpload(s, ["..", "x"], "a.mp4", stream(clip))).rejects.toMatchObject({ status: 400 });
    // Nothing half-written is left behind, and the refused file does not exist.
    expect(fs.readdirSync(path.join(tmp, "data", "alice")).sort()).toEqual(["talk.mp4"]);
  });

  it("lists with facts, edits captions, deletes with the caption", async () => {
    writeCaption(s, ["alice", "talk.mp4"], "  sks says hello  ");
    expect(fs.readFileSync(path.join(tmp, "data", "alice", "talk.txt"), "utf8")).toBe("sks says hello\n");
    const [entry] = await listFolder(s, ["alice"]);
    expect(entry).toMatchObject({ name: "talk.mp4", kind: "video", caption: "sks says hello\n" });
    expect(entry.facts).toMatchObject({ ok: true, has_audio: true });
    expect(entry.facts.duration_s).toBeGreaterThan(1);
    expect(fs.existsSync(path.join(s.cacheDir, "thumbs", entry.facts.thumb!))).toBe(true);
    expect(() => writeCaption(s, ["alice", "talk.txt"], "x")).toThrow(/not a clip or image/);
    expect(deleteMedia(s, ["alice", "talk.mp4"])).toEqual(["talk.mp4", "talk.txt"]);
    expect(fs.readdirSync(path.join(tmp, "data", "alice"))).toEqual([]);
  });

  it("takes audio-only files: uploaded, listed as audio with their duration", async () => {
    expect(sanitizeName("Line 01.WAV", "file")).toBe("Line_01.WAV");
    const name = createFolder(s, "voice lines");
    const wav = path.join(tmp, "line.wav");
    execFileSync("ffmpeg", ["-nostdin", "-v", "error", "-i", path.join(REPO, "data", "synthetic", "clip_000.mp4"), "-vn", wav]);
    await saveUpload(s, [name], "line.wav", stream(fs.readFileSync(wav)));
    writeCaption(s, [name, "line.wav"], "sks reads a line");
    const [entry] = await listFolder(s, [name]);
    expect(entry).toMatchObject({ name: "line.wav", kind: "audio", caption: "sks reads a line\n" });
    expect(entry.facts).toMatchObject({ ok: true, kind: "audio", has_audio: true });
    expect(entry.facts.duration_s).toBeGreaterThan(1);
    expect(entry.facts.thumb).toBeUndefined();
  });

  it("shows the trainer's check problems beside their files", async () => {
    const dir = path.join(tmp, "data", "bob");
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(REPO, "data", "synthetic", "clip_000.mp4"), path.join(dir, "good.mp4"));
    fs.writeFileSync(path.join(dir, "good.txt"), "sks talks\n");
    fs.writeFileSync(path.join(dir, "broken.mp4"), "not a video");
    const result = await checkDataset(s, ["bob"], { num_frames: 17, fps: 24, resolution: 64, do_audio: true });
    expect(result.ok).toBe(false);
    expect(result.exitCode).toBe(2); // a bad dataset is bad input
    expect(result.summary).toMatch(/problem/);
    expect(Object.keys(result.problems)).toEqual(["broken.mp4"]);
    expect(result.problems["broken.mp4"].join(" ")).toMatch(/unreadable/);
    expect(result.voice).toMatch(/^\d+ of \d+ windows have speech/); // the clip says a word
    expect(parseProblems("  problems (1):\n    /d/a b.mp4: too short\n", "/d", ["a b.mp4"]).problems).toEqual({ "a b.mp4": ["too short"] });
    // clips without speech are notes on their cards, not problems
    const out = "  voice: no speech in these clips: ...\n  notes (1):\n    /d/tone.mp4: no speech in its audio (non-speech audio (music, tones, noise)): it trains audio, but no voice\n  problems: none\n";
    const parsed = parseProblems(out, "/d", ["tone.mp4"]);
    expect(parsed.problems).toEqual({});
    expect(parsed.notes).toEqual({ "tone.mp4": ["no speech in its audio (non-speech audio (music, tones, noise)): it trains audio, but no voice"] });
  });
});
