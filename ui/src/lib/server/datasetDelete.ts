/**
 * Deleting a whole dataset folder from the Datasets page: every clip, image and caption in
 * it, and the trainer's latent cache kept inside it. Only a folder under the datasets root
 * (never the root itself, through the path guard), and never one that a queued or running
 * job trains on.
 */
import fs from "node:fs";
import path from "node:path";
import { fromYaml, getAt } from "@/lib/configModel";
import { App } from "@/lib/server/app";
import { ACTIVE_STATES } from "@/lib/server/db";
import { datasetFolder } from "@/lib/server/datasets";
import { JobError } from "@/lib/server/errors";
import { isInside } from "@/lib/server/pathGuard";

/** The dataset folders (real paths) a stored job config trains on. */
export function jobDatasetFolders(repoRoot: string, configYaml: string): string[] {
  const parsed = fromYaml(configYaml);
  if (!parsed.ok) return [];
  const procs = getAt(parsed.doc, ["config", "process"]);
  const out: string[] = [];
  for (const proc of Array.isArray(procs) ? procs : []) {
    const datasets = getAt(proc, ["datasets"]);
    for (const ds of Array.isArray(datasets) ? datasets : []) {
      const folder = getAt(ds, ["folder_path"]);
      if (typeof folder !== "string" || !folder) continue;
      const abs = path.resolve(repoRoot, folder);
      out.push(fs.existsSync(abs) ? fs.realpathSync(abs) : abs);
    }
  }
  return out;
}

/** Delete the dataset folder named by `segments`; returns its path. */
export function deleteDataset(app: App, segments: string[]): string {
  const dir = datasetFolder(app.settings, segments);
  const users = app.store.inStates(ACTIVE_STATES).filter((row) =>
    jobDatasetFolders(app.settings.repoRoot, row.config_yaml).some((f) => f === dir || isInside(dir, f)));
  if (users.length) {
    throw new JobError(`${segments.join("/")} is in use by ${users.map((r) => `job ${r.name} (${r.state})`).join(", ")}: stop it first`, 409);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return dir;
}
