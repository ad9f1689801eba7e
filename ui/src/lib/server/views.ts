/** The JSON shapes the pages read: a job's summary and its full progress. */
import fs from "node:fs";
import path from "node:path";
import { App } from "@/lib/server/app";
import { fromYaml } from "@/lib/configModel";
import { samplePrompts } from "@/lib/samplesGrid";
import { JobRow } from "@/lib/server/db";
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
}

export function jobProgress(app: App, row: JobRow): JobProgress {
  const folder = jobFolder(app.settings, row.name);
  const { status, problem } = safeStatus(folder);
  const metrics = readMetrics(folder);
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
    prompts: (() => {
      const parsed = fromYaml(row.config_yaml);
      return samplePrompts(parsed.ok ? parsed.doc : null);
    })(),
    loras: listLoras(folder, row.name),
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
