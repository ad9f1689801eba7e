/**
 * The LoRA files view of a job: the .safetensors files of its output folder, their facts
 * from `python -m toolkit.lora_tools inspect FILE --json` (cached by path, size and
 * modification time), and the two tools the page offers, strip-audio and split, which write
 * next to the original (never over it, nor over an existing file: the tool refuses, and the
 * refusal is shown). docs/lora_tools.md says what each tool does.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { JobError } from "@/lib/server/errors";
import { isSafeSegment, resolveInside } from "@/lib/server/pathGuard";
import { childEnv } from "@/lib/server/python";
import { Settings } from "@/lib/server/settings";

export type LoraKind = "final" | "checkpoint" | "derived";

export interface LoraEntry {
  file: string;
  size: number;
  modified: number;
  kind: LoraKind; // the trainer's final file, one of its step checkpoints, or a file made from one
  step: number | null;
}

export const LORA_TOOLS = ["strip-audio", "split"] as const;
export type LoraTool = (typeof LORA_TOOLS)[number];

/** Every .safetensors file directly in the job folder, the trainer's own first. */
export function listJobLoraFiles(folder: string, name: string): LoraEntry[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: LoraEntry[] = [];
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith(".safetensors") || e.name.startsWith(".")) continue;
    const stem = e.name.slice(0, -".safetensors".length);
    const tail = stem.startsWith(`${name}_`) ? stem.slice(name.length + 1) : null;
    const st = fs.statSync(path.join(folder, e.name));
    const kind: LoraKind = stem === name ? "final" : tail !== null && /^\d{9}$/.test(tail) ? "checkpoint" : "derived";
    out.push({ file: e.name, size: st.size, modified: st.mtimeMs, kind, step: kind === "checkpoint" ? Number(tail) : null });
  }
  const order: Record<LoraKind, number> = { final: 0, checkpoint: 1, derived: 2 };
  return out.sort((a, b) => order[a.kind] - order[b.kind] || (b.step ?? 0) - (a.step ?? 0) || a.file.localeCompare(b.file));
}

/** The real path of a LoRA file named by the client: one plain name inside the job folder. */
export function jobLoraPath(folder: string, file: unknown): string {
  if (typeof file !== "string" || !isSafeSegment(file) || !file.endsWith(".safetensors")) {
    throw new JobError(`bad LoRA file name ${JSON.stringify(file)}: give a .safetensors file of this job's folder`, 400);
  }
  return resolveInside(folder, [file]);
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runLoraTools(s: Settings, args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(s.python, ["-m", "toolkit.lora_tools", ...args], {
      cwd: s.repoRoot, shell: false, env: childEnv(s), stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => reject(new Error(`cannot run ${s.python}: ${err.message} (run \`make setup\`)`)));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The tool's answer as JSON; its refusal (exit 2, one line) as a 422 the page shows. */
async function answer(s: Settings, args: string[], file: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const ran = await runLoraTools(s, [...args, "--json"], timeoutMs);
  if (ran.code === 2) {
    const line = ran.stderr.trim().split("\n").pop() ?? "refused";
    // The job folder means nothing on the page: its files are named by their own names.
    // The page has no --overwrite: an existing output is removed (or renamed) by the user.
    const text = line.replace(/^lora_tools [a-z-]+: /, "").split(path.dirname(file) + path.sep).join("")
      .replace("choose another name, or pass --overwrite to replace it", "remove or rename it to make it again");
    throw new JobError(text, 422);
  }
  if (ran.code !== 0) {
    throw new Error(`lora_tools ${args[0]} failed (exit ${ran.code ?? ran.signal}): ${ran.stderr.trim().slice(-1500)}`);
  }
  try {
    return JSON.parse(ran.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`lora_tools ${args[0]} printed no JSON: ${ran.stdout.slice(-500)}`);
  }
}

interface CachedFacts { key: string; facts: Record<string, unknown> }
const CACHE = Symbol.for("ltx2-trainer-ui.loraFacts");
type Holder = { [CACHE]?: Map<string, CachedFacts> };
const MAX_CACHED = 200;

function factsCache(): Map<string, CachedFacts> {
  const holder = globalThis as Holder;
  return (holder[CACHE] ??= new Map());
}

/** inspect's facts of one file; a file that is not an LTX-2 LoRA gives a 422 with the tool's line. */
export async function inspectLora(s: Settings, file: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const st = fs.statSync(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const cache = factsCache();
  const hit = cache.get(file);
  if (hit && hit.key === key) return hit.facts;
  const facts = await answer(s, ["inspect", file], file, timeoutMs);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
  cache.set(file, { key, facts });
  return facts;
}

/** Run strip-audio or split on one file; the outputs land next to it. */
export async function runLoraTool(s: Settings, file: string, tool: unknown, sharedTo: unknown,
  timeoutMs = 300_000): Promise<Record<string, unknown>> {
  if (!LORA_TOOLS.includes(tool as LoraTool)) {
    throw new JobError(`unknown LoRA tool ${JSON.stringify(tool)}: the page offers ${LORA_TOOLS.join(", ")}`, 400);
  }
  const args: string[] = [tool as LoraTool, file];
  if (tool === "split" && sharedTo !== undefined && sharedTo !== null && sharedTo !== "") {
    if (sharedTo !== "video" && sharedTo !== "audio") throw new JobError(`sharedTo must be video or audio`, 400);
    args.push("--shared-to", sharedTo);
  }
  return answer(s, args, file, timeoutMs);
}
