/** The JSON shapes the pages read: a job's summary and its full progress. */
import fs from "node:fs";
import path from "node:path";
import { App } from "@/lib/server/app";
import { ConfigDoc, fromYaml, getAt } from "@/lib/configModel";
import { samplePrompts } from "@/lib/samplesGrid";
import { JobRow } from "@/lib/server/db";
import { isInside } from "@/lib/server/pathGuard";
import { jobFolder } from "@/lib/server/runner";
import {
  LoraFile, MetricRow, PROCESS_LOG_FILE, RunStatus, SampleFile, listLoras, listSamples, readMetrics, readStatus, tailFile,
} from "@/lib/server/runFiles";

export interface JobSummary {
  id: number;
  name: string;
  state: JobRow["state"];
  error: string | null;
  exitCode: number | null;
  pid: number | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  folder: string;
  step: number | null;
  total: number | null;
  trainerState: string | null;
}

function safeStatus(folder: string): { status: RunStatus | null; problem: string | null } {
  try {
    return { status: readStatus(folder), problem: null };
  } catch (err) {
    // A status.json the trainer did not finish writing cannot happen (atomic rename);
    // anything else is shown to the user rather than hidden.
    return { status: null, problem: `status.json unreadable: ${(err as Error).message}` };
  }
}

export function jobSummary(app: App, row: JobRow): JobSummary {
  const folder = jobFolder(app.settings, row.name);
  const { status } = safeStatus(folder);
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    error: row.error,
    exitCode: row.exit_code,
    pid: row.pid,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    folder,
    step: status?.step ?? null,
    total: status?.total ?? null,
    trainerState: status?.state ?? null,
  };
}

export interface JobProgress {
  job: JobSummary;
  status: RunStatus | null;
  statusProblem: string | null;
  metrics: MetricRow[];
  metricsTotal: number;
  metricsBadLines: number;
  log: string;
  processLog: string;
  samples: SampleFile[];
  prompts: string[];
  loras: LoraFile[];
  /** The dataset check of each dataset of the config on the Datasets page, with its settings. */
  checks: { label: string; href: string }[];
}

/**
 * Links to the Datasets page's check of each dataset folder the config trains on (those
 * inside the datasets root), with the config's frames, fps, resolution and audio setting.
 */
export function datasetCheckLinks(app: App, doc: ConfigDoc | null): { label: string; href: string }[] {
  const out: { label: string; href: string }[] = [];
  const root = fs.existsSync(app.settings.datasetsRoot) ? fs.realpathSync(app.settings.datasetsRoot) : app.settings.datasetsRoot;
  const datasets = getAt(doc ?? {}, ["config", "process", 0, "datasets"]);
  for (const ds of Array.isArray(datasets) ? datasets : []) {
    const folder = getAt(ds, ["folder_path"]);
    if (typeof folder !== "string" || !folder) continue;
    let abs = path.resolve(app.settings.repoRoot, folder);
    if (fs.existsSync(abs)) abs = fs.realpathSync(abs);
    if (!isInside(root, abs) || abs === root) continue;
    const label = path.relative(root, abs).split(path.sep).join("/");
    const query = new URLSearchParams({ check: "1" });
    const resolution = getAt(ds, ["resolution"]);
    const settingsOf: [string, unknown][] = [
      ["num_frames", getAt(ds, ["num_frames"])], ["fps", getAt(ds, ["fps"])],
      ["resolution", Array.isArray(resolution) ? resolution[0] : resolution], ["do_audio", getAt(ds, ["do_audio"])],
    ];
    for (const [key, value] of settingsOf) if (typeof value === "number" || typeof value === "boolean") query.set(key, String(value));
    out.push({ label, href: `/datasets/${label.split("/").map(encodeURIComponent).join("/")}?${query}` });
  }
  return out;
}

export function jobProgress(app: App, row: JobRow): JobProgress {
  const folder = jobFolder(app.settings, row.name);
  const { status, problem } = safeStatus(folder);
  const metrics = readMetrics(folder);
  const parsed = fromYaml(row.config_yaml);
  const doc = parsed.ok ? parsed.doc : null;
  return {
    job: jobSummary(app, row),
    status,
    statusProblem: problem,
    metrics: metrics.rows,
    metricsTotal: metrics.total,
    metricsBadLines: metrics.badLines,
    log: tailFile(path.join(folder, "log.txt"), 200),
    processLog: tailFile(path.join(folder, PROCESS_LOG_FILE), 60),
    samples: listSamples(folder),
    prompts: samplePrompts(doc),
    loras: listLoras(folder, row.name),
    checks: datasetCheckLinks(app, doc),
  };
}

const VIDEO = /\.(mp4|mov|webm|mkv|avi|m4v)$/i;
const IMAGE = /\.(png|jpe?g|webp|bmp)$/i;

/** How many clips and images a dataset folder holds (top level and sub-folders). */
export function datasetCounts(folder: string): { clips: number; images: number; files: string[] } {
  let clips = 0;
  let images = 0;
  const files: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith(".") || e.name.startsWith("_")) continue;
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), childRel);
      else if (VIDEO.test(e.name)) { clips++; files.push(childRel); }
      else if (IMAGE.test(e.name)) { images++; files.push(childRel); }
    }
  };
  walk(folder, "");
  return { clips, images, files: files.slice(0, 12) };
}
