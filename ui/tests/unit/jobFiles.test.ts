/**
 * The job page's file operations and pure helpers (issue 25) on real files and a real
 * SQLite file: the samples ZIP read back by Python's zipfile, checkpoint deletion (the
 * newest kept, nothing while the job runs, states alone), deleting a whole dataset (not the
 * root, not one a running job uses), the tiny demo preset, and the loss chart and voice
 * chart helpers.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clippedExtent, linearTrend, smoothRows } from "@/lib/chart";
import { CHART_SETTINGS_KEY, DEFAULT_CHART_SETTINGS, readChartSettings, writeChartSettings } from "@/lib/chartSettings";
import { getAt, newJobConfig, setAt, toYaml } from "@/lib/configModel";
import { trainerStateShown } from "@/lib/jobState";
import { App } from "@/lib/server/app";
import { deleteCheckpoints, listCheckpoints } from "@/lib/server/checkpointFiles";
import { deleteDataset } from "@/lib/server/datasetDelete";
import { JobStore, openDatabase } from "@/lib/server/db";
import { tinyDemoDraft } from "@/lib/server/presets";
import { Runner } from "@/lib/server/runner";
import { checkZipLimits, zipStream } from "@/lib/server/zipStore";
import { emptyReason, voiceChartData } from "@/lib/voiceChart";

const REPO = path.resolve(__dirname, "../../..");
const PYTHON = path.join(REPO, ".venv/bin/python");
let tmp: string;
let app: App;

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-jobfiles-")));
  const settings = {
    repoRoot: REPO, uiRoot: path.join(REPO, "ui"), python: PYTHON,
    dbPath: path.join(tmp, "jobs.db"), datasetsRoot: path.join(tmp, "data"), outputRoot: path.join(tmp, "out"), authToken: null,
    bindHost: "127.0.0.1", port: null, allowedHosts: [], cacheDir: path.join(tmp, "cache"), maxUploadBytes: 1 << 20,
  };
  fs.mkdirSync(settings.datasetsRoot, { recursive: true });
  const store = new JobStore(openDatabase(settings.dbPath));
  app = { settings, store, runner: new Runner(store, settings, () => {}) };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(Buffer.from(value));
  }
  return Buffer.concat(parts);
}

describe("samples as one ZIP file", () => {
  it("holds every file byte for byte, with the size announced beforehand", async () => {
    const dir = path.join(tmp, "zip");
    fs.mkdirSync(dir);
    const files = [["000000010_00.mp4", 70_000], ["000000020_00.mp4", 1], ["base/0123abcd.mp4", 5000]] as const;
    const entries = files.map(([name, size]) => {
      const file = path.join(dir, name.replace("/", "_"));
      fs.writeFileSync(file, Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + size) % 256)));
      return { name: `run_samples/${name}`, file };
    });
    const size = checkZipLimits(entries);
    const zip = await bytesOf(zipStream(entries));
    expect(zip.length).toBe(size);
    const out = path.join(tmp, "samples.zip");
    fs.writeFileSync(out, zip);
    const report = execFileSync(PYTHON, ["-c", [
      "import hashlib, json, sys, zipfile",
      "z = zipfile.ZipFile(sys.argv[1])",
      "assert z.testzip() is None",
      "print(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))",
    ].join("\n"), out], { encoding: "utf8" });
    const sha = (file: string) => execFileSync(PYTHON, ["-c", "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())", file], { encoding: "utf8" }).trim();
    expect(JSON.parse(report)).toEqual(Object.fromEntries(entries.map((e) => [e.name, sha(e.file)])));
  });
});

describe("checkpoint files", () => {
  const name = "ck";
  const folder = () => path.join(tmp, "out", name);
  const write = (file: string, size: number) => fs.writeFileSync(path.join(folder(), file), Buffer.alloc(size, 1));
  const step = (n: number) => String(n).padStart(9, "0");

  it("lists each step's LoRA, state and checksums; deletes older ones, keeps the newest, never while running", () => {
    fs.mkdirSync(folder(), { recursive: true });
    for (const n of [100, 200, 300]) {
      write(`${name}_${step(n)}.safetensors`, 10);
      write(`${name}_${step(n)}.state.pt`, 1000);
      write(`${name}_${step(n)}.sha256.json`, 5);
    }
    write(`${name}.safetensors`, 10); // the final LoRA: never listed here
    write(`${name}_other.safetensors`, 10); // not a step file
    const row = app.store.insert(name, toYaml(newJobConfig({ name })));
    const listed = listCheckpoints(folder(), name);
    expect(listed.map((c) => [c.step, c.newest, c.files.map((f) => f.kind)])).toEqual([
      [100, false, ["lora", "state", "checksums"]], [200, false, ["lora", "state", "checksums"]], [300, true, ["lora", "state", "checksums"]],
    ]);

    expect(() => deleteCheckpoints(folder(), row, [300], "checkpoint")).toThrow(/newest checkpoint: it is kept/);
    expect(() => deleteCheckpoints(folder(), row, [150], "checkpoint")).toThrow(/no checkpoint at step 150/);
    const running = app.store.update(row.id, { state: "running" });
    expect(() => deleteCheckpoints(folder(), running, [100], "state")).toThrow(/stop it first/);
    const stopped = app.store.update(row.id, { state: "stopped" });

    // The optimizer state alone: the LoRA stays downloadable.
    expect(deleteCheckpoints(folder(), stopped, [200], "state")).toEqual({
      deleted: [`${name}_${step(200)}.state.pt`, `${name}_${step(200)}.sha256.json`], freed: 1005,
    });
    expect(fs.existsSync(path.join(folder(), `${name}_${step(200)}.safetensors`))).toBe(true);
    // The whole checkpoint.
    expect(deleteCheckpoints(folder(), stopped, [100], "checkpoint").freed).toBe(1015);
    expect(listCheckpoints(folder(), name).map((c) => c.step)).toEqual([200, 300]);
    expect(fs.existsSync(path.join(folder(), `${name}.safetensors`))).toBe(true);
    expect(fs.existsSync(path.join(folder(), `${name}_${step(300)}.state.pt`))).toBe(true);
  });
});

describe("deleting a whole dataset", () => {
  it("removes the folder with its files, never the root nor one a running job trains on", () => {
    const dir = path.join(app.settings.datasetsRoot, "voice_a");
    fs.mkdirSync(path.join(dir, "_latent_cache"), { recursive: true });
    fs.writeFileSync(path.join(dir, "clip.mp4"), "x");
    fs.writeFileSync(path.join(dir, "_latent_cache", "clip.audio.json"), "{}");
    let doc = newJobConfig({ name: "uses_a", folderPath: dir });
    doc = setAt(doc, ["config", "process", 0, "datasets", 0, "num_frames"], 17);
    const row = app.store.insert("uses_a", toYaml(doc));
    app.store.update(row.id, { state: "running" });
    expect(() => deleteDataset(app, ["voice_a"])).toThrow(/in use by job uses_a \(running\): stop it first/);
    app.store.update(row.id, { state: "stopped" });
    expect(() => deleteDataset(app, [".."])).toThrow();
    expect(() => deleteDataset(app, [])).toThrow();
    expect(deleteDataset(app, ["voice_a"])).toBe(dir);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(app.settings.datasetsRoot)).toBe(true);
  });
});

describe("the tiny demo preset", () => {
  it("is the demo config under a free name, with its synthetic clips built into the datasets root", async () => {
    const first = await tinyDemoDraft(app);
    expect(first.built.some((b) => b.includes("synthetic clips"))).toBe(true);
    const data = path.join(app.settings.datasetsRoot, "synthetic");
    expect(fs.readdirSync(data).filter((f) => f.endsWith(".mp4"))).toHaveLength(4);
    expect(getAt(first.config, ["config", "process", 0, "datasets", 0, "folder_path"])).toBe(data);
    expect(getAt(first.config, ["config", "process", 0, "model", "name_or_path"])).toBe("models/tiny-ltx2");
    expect(getAt(first.config, ["config", "name"])).toBe("ltx2_tiny_demo");
    app.store.insert("ltx2_tiny_demo", toYaml(first.config));
    const again = await tinyDemoDraft(app);
    expect(again.built).toEqual([]); // nothing to build the second time
    expect(getAt(again.config, ["config", "name"])).toBe("ltx2_tiny_demo2");
  });
});

describe("job page helpers", () => {
  it("never shows the trainer's final state beside an active job (right after Stop)", () => {
    expect(trainerStateShown("stopping", "stopped")).toBeNull();
    expect(trainerStateShown("running", "stopped")).toBeNull(); // a resume before its first status
    expect(trainerStateShown("stopping", "training")).toBe("training");
    expect(trainerStateShown("running", "sampling")).toBe("sampling");
    expect(trainerStateShown("stopped", "stopped")).toBeNull(); // the job's state says it
  });

  it("smooths with a bias-corrected EMA, fits a trend, clips outliers to the percentiles", () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ step: i, loss: i === 10 ? 100 : 1 - i / 100 }));
    const smooth = smoothRows(rows, ["loss"], 0.9);
    expect(smooth[0].loss).toBeCloseTo(1); // the first point is itself, not pulled to 0
    expect(smooth[11].loss as number).toBeLessThan(100 * 0.2); // the spike is damped
    expect(smoothRows(rows, ["loss"], 0)).toBe(rows);
    const fit = linearTrend(rows.filter((r) => r.step !== 10), "loss")!;
    expect(fit.slope).toBeCloseTo(-0.01, 6);
    expect(fit.intercept).toBeCloseTo(1, 6);
    expect(linearTrend([{ step: 1, loss: 1 }], "loss")).toBeNull();
    const clipped = clippedExtent(rows, ["loss"])!;
    expect(clipped.max).toBeLessThan(2); // the 100 spike no longer sets the scale
  });

  it("remembers chart settings per browser, falling back per key when damaged", () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    expect(readChartSettings(storage)).toEqual(DEFAULT_CHART_SETTINGS);
    writeChartSettings(storage, { smoothing: 0.9, trend: false, clip: true, log: true });
    expect(readChartSettings(storage)).toEqual({ smoothing: 0.9, trend: false, clip: true, log: true });
    store.set(CHART_SETTINGS_KEY, JSON.stringify({ smoothing: 7, trend: "yes", clip: true }));
    expect(readChartSettings(storage)).toEqual({ ...DEFAULT_CHART_SETTINGS, clip: true });
    store.set(CHART_SETTINGS_KEY, "{not json");
    expect(readChartSettings(storage)).toEqual(DEFAULT_CHART_SETTINGS);
  });

  it("says why the voice chart is empty or flat", () => {
    const base = { prompts: ["a"], baseline: [null] };
    const reference = (clips: number) => ({ clips, speech_s: clips * 2, excluded_no_speech: 4 - clips });
    const data = (v: object) => voiceChartData({ ...base, ...v })!;
    expect(emptyReason(data({ reference: reference(0), history: [{ step: 5, similarity: [null], vs_base: [0.4], speech_s: [1] }] }))).toBe("no-training-speech");
    // against the base model's sample there is something to draw without training speech
    expect(emptyReason(data({ reference: reference(0), history: [{ step: 5, similarity: [null], vs_base: [0.4], speech_s: [1] }] }), "vs_base")).toBeNull();
    expect(emptyReason(data({ reference: reference(2), history: [] }))).toBe("no-sample");
    expect(emptyReason(data({ reference: reference(2), history: [{ step: 5, similarity: [0], vs_base: [0], speech_s: [0] }] }))).toBe("no-sample-speech");
    expect(emptyReason(data({ reference: reference(2), history: [{ step: 5, similarity: [0.7], vs_base: [0.9], speech_s: [1.2] }] }))).toBeNull();
  });
});
