/**
 * Checks that Validate runs on top of the trainer's schema validation, for things only
 * this machine can answer: does the model path exist, does the device exist. Without them
 * a typo in either is found minutes later, when the run starts loading.
 *
 * The model rule is a quick subset of the trainer's own (extensions_built_in/diffusion_models/ltx2/weights/source_checks.py, which
 * Validate runs next and which looks inside weight files): an existing folder must hold a
 * diffusers-format model (a `transformer/` subfolder), original weight files or a ComfyUI
 * `diffusion_models/` folder; an existing file must be a `.safetensors` file; anything else
 * must look like a hub id (`org/name`) or ai-toolkit's `org/name/file.safetensors`, whose
 * `org` is not a folder here.
 */
import fs from "node:fs";
import path from "node:path";
import { GpuInfo } from "@/lib/server/machine";

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const HUB_FILE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+\/.+\.safetensors$/i;
const WEIGHT_FILE = /\.safetensors$/i;

function holdsWeightFiles(folder: string): boolean {
  if (fs.existsSync(path.join(folder, "diffusion_models"))) return true; // a ComfyUI models folder
  return fs.readdirSync(folder).some((name) => WEIGHT_FILE.test(name)); // a folder with the original file
}

export function modelPathProblem(repoRoot: string, value: unknown): string | null {
  if (typeof value !== "string" || !value.trim()) return null; // the schema reports a missing value
  const expanded = value.startsWith("~") ? path.join(process.env.HOME ?? "", value.slice(1)) : value;
  const abs = path.resolve(repoRoot, expanded);
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory()) {
      return WEIGHT_FILE.test(abs) ? null : `${value} is a file but not a .safetensors weight file: choose an original LTX-2 .safetensors file or a model folder`;
    }
    if (!fs.existsSync(path.join(abs, "transformer")) && !holdsWeightFiles(abs)) {
      return `${value} has no 'transformer' subfolder and no weight files: choose a diffusers-format LTX-2 folder (transformer/, vae/, audio_vae/, ...), an original .safetensors file or a ComfyUI models folder`;
    }
    return null;
  }
  // `models/ltx2` matches the hub-id pattern too; when its first folder exists here, the
  // user meant a local path (a hub id would fail later, offline, with a vaguer message).
  const looksLocal = /^[/.~]/.test(value) || value.includes("\\") || fs.existsSync(path.dirname(abs));
  if (looksLocal || !(HUB_ID.test(value) || HUB_FILE.test(value))) {
    return `${value} does not exist on this machine (paths are taken from ${repoRoot}); give a local model folder or .safetensors file, a hub id such as Lightricks/LTX-2, or org/repo/file.safetensors`;
  }
  return null;
}

export function deviceProblem(value: unknown, gpus: GpuInfo[]): string | null {
  if (value === undefined || value === null || value === "auto") return null;
  const text = String(value).trim().toLowerCase();
  if (text === "cpu" || text === "mps") return null;
  const m = /^cuda(?::(\d+))?$/.exec(text);
  if (!m) return `device '${value}' is not a device name: use auto, cpu, cuda or cuda:N`;
  if (gpus.length === 0) return `device '${value}' asked for, but this machine has no NVIDIA GPU (use device: auto or cpu)`;
  if (m[1] !== undefined && Number(m[1]) >= gpus.length) {
    return `device '${value}': this machine has ${gpus.length} GPU${gpus.length > 1 ? "s" : ""} (cuda:0${gpus.length > 1 ? `…cuda:${gpus.length - 1}` : ""})`;
  }
  return null;
}
