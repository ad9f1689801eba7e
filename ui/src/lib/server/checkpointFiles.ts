/**
 * A run's step checkpoints as the job page lists them, and their deletion.
 *
 * The trainer writes, per saved step, `<name>_<step:09d>.safetensors` (the LoRA),
 * `<name>_<step:09d>.state.pt` (network, optimizer state, RNG: what a resume needs; by far
 * the largest file) and `<name>_<step:09d>.sha256.json` (their checksums), see
 * toolkit/run/checkpoint.py. The final `<name>.safetensors` is the product and is never offered
 * for deletion here.
 *
 * The newest checkpoint is always kept (a resume starts from it), and nothing is deleted
 * while the job is queued or running: the trainer writes and prunes these files itself then.
 */
import fs from "node:fs";
import path from "node:path";
import { JobError } from "@/lib/server/errors";
import { ACTIVE_STATES, JobRow } from "@/lib/server/db";

export interface CheckpointFile { file: string; size: number; kind: "lora" | "state" | "checksums" }

export interface Checkpoint {
  step: number;
  files: CheckpointFile[];
  /** The newest step: kept, whatever is asked. */
  newest: boolean;
}

const KIND_OF: [string, CheckpointFile["kind"]][] = [[".safetensors", "lora"], [".state.pt", "state"], [".sha256.json", "checksums"]];

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Every step checkpoint of run `name` in `folder`, oldest first. */
export function listCheckpoints(folder: string, name: string): Checkpoint[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const pattern = new RegExp(`^${escape(name)}_(\\d{9})(\\.safetensors|\\.state\\.pt|\\.sha256\\.json)$`);
  const bySteps = new Map<number, CheckpointFile[]>();
  for (const e of entries) {
    const m = e.isFile() ? pattern.exec(e.name) : null;
    if (!m) continue;
    const kind = KIND_OF.find(([suffix]) => suffix === m[2])![1];
    const list = bySteps.get(Number(m[1])) ?? [];
    list.push({ file: e.name, size: fs.statSync(path.join(folder, e.name)).size, kind });
    bySteps.set(Number(m[1]), list);
  }
  const steps = [...bySteps.keys()].sort((a, b) => a - b);
  const order = { lora: 0, state: 1, checksums: 2 };
  return steps.map((step, i) => ({
    step,
    files: bySteps.get(step)!.sort((a, b) => order[a.kind] - order[b.kind]),
    newest: i === steps.length - 1,
  }));
}

export type DeleteWhat = "checkpoint" | "state";

/**
 * Delete the checkpoints of `steps` (`what`: "checkpoint" = LoRA, state and checksums;
 * "state" = the optimizer state only, the LoRA stays downloadable). Returns the deleted
 * file names and the bytes freed. Refuses (JobError) the newest step, an unknown step, and
 * any deletion while the job is queued, running or stopping.
 */
export function deleteCheckpoints(folder: string, row: JobRow, steps: number[], what: DeleteWhat): { deleted: string[]; freed: number } {
  if (ACTIVE_STATES.includes(row.state)) {
    throw new JobError(`the job is ${row.state}: stop it first (the trainer writes and prunes its checkpoints while it runs)`, 409);
  }
  if (!steps.length) throw new JobError("name the steps to delete", 400);
  const all = listCheckpoints(folder, row.name);
  const chosen: Checkpoint[] = [];
  for (const step of steps) {
    const found = all.find((c) => c.step === step);
    if (!found) throw new JobError(`job ${row.name} has no checkpoint at step ${step}`, 404);
    if (found.newest) throw new JobError(`step ${step} is the newest checkpoint: it is kept (a resume starts from it)`, 409);
    chosen.push(found);
  }
  const deleted: string[] = [];
  let freed = 0;
  for (const checkpoint of chosen) {
    // The checksums name the state: without the state they would only confuse a resume.
    const files = what === "state" ? checkpoint.files.filter((f) => f.kind !== "lora") : checkpoint.files;
    for (const f of files) {
      fs.rmSync(path.join(folder, f.file), { force: true });
      deleted.push(f.file);
      freed += f.size;
    }
  }
  return { deleted, freed };
}
