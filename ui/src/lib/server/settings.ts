/**
 * Where things live, read once from the environment.
 *
 *   LTX2_REPO_ROOT       the trainer checkout (run.py); default: the parent of ui/
 *   LTX2_PYTHON          the interpreter; default: <repo>/.venv/bin/python
 *   LTX2_UI_DB           the SQLite jobs file; default: ui/data/jobs.db
 *   LTX2_DATASETS_ROOT   dataset folders must be inside it; default: <repo>/data
 *   LTX2_UI_OUTPUT_ROOT  every job's training_folder; default: <repo>/output
 *   AI_TOOLKIT_AUTH      the access token (same variable as upstream ai-toolkit)
 *   LTX2_UI_HOST, LTX2_UI_PORT  where the server listens (set by scripts/serve.mjs); the
 *                        Host header of every request must name it
 *   LTX2_UI_ALLOWED_HOSTS extra Host names, comma-separated (a reverse proxy's name)
 *   LTX2_UI_MAX_UPLOAD_MB the largest dataset upload; default 4096
 *
 * Relative values are resolved against the repo root (not the server's cwd), so
 * `make ui` and `cd ui && npm start` see the same folders.
 */
import path from "node:path";

export interface Settings {
  repoRoot: string;
  uiRoot: string;
  python: string;
  dbPath: string;
  datasetsRoot: string;
  outputRoot: string;
  authToken: string | null;
  bindHost: string;
  port: string | null;
  allowedHosts: string[];
  cacheDir: string;
  maxUploadBytes: number;
}

function fromEnv(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[name];
  return value && value.trim() ? value.trim() : undefined;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Settings {
  // `next start` runs in ui/, so the trainer checkout is one level up unless told otherwise.
  const repoRoot = path.resolve(cwd, fromEnv("LTX2_REPO_ROOT", env) ?? "..");
  const uiRoot = path.join(repoRoot, "ui");
  const inRepo = (value: string) => path.resolve(repoRoot, value);
  const dbPath = inRepo(fromEnv("LTX2_UI_DB", env) ?? "ui/data/jobs.db");
  const uploadMb = Number(fromEnv("LTX2_UI_MAX_UPLOAD_MB", env) ?? "4096");
  if (!Number.isFinite(uploadMb) || uploadMb <= 0) {
    throw new Error(`LTX2_UI_MAX_UPLOAD_MB must be a positive number of MiB, not ${JSON.stringify(env.LTX2_UI_MAX_UPLOAD_MB)}`);
  }
  return {
    repoRoot,
    uiRoot,
    python: inRepo(fromEnv("LTX2_PYTHON", env) ?? ".venv/bin/python"),
    dbPath,
    datasetsRoot: inRepo(fromEnv("LTX2_DATASETS_ROOT", env) ?? "data"),
    outputRoot: inRepo(fromEnv("LTX2_UI_OUTPUT_ROOT", env) ?? "output"),
    authToken: fromEnv("AI_TOOLKIT_AUTH", env) ?? null,
    bindHost: fromEnv("LTX2_UI_HOST", env) ?? "127.0.0.1",
    port: fromEnv("LTX2_UI_PORT", env) ?? null,
    allowedHosts: (fromEnv("LTX2_UI_ALLOWED_HOSTS", env) ?? "").split(",").map((h) => h.trim()).filter(Boolean),
    // Thumbnails and media facts of dataset files: beside the jobs database, never in a dataset.
    cacheDir: path.join(path.dirname(dbPath), "cache"),
    maxUploadBytes: Math.round(uploadMb * 1024 * 1024),
  };
}

let cached: Settings | null = null;

/** The settings of this server process (read once; tests call loadSettings directly). */
export function settings(): Settings {
  if (!cached) cached = loadSettings();
  return cached;
}
