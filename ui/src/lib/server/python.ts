/**
 * Calls into the Python trainer, always as `python run.py ...` with an argument array
 * (never a shell), from the repo root, with the access token removed from the child's
 * environment (a config could otherwise print it into a log via ${AI_TOOLKIT_AUTH}).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Settings } from "@/lib/server/settings";

export interface ValidationIssue {
  path: string;
  message: string;
}

export interface ValidationResult {
  ok: boolean;
  issues: ValidationIssue[];
  warnings: string[];
}

/**
 * The environment of every Python child: the server's, minus secrets, plus quiet output, plus
 * the two limits of a config that came through the UI (the trainer reads them):
 * - LTX2_CONFIG_ENV_ALLOW: the only `${VAR}`s a config may substitute (LTX2_UI_CONFIG_ENV_ALLOW,
 *   none by default), so a posted config cannot read the server's environment back through a
 *   validation message (toolkit/configuration/env_substitution.py);
 * - LTX2_CONFINE_DATASETS: the datasets root, outside which the job reads no dataset file,
 *   links included, as the UI's own routes (toolkit/dataset/confinement.py).
 */
export function childEnv(s: Settings, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base, PYTHONUNBUFFERED: "1", TQDM_DISABLE: "1",
    LTX2_CONFIG_ENV_ALLOW: base.LTX2_UI_CONFIG_ENV_ALLOW ?? "",
    LTX2_CONFINE_DATASETS: realOrSelf(s.datasetsRoot),
  };
  delete env.AI_TOOLKIT_AUTH;
  return env;
}

function realOrSelf(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir; // not created yet: nothing can be inside it
  }
}

interface Captured {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCaptured(s: Settings, args: string[], timeoutMs: number): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(s.python, ["run.py", ...args], {
      cwd: s.repoRoot,
      shell: false,
      env: childEnv(s),
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => reject(new Error(`cannot run ${s.python}: ${err.message} (run \`make setup\`)`)));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Validate a config text with `run.py --validate --json` (exactly what the trainer will
 * read: the text is written to a private temp file first). Exit 0/2 are answers; any
 * other outcome is an error of the validator itself and is thrown, not hidden.
 */
export async function validateConfigText(s: Settings, yamlText: string, timeoutMs = 60_000): Promise<ValidationResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-ui-validate-"));
  const file = path.join(dir, "config.yaml");
  try {
    fs.writeFileSync(file, yamlText, { mode: 0o600 });
    const out = await runCaptured(s, ["--validate", "--json", file], timeoutMs);
    if (out.code !== 0 && out.code !== 2) {
      throw new Error(`the Python validator failed (exit ${out.code ?? out.signal}): ${out.stderr.trim().slice(-2000)}`);
    }
    const line = out.stdout.trim().split("\n").pop() ?? "";
    let parsed: { ok?: boolean; issues?: ValidationIssue[]; warnings?: string[] };
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`the Python validator printed no JSON: ${out.stdout.slice(-500)} ${out.stderr.slice(-500)}`);
    }
    // The temp file name means nothing to the user: strip it from messages.
    const clean = (text: string) => text.split(file).join("config");
    return {
      ok: Boolean(parsed.ok),
      issues: (parsed.issues ?? []).map((i) => ({ path: i.path, message: clean(i.message) })),
      warnings: (parsed.warnings ?? []).map(clean),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Start a training run: `python run.py <config>` in its own process group (detached) so
 * that stop can signal the whole group and a server restart does not kill the run.
 * stdout/stderr go to `logPath` (the trainer's own log.txt misses early errors).
 */
export function spawnTraining(s: Settings, configPath: string, logPath: string) {
  const fd = fs.openSync(logPath, "a");
  try {
    return spawn(s.python, ["run.py", configPath], {
      cwd: s.repoRoot,
      shell: false,
      detached: true,
      env: childEnv(s),
      stdio: ["ignore", fd, fd],
    });
  } finally {
    fs.closeSync(fd); // the child has its own copy of the descriptor
  }
}
