import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PathError, datasetFolderProblem, listDatasetFolders, resolveInside } from "@/lib/server/pathGuard";

let tmp: string;
let root: string;

function code(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof PathError) return err.status;
    throw err;
  }
}

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-guard-")));
  root = path.join(tmp, "job");
  fs.mkdirSync(path.join(root, "samples"), { recursive: true });
  fs.writeFileSync(path.join(root, "samples", "000000010_00.mp4"), "video");
  fs.writeFileSync(path.join(root, "job.safetensors"), "lora");
  // A sibling whose name starts like the root: "job-secret" must not pass a prefix check.
  fs.mkdirSync(path.join(tmp, "job-secret"));
  fs.writeFileSync(path.join(tmp, "job-secret", "key.txt"), "secret");
  fs.writeFileSync(path.join(tmp, "outside.txt"), "secret");
  fs.symlinkSync(path.join(tmp, "outside.txt"), path.join(root, "link-out.txt"));
  fs.symlinkSync(path.join(tmp, "job-secret"), path.join(root, "dir-out"));
  fs.symlinkSync(path.join(root, "job.safetensors"), path.join(root, "link-in.safetensors"));
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("resolveInside", () => {
  it("serves files inside the folder", () => {
    expect(resolveInside(root, ["samples", "000000010_00.mp4"])).toBe(path.join(root, "samples", "000000010_00.mp4"));
    expect(resolveInside(root, ["link-in.safetensors"])).toBe(path.join(root, "job.safetensors"));
  });

  it("rejects traversal, absolute paths, encoded slashes and odd characters", () => {
    const bad = [
      [".."], ["..", "outside.txt"], ["samples", "..", "..", "outside.txt"], ["/etc/passwd"], ["samples/../../x"],
      ["..%2F..%2Foutside.txt"], ["%2e%2e", "outside.txt"], ["..\\outside.txt"], ["a\0b"], [".hidden"], [""], [],
      ["..%252F"], ["C:\\Windows"],
    ];
    for (const segments of bad) expect(code(() => resolveInside(root, segments)), JSON.stringify(segments)).toBe(400);
  });

  it("rejects symlinks that lead out of the folder", () => {
    expect(code(() => resolveInside(root, ["link-out.txt"]))).toBe(403);
    expect(code(() => resolveInside(root, ["dir-out", "key.txt"]))).toBe(403);
  });

  it("answers 404 for files that are not there", () => {
    expect(code(() => resolveInside(root, ["samples", "missing.mp4"]))).toBe(404);
  });
});

describe("dataset folders", () => {
  let datasets: string;
  beforeAll(() => {
    datasets = path.join(tmp, "datasets");
    fs.mkdirSync(path.join(datasets, "alice", "clips"), { recursive: true });
    fs.mkdirSync(path.join(datasets, ".hidden"));
    fs.mkdirSync(path.join(datasets, "_latent_cache"));
    fs.symlinkSync(path.join(tmp, "job-secret"), path.join(datasets, "escape"));
  });

  it("accepts folders inside the root, relative to the repo or absolute", () => {
    expect(datasetFolderProblem(datasets, tmp, "datasets/alice")).toBeNull();
    expect(datasetFolderProblem(datasets, "/", path.join(datasets, "alice", "clips"))).toBeNull();
  });

  it("refuses the root itself, folders outside it, traversal and symlinks out", () => {
    expect(datasetFolderProblem(datasets, tmp, "datasets")).toMatch(/inside the datasets root/);
    expect(datasetFolderProblem(datasets, tmp, "job")).toMatch(/inside the datasets root/);
    expect(datasetFolderProblem(datasets, tmp, "datasets/alice/../../job")).toMatch(/inside the datasets root/);
    expect(datasetFolderProblem(datasets, tmp, "datasets/escape")).toMatch(/inside the datasets root/);
    expect(datasetFolderProblem(datasets, tmp, "/etc")).toMatch(/inside the datasets root/);
    expect(datasetFolderProblem(datasets, tmp, "datasets/nope")).toMatch(/does not exist/);
    expect(datasetFolderProblem(datasets, tmp, "")).toMatch(/choose/);
  });

  it("lists visible sub-folders only (no hidden, no caches, no symlinks)", () => {
    expect(listDatasetFolders(datasets)).toEqual(["alice", "alice/clips"]);
  });
});
