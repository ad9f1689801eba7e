/**
 * Starting points for the job form. "Tiny demo" is the repository's demo config
 * (config/examples/ltx2_tiny_demo.yaml): the tiny randomly initialised LTX-2 built by
 * extensions_built_in/diffusion_models/ltx2/tiny_model.py and the synthetic clips of toolkit/dev/synthetic_data.py, so someone
 * without a GPU sees a run end to end (loss chart, samples with sound, LoRA files) in
 * under a minute on a CPU. What it needs and is missing is built here, the same way
 * `make assets` builds it: the tiny model under models/, the clips in the datasets root.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ConfigDoc, fromYaml, getAt, setAt } from "@/lib/configModel";
import { App } from "@/lib/server/app";
import { JobError } from "@/lib/server/errors";
import { configFolderPath, freeName } from "@/lib/server/jobService";
import { childEnv } from "@/lib/server/python";

export const TINY_DEMO_CONFIG = "config/examples/ltx2_tiny_demo.yaml";
const DEMO_DATASET = "synthetic";

function runModule(app: App, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(app.settings.python, ["-m", ...args], {
      cwd: app.settings.repoRoot, shell: false, env: childEnv(app.settings), stdio: ["ignore", "ignore", "pipe"], timeout: timeoutMs,
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => reject(new JobError(`cannot run ${app.settings.python}: ${err.message} (run \`make setup\`)`, 500)));
    child.on("close", (code, signal) => (code === 0 ? resolve() : reject(new JobError(
      `python -m ${args.join(" ")} failed (exit ${code ?? signal}): ${stderr.trim().slice(-800)}`, 500))));
  });
}

export interface Preset { config: ConfigDoc; built: string[] }

/** The demo config as a new job's draft (a free name, the dataset in the datasets root). */
export async function tinyDemoDraft(app: App): Promise<Preset> {
  const s = app.settings;
  const text = fs.readFileSync(path.join(s.repoRoot, TINY_DEMO_CONFIG), "utf8");
  const parsed = fromYaml(text);
  if (!parsed.ok) throw new JobError(`${TINY_DEMO_CONFIG} cannot be read: ${parsed.error}`, 500);
  let doc = parsed.doc;
  const built: string[] = [];
  const model = getAt(doc, ["config", "process", 0, "model", "name_or_path"]);
  if (typeof model !== "string") throw new JobError(`${TINY_DEMO_CONFIG} names no model.name_or_path`, 500);
  const modelDir = path.resolve(s.repoRoot, model);
  if (!fs.existsSync(path.join(modelDir, "tiny_ltx2.json"))) {
    await runModule(app, ["extensions_built_in.diffusion_models.ltx2.tiny_model", modelDir], 300_000);
    built.push(`the tiny model in ${model}`);
  }
  const data = path.join(s.datasetsRoot, DEMO_DATASET);
  // A folder of that name with clips in it is used as it is (it may be a copy of the set).
  const hasClips = fs.existsSync(data) && fs.readdirSync(data).some((f) => f.endsWith(".mp4"));
  if (!hasClips) {
    await runModule(app, ["toolkit.dev.synthetic_data", data, "--clips", "4", "--images", "2"], 300_000);
    built.push(`the synthetic clips in ${data}`);
  }
  doc = setAt(doc, ["config", "process", 0, "datasets", 0, "folder_path"], configFolderPath(s.repoRoot, fs.realpathSync(data)));
  doc = setAt(doc, ["config", "name"], freeName(app, String(getAt(doc, ["config", "name"]) ?? "ltx2_tiny_demo")));
  return { config: doc, built };
}
