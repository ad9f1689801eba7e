/**
 * Saving jobs: the real Python validator (run.py --validate --json), a real SQLite file,
 * and the server-side checks (dataset folder inside the root, unique names).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigDoc, fromYaml, getAt, newJobConfig, setAt } from "@/lib/configModel";
import { App } from "@/lib/server/app";
import { JobStore, openDatabase } from "@/lib/server/db";
import { checkConfig, createJob, deleteJob, duplicateDraft } from "@/lib/server/jobService";
import { Runner } from "@/lib/server/runner";
import { parseNvidiaSmi, readGpus } from "@/lib/server/machine";

const REPO = path.resolve(__dirname, "../../..");
let tmp: string;
let app: App;

function tinyConfig(name: string): ConfigDoc {
  let doc = newJobConfig({ name, folderPath: path.join(tmp, "data", "alice"), modelPath: "models/tiny-ltx2" });
  doc = setAt(doc, ["config", "process", 0, "datasets", 0, "num_frames"], 17);
  return doc;
}

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-jobs-")));
  fs.mkdirSync(path.join(tmp, "data", "alice"), { recursive: true });
  fs.mkdirSync(path.join(tmp, "elsewhere"));
  const settings = {
    repoRoot: REPO, uiRoot: path.join(REPO, "ui"), python: path.join(REPO, ".venv/bin/python"),
    dbPath: path.join(tmp, "jobs.db"), datasetsRoot: path.join(tmp, "data"), outputRoot: path.join(tmp, "out"), authToken: null,
    bindHost: "127.0.0.1", port: null, allowedHosts: [], cacheDir: path.join(tmp, "cache"), maxUploadBytes: 1 << 20,
  };
  const store = new JobStore(openDatabase(settings.dbPath));
  app = { settings, store, runner: new Runner(store, settings, () => {}) };
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("checkConfig", () => {
  it("accepts a good config and pins training_folder to the output root", async () => {
    const checked = await checkConfig(app, tinyConfig("good"), null);
    expect(checked.issues).toEqual([]);
    expect(checked.ok).toBe(true);
    const parsed = fromYaml(checked.yaml);
    expect(parsed.ok && getAt(parsed.doc, ["config", "process", 0, "training_folder"])).toBe(path.join(tmp, "out"));
  });

  it("returns the Python validator's problems at their field paths", async () => {
    let doc = tinyConfig("bad");
    doc = setAt(doc, ["config", "process", 0, "datasets", 0, "num_frames"], 10);
    doc = setAt(doc, ["config", "process", 0, "network", "linaer"], 8);
    const checked = await checkConfig(app, doc, null);
    expect(checked.ok).toBe(false);
    const byPath = Object.fromEntries(checked.issues.map((i) => [i.path, i.message]));
    expect(byPath["config.process[0].datasets[0].num_frames"]).toMatch(/8k\+1/);
    expect(byPath["config.process[0].network.linaer"]).toMatch(/did you mean 'linear'/);
  });

  it("refuses dataset folders outside the datasets root", async () => {
    const doc = setAt(tinyConfig("outside"), ["config", "process", 0, "datasets", 0, "folder_path"], path.join(tmp, "elsewhere"));
    const checked = await checkConfig(app, doc, null);
    expect(checked.issues).toContainEqual({
      path: "config.process[0].datasets[0].folder_path",
      message: expect.stringMatching(/inside the datasets root/),
    });
  });

  it("Validate checks the model path and the device on this machine", async () => {
    let doc = setAt(tinyConfig("where"), ["config", "process", 0, "model", "name_or_path"], "models/no-such-model");
    doc = setAt(doc, ["config", "process", 0, "device"], readGpus().gpus.length ? "cuda:64" : "cuda");
    doc = setAt(doc, ["config", "process", 0, "training_folder"], "output");
    const checked = await checkConfig(app, doc, null);
    const byPath = Object.fromEntries(checked.issues.map((i) => [i.path, i.message]));
    expect(byPath["config.process[0].model.name_or_path"]).toMatch(/models\/no-such-model does not exist/);
    expect(byPath["config.process[0].device"]).toMatch(/GPU/);
    // A folder without a transformer/ is not a model either.
    doc = setAt(doc, ["config", "process", 0, "model", "name_or_path"], path.join(tmp, "elsewhere"));
    const folder = await checkConfig(app, doc, null);
    expect(folder.issues.find((i) => i.path.endsWith("model.name_or_path"))?.message).toMatch(/transformer/);
    // ai-toolkit's org/repo/file form passes the quick check; the trainer's Validate then looks
    // for the file in the Hugging Face cache and names it.
    doc = setAt(doc, ["config", "process", 0, "model", "name_or_path"], "Lightricks/LTX-2.3/ltx-2.3-22b-dev.safetensors");
    doc = setAt(doc, ["config", "process", 0, "model", "arch"], "ltx2.3");
    const hubFile = await checkConfig(app, doc, null);
    const hubMessage = hubFile.issues.find((i) => i.path.endsWith("model.name_or_path"))?.message ?? "";
    expect(hubMessage).not.toMatch(/does not exist on this machine/);
    expect(hubMessage).toMatch(/Hugging Face cache .*ltx-2\.3-22b-dev\.safetensors/);
    // `training_folder: output` is the default: replaced without a warning.
    expect(checked.warnings.filter((w) => w.includes("training_folder"))).toEqual([]);
  });

  it("sanitises the name and refuses names already taken", async () => {
    const first = await createJob(app, tinyConfig("my char"), false);
    expect(first.job?.name).toBe("my_char");
    const again = await checkConfig(app, tinyConfig("my_char"), null);
    expect(again.issues.map((i) => i.path)).toContain("config.name");
    const empty = await checkConfig(app, tinyConfig("../.."), null);
    expect(empty.issues.map((i) => i.path)).toContain("config.name");
  });
});

describe("duplicate and delete", () => {
  it("a duplicate is a draft under a free name, stored only when saved; delete takes the output folder", async () => {
    const { job } = await createJob(app, tinyConfig("orig"), false);
    const before = app.store.list().length;
    const draft = duplicateDraft(app, job!.id);
    expect(getAt(draft, ["config", "name"])).toBe("orig_copy");
    expect(app.store.list().length).toBe(before); // nothing stored
    expect(getAt(duplicateDraft(app, job!.id), ["config", "name"])).toBe("orig_copy"); // still free
    const saved = await createJob(app, draft, false);
    const copy = saved.job!;
    expect(copy.name).toBe("orig_copy");
    expect(getAt(duplicateDraft(app, job!.id), ["config", "name"])).toBe("orig_copy2");
    const parsed = fromYaml(copy.config_yaml);
    expect(parsed.ok && getAt(parsed.doc, ["config", "name"])).toBe("orig_copy");
    const folder = path.join(tmp, "out", "orig_copy");
    fs.mkdirSync(folder, { recursive: true });
    deleteJob(app, copy.id, true);
    expect(fs.existsSync(folder)).toBe(false);
    expect(app.store.get(copy.id)).toBeUndefined();
  });

  it("will not delete a running job", async () => {
    const { job } = await createJob(app, tinyConfig("busy"), false);
    app.store.update(job!.id, { state: "running", pid: 1 });
    expect(() => deleteJob(app, job!.id, false)).toThrow(/stop it first/);
  });
});

describe("machine panel", () => {
  it("reads nvidia-smi's CSV, including boards that report [N/A]", () => {
    const gpus = parseNvidiaSmi("0, NVIDIA H200, 1024, 143771, 37\n1, NVIDIA A10, 5, 23028, [N/A]\n");
    expect(gpus).toEqual([
      { index: 0, name: "NVIDIA H200", memoryUsedMiB: 1024, memoryTotalMiB: 143771, utilizationPct: 37 },
      { index: 1, name: "NVIDIA A10", memoryUsedMiB: 5, memoryTotalMiB: 23028, utilizationPct: null },
    ]);
  });
  it("has no GPU and no error where nvidia-smi does not exist", () => {
    expect(readGpus("/nonexistent/nvidia-smi")).toEqual({ gpus: [], error: null });
  });
});
