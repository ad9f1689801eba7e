/**
 * Reading a run's output folder `<training_folder>/<name>/`, whose files are the trainer's
 * contract with the UI: status.json (replaced atomically every step), metrics.jsonl (one
 * JSON object per logged step, appended), log.txt, samples/<step:09d>_<i:02d>.mp4 (and .wav
 * for an audio-only run) and the LoRA files <name>_<step:09d>.safetensors / <name>.safetensors
 * / <name>_best_val.safetensors / <name>_best_voice.safetensors.
 */
import fs from "node:fs";
import path from "node:path";

/** Files the UI itself writes into a job's folder. */
export const JOB_CONFIG_FILE = "ui_job_config.yaml";
export const PROCESS_LOG_FILE = "ui_process.log";

export interface RunStatus {
  state?: string;
  step?: number;
  total?: number;
  s_per_it?: number | null;
  eta_s?: number | null;
  last_checkpoint?: string | null;
  last_sample?: string | null;
  error?: string | null;
  updated_at?: number;
}

export type MetricRow = Record<string, number | null>;

function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

export function readStatus(folder: string): RunStatus | null {
  const text = readIfExists(path.join(folder, "status.json"));
  if (text === null) return null;
  return JSON.parse(text) as RunStatus;
}

/**
 * Rows of metrics.jsonl, thinned to at most `maxPoints` (every k-th row plus the last),
 * so a long run stays cheap to poll. An incomplete last line (the trainer is mid-write)
 * is left for the next poll; any other bad line is counted, not hidden.
 */
export function readMetrics(folder: string, maxPoints = 1500): { rows: MetricRow[]; total: number; badLines: number } {
  const text = readIfExists(path.join(folder, "metrics.jsonl"));
  if (!text) return { rows: [], total: 0, badLines: 0 };
  // The last element is "" after a final newline, or a line still being written: skip it.
  const complete = text.split("\n").slice(0, -1);
  const rows: MetricRow[] = [];
  let badLines = 0;
  for (const line of complete) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as MetricRow);
    } catch {
      badLines++;
    }
  }
  if (rows.length <= maxPoints) return { rows, total: rows.length, badLines };
  const k = Math.ceil(rows.length / maxPoints);
  const thinned = rows.filter((_, i) => i % k === 0);
  if (thinned[thinned.length - 1] !== rows[rows.length - 1]) thinned.push(rows[rows.length - 1]);
  return { rows: thinned, total: rows.length, badLines };
}

/** The last `maxLines` lines of a text file, reading at most `maxBytes` from its end. */
export function tailFile(file: string, maxLines = 200, maxBytes = 64 * 1024): string {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    let lines = buf.toString("utf8").replace(/\r(?!\n)/g, "\n").split("\n");
    if (start > 0) lines = lines.slice(1); // the first line is cut
    return lines.slice(-maxLines).join("\n");
  } finally {
    fs.closeSync(fd);
  }
}

export interface SampleFile {
  step: number;
  index: number;
  file: string; // relative to the run folder: samples/000000010_00.mp4
  kind: "video" | "audio" | "image";
}

const SAMPLE_NAME = /^(\d+)_(\d+)\.(mp4|webm|m4a|wav|mp3|png|jpg|jpeg|webp)$/i;

export function listSamples(folder: string): SampleFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(folder, "samples"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: SampleFile[] = [];
  for (const name of names) {
    const m = SAMPLE_NAME.exec(name);
    if (!m) continue;
    const ext = m[3].toLowerCase();
    const kind = ["mp4", "webm"].includes(ext) ? "video" : ["m4a", "wav", "mp3"].includes(ext) ? "audio" : "image";
    out.push({ step: Number(m[1]), index: Number(m[2]), file: `samples/${name}`, kind });
  }
  return out.sort((a, b) => b.step - a.step || a.index - b.index);
}

export interface LoraFile {
  file: string;
  size: number;
  step: number | null; // null: the final LoRA (or a best-step file)
  modified: number;
  best?: "val" | "voice"; // <name>_best_val / <name>_best_voice: the weights of the best step by that criterion
}

export function listLoras(folder: string, name: string): LoraFile[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: LoraFile[] = [];
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith(".safetensors")) continue;
    const stem = e.name.slice(0, -".safetensors".length);
    let step: number | null;
    let best: LoraFile["best"];
    if (stem === name) step = null;
    else if (stem.startsWith(`${name}_`) && /^\d+$/.test(stem.slice(name.length + 1))) step = Number(stem.slice(name.length + 1));
    else if (stem === `${name}_best_val` || stem === `${name}_best_voice`) {
      step = null;
      best = stem.endsWith("_val") ? "val" : "voice";
    } else continue;
    const st = fs.statSync(path.join(folder, e.name));
    out.push({ file: e.name, size: st.size, step, modified: st.mtimeMs, ...(best ? { best } : {}) });
  }
  // step files, then the final LoRA, then the best-step files
  const rank = (l: LoraFile) => (l.best ? 1 : 0);
  return out.sort((a, b) => rank(a) - rank(b) || (a.step ?? Infinity) - (b.step ?? Infinity) || a.file.localeCompare(b.file));
}
