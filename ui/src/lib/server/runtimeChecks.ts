/**
 * Checks that Validate runs on top of the trainer's schema validation, for things only
 * this machine can answer: does the model path exist, does the device exist. Without them
 * a typo in either is found minutes later, when the run starts loading.
 *
 * The model rule is the trainer's own (toolkit/model_paths.py): an existing folder must
 * hold a diffusers-format model (a `transformer/` subfolder); anything else must look
 * like a hub id (`org/name`) whose `org` is not a folder here.
 */
import fs from "node:fs";
import path from "node:path";
import { GpuInfo } from "@/lib/server/machine";

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

export function modelPathProblem(repoRoot: string, value: unknown): string | null {
  if (typeof value !== "string" || !value.trim()) return null; // the schema reports a missing value
  const expanded = value.startsWith("~") ? path.join(process.env.HOME ?? "", value.slice(1)) : value;
  const abs = path.resolve(repoRoot, expanded);
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory() || !fs.existsSync(path.join(abs, "transformer"))) {
      return `${value} has no 'transformer' subfolder: choose a diffusers-format LTX-2 folder (transformer/, vae/, audio_vae/, ...)`;
    }
    return null;
  }
  // `models/ltx2` matches the hub-id pattern too; when its first folder exists here, the
  // user meant a local path (a hub id would fail later, offline, with a vaguer message).
  const looksLocal = /^[/.~]/.test(value) || value.includes("\\") || fs.existsSync(path.dirname(abs));
  if (looksLocal || !HUB_ID.test(value)) {
    return `${value} does not exist on this machine (paths are taken from ${repoRoot}); give a local diffusers-format folder or a hub id such as Lightricks/LTX-2`;
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
