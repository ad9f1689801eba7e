/**
 * Job operations behind the API: every config is checked here before it is stored.
 *
 * Checks, in order: the run name; the server-owned keys (training_folder is always the
 * UI's output root, so every run lands where the file routes may read); every dataset
 * folder is inside the datasets root; then the Python validator on the exact YAML text
 * the trainer will read. Problems come back per field path, as the validator's own.
 */
import fs from "node:fs";
import path from "node:path";
import { ConfigDoc, Json, fromYaml, getAt, jobNameOf, setAt, toYaml } from "@/lib/configModel";
import { App } from "@/lib/server/app";
import { ACTIVE_STATES, JobRow } from "@/lib/server/db";
import { datasetFolderProblem, isInside } from "@/lib/server/pathGuard";
import { ValidationIssue, validateConfigText } from "@/lib/server/python";
import { jobFolder } from "@/lib/server/runner";
import { machineInfo } from "@/lib/server/machine";
import { deviceProblem, modelPathProblem } from "@/lib/server/runtimeChecks";
import { JobError } from "@/lib/server/errors";

export { JobError };

export interface Checked {
  ok: boolean;
  name: string;
  yaml: string;
  issues: ValidationIssue[];
  warnings: string[];
}

function processes(doc: ConfigDoc): Json[] {
  const list = getAt(doc, ["config", "process"]);
  return Array.isArray(list) ? list : [];
}

/** A folder path as the config should store it: repo-relative when inside the repo. */
export function configFolderPath(repoRoot: string, absolute: string): string {
  return isInside(repoRoot, absolute) ? path.relative(repoRoot, absolute) || "." : absolute;
}

/** Validate `doc` for job `selfId` (null: a new job). Never throws for a bad config. */
export async function checkConfig(app: App, input: unknown, selfId: number | null): Promise<Checked> {
  const { settings: s, store } = app;
  const issues: ValidationIssue[] = [];
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return { ok: false, name: "", yaml: "", issues: [{ path: "", message: "the config must be a mapping" }], warnings: [] };
  }
  let doc = input as ConfigDoc;
  const name = jobNameOf(doc);
  if (!name || !/[A-Za-z0-9]/.test(name)) {
    issues.push({ path: "config.name", message: "name must contain letters or digits: it names the output folder" });
  } else {
    doc = setAt(doc, ["config", "name"], name);
    const other = store.byName(name);
    const self = selfId === null ? undefined : store.get(selfId);
    if (other && other.id !== selfId) {
      issues.push({ path: "config.name", message: `name '${name}' is used by job #${other.id}: choose another` });
    } else if (self && self.name !== name && self.started_at) {
      issues.push({ path: "config.name", message: "name cannot change after the job has run (its output folder and checkpoints carry it)" });
    } else if ((!self || self.name !== name) && fs.existsSync(jobFolder(s, name))) {
      issues.push({ path: "config.name", message: `the output folder ${jobFolder(s, name)} already exists: choose another name` });
    }
  }
  const notes: string[] = [];
  processes(doc).forEach((proc, i) => {
    const asked = getAt(proc, ["training_folder"]);
    // `output` is the trainer's default (and what most configs say): replacing it is no
    // news, nor is a path that already is the output root.
    const same = typeof asked === "string" && (asked === "output" || path.resolve(s.repoRoot, asked) === s.outputRoot);
    if (asked !== undefined && !same) {
      notes.push(`config.process[${i}].training_folder: the UI writes every job to ${s.outputRoot} (LTX2_UI_OUTPUT_ROOT); ${JSON.stringify(asked)} is not used`);
    }
    doc = setAt(doc, ["config", "process", i, "training_folder"], s.outputRoot);
    const model = modelPathProblem(s.repoRoot, getAt(proc, ["model", "name_or_path"]));
    if (model) issues.push({ path: `config.process[${i}].model.name_or_path`, message: model });
    const device = deviceProblem(getAt(proc, ["device"]), machineInfo().gpus);
    if (device) issues.push({ path: `config.process[${i}].device`, message: device });
    const datasets = getAt(proc, ["datasets"]);
    if (!Array.isArray(datasets)) return;
    datasets.forEach((ds, j) => {
      const problem = datasetFolderProblem(s.datasetsRoot, s.repoRoot, getAt(ds, ["folder_path"]));
      if (problem) issues.push({ path: `config.process[${i}].datasets[${j}].folder_path`, message: problem });
    });
  });
  const yaml = toYaml(doc);
  const result = await validateConfigText(s, yaml);
  for (const issue of result.issues) {
    if (!issues.some((i) => i.path === issue.path)) issues.push(issue);
  }
  return { ok: issues.length === 0, name, yaml, issues, warnings: [...notes, ...result.warnings] };
}

export async function createJob(app: App, doc: unknown, start: boolean): Promise<{ checked: Checked; job?: JobRow }> {
  const checked = await checkConfig(app, doc, null);
  if (!checked.ok) return { checked };
  let job = app.store.insert(checked.name, checked.yaml);
  if (start) job = app.runner.enqueue(job.id) ?? job;
  return { checked, job };
}

export async function updateJob(app: App, id: number, doc: unknown): Promise<{ checked: Checked; job?: JobRow }> {
  const row = requireJob(app, id);
  if (ACTIVE_STATES.includes(row.state)) throw new JobError(`job is ${row.state}: stop it before editing`, 409);
  const checked = await checkConfig(app, doc, id);
  if (!checked.ok) return { checked };
  return { checked, job: app.store.update(id, { name: checked.name, config_yaml: checked.yaml }) };
}

export function requireJob(app: App, id: number): JobRow {
  const row = Number.isSafeInteger(id) ? app.store.get(id) : undefined;
  if (!row) throw new JobError(`no job #${id}`, 404);
  return row;
}

/** `base`, or `base2`, `base3`, ...: the first name no job and no output folder has. */
export function freeName(app: App, base: string): string {
  const free = (n: string) => !app.store.byName(n) && !fs.existsSync(jobFolder(app.settings, n));
  let name = base;
  for (let i = 2; !free(name); i++) name = `${base}${i}`;
  return name;
}

/**
 * The draft of a copy of a job: its config under a free name (`<name>_copy`,
 * `<name>_copy2`, ...). Nothing is stored: the copy becomes a job when the form saves it.
 */
export function duplicateDraft(app: App, id: number): ConfigDoc {
  const row = requireJob(app, id);
  const parsed = fromYaml(row.config_yaml);
  if (!parsed.ok) throw new JobError(`job #${id} has an unreadable config: ${parsed.error}`, 500);
  return setAt(parsed.doc, ["config", "name"], freeName(app, `${row.name}_copy`));
}

/** Delete a job (not while it runs); with `files`, its output folder too. */
export function deleteJob(app: App, id: number, files: boolean): void {
  const row = requireJob(app, id);
  if (row.state === "running" || row.state === "stopping") {
    throw new JobError("the job is running: stop it first", 409);
  }
  if (files) {
    const folder = jobFolder(app.settings, row.name);
    // The name is sanitised, but check anyway: never delete outside the output root.
    if (!isInside(app.settings.outputRoot, folder) || folder === app.settings.outputRoot) {
      throw new JobError(`refusing to delete ${folder}: not inside the output root`, 400);
    }
    fs.rmSync(folder, { recursive: true, force: true });
  }
  app.store.delete(id);
}
