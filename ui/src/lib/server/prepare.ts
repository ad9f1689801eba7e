/**
 * "Prepare from footage" on a dataset's page: `python -m toolkit.prepare SOURCE <this folder>
 * --trigger NAME --left-out-clips` (SOURCE and the optional reference are paths inside the
 * datasets root), then the table of windows read from the folder's `prepare.jsonl`, and the
 * user's keep / drop and transcript edits through `python -m toolkit.prepare.decide`.
 *
 * Clips of windows left out live in the hidden `.prepare/left_out/` folder (a training run
 * never reads hidden folders); they are served by window id from the manifest, never by a
 * path the browser sends.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { JobError } from "@/lib/server/errors";
import { datasetFolder } from "@/lib/server/datasets";
import { mediaFacts } from "@/lib/server/mediaFacts";
import { isInside, PathError, resolveInside } from "@/lib/server/pathGuard";
import { childEnv } from "@/lib/server/python";
import { Settings } from "@/lib/server/settings";

export interface PrepareOptions {
  source: string; // relative to the datasets root
  reference: string | null;
  trigger: string;
  num_frames: number;
  fps: number;
  silent_share: number;
  seen: string;
}

export interface WindowRow {
  id: string;
  status: "kept" | "left_out" | "failed";
  start_s: number;
  end_s: number;
  source: string;
  speech_share: number;
  speaker_score: number | null;
  reasons: string[];
  decision: string | null;
  transcript: string | null;
  asr_engine: string | null;
  caption: string | null;
  caption_by: string | null;
  clip: string | null;
  thumb: string | null;
}

const ID = /^[A-Za-z0-9_-]{1,200}$/;

/** A path typed on the page ("footage/ep1.mp4"), resolved inside the datasets root. */
export function insideRoot(s: Settings, typed: string, what: string): string {
  const parts = typed.split("/").filter((p) => p !== "");
  if (!parts.length) throw new JobError(`${what}: give a file or folder inside the datasets root`, 400);
  try {
    return resolveInside(s.datasetsRoot, parts);
  } catch (err) {
    if (err instanceof PathError) throw new JobError(`${what} ${JSON.stringify(typed)}: ${err.message} (a file or folder inside the datasets root)`, 400);
    throw err;
  }
}

export function prepareOptions(input: unknown): PrepareOptions {
  const o = (input ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof o[key] === "string" ? (o[key] as string).trim() : "");
  const trigger = text("trigger");
  if (!/^[\p{L}\p{N}_-][\p{L}\p{N}_ -]{0,60}$/u.test(trigger)) throw new JobError("trigger: a word of letters or digits", 400);
  const num = (key: string, def: number) => (o[key] === undefined || o[key] === "" ? def : Number(o[key]));
  const frames = num("num_frames", 121);
  if (!Number.isInteger(frames) || frames < 9 || (frames - 1) % 8) throw new JobError("frames: 8n+1 (9, 17, ..., 121)", 400);
  const fps = num("fps", 24);
  if (!Number.isFinite(fps) || fps <= 0 || fps > 240) throw new JobError("fps must be a number from 1 to 240", 400);
  const share = num("silent_share", 0.1);
  if (!Number.isFinite(share) || share < 0 || share > 1) throw new JobError("silent share must be from 0 to 1", 400);
  if (!text("source")) throw new JobError("source: the footage (a file or folder inside the datasets root)", 400);
  return { source: text("source"), reference: text("reference") || null, trigger, num_frames: frames, fps,
           silent_share: share, seen: text("seen").slice(0, 300) };
}

interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function runModule(s: Settings, args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(s.python, args, { cwd: s.repoRoot, shell: false, env: childEnv(s), stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => reject(new Error(`cannot run ${s.python}: ${err.message} (run \`make setup\`)`)));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Run the preparation into this dataset folder; the command's report lines come back. */
export async function runPrepare(s: Settings, segments: string[], input: unknown): Promise<{ ok: boolean; exitCode: number | null; lines: string[]; error: string | null }> {
  const out = datasetFolder(s, segments);
  const o = prepareOptions(input);
  const source = insideRoot(s, o.source, "source");
  if (isInside(source, out)) throw new JobError("source: the footage cannot hold this dataset folder", 400);
  const args = ["-m", "toolkit.prepare", source, out, "--trigger", o.trigger, "--num-frames", String(o.num_frames),
                "--fps", String(o.fps), "--silent-share", String(o.silent_share), "--left-out-clips", "--no-progress"];
  if (o.reference) args.push("--reference", insideRoot(s, o.reference, "reference"));
  if (o.seen) args.push("--seen", o.seen);
  const ran = await runModule(s, args, 60 * 60_000);
  if (ran.code !== 0 && ran.code !== 2 && ran.code !== 1) {
    throw new Error(`the preparation failed (exit ${ran.code ?? ran.signal}): ${ran.stderr.trim().slice(-1500)}`);
  }
  const error = ran.stderr.split(/[\r\n]+/).filter((l) => l.startsWith("error: ")).pop()?.slice(7) ?? null;
  return { ok: ran.code === 0, exitCode: ran.code, lines: ran.stdout.trim().split("\n").filter(Boolean), error };
}

function readRows(out: string): Record<string, unknown>[] {
  const file = path.join(out, "prepare.jsonl");
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The real path of a window's clip, from the manifest, inside the dataset folder. */
export function clipPath(out: string, row: Record<string, unknown>): string | null {
  if (typeof row.clip !== "string" || !row.clip) return null;
  const file = path.join(out, row.clip);
  if (!fs.existsSync(file)) return null;
  const real = fs.realpathSync(file);
  return isInside(fs.realpathSync(out), real) ? real : null;
}

export async function prepareWindows(s: Settings, segments: string[]): Promise<WindowRow[]> {
  const out = datasetFolder(s, segments);
  const rows = readRows(out);
  const clips = rows.map((r) => clipPath(out, r));
  const facts = await mediaFacts(s, clips.filter((c): c is string => c !== null));
  return rows.map((r, i) => ({
    id: String(r.id), status: r.status as WindowRow["status"], start_s: Number(r.start_s), end_s: Number(r.end_s),
    source: path.basename(String(r.source)), speech_share: Number(r.speech_share ?? 0),
    speaker_score: typeof r.speaker_score === "number" ? r.speaker_score : null,
    reasons: Array.isArray(r.reasons) ? (r.reasons as string[]) : [], decision: (r.decision as string | null) ?? null,
    transcript: (r.transcript as string | null) ?? null, asr_engine: (r.asr_engine as string | null) ?? null,
    caption: (r.caption as string | null) ?? null, caption_by: (r.caption_by as string | null) ?? null,
    clip: clips[i] ? String(r.clip) : null, thumb: clips[i] ? facts.get(clips[i] as string)?.thumb ?? null : null,
  }));
}

/** The file of window `id` (for the player). */
export function windowClip(s: Settings, segments: string[], id: string): string {
  if (!ID.test(id)) throw new PathError("bad window id", 400);
  const out = datasetFolder(s, segments);
  const row = readRows(out).find((r) => r.id === id);
  const file = row ? clipPath(out, row) : null;
  if (!file) throw new PathError("no clip for this window", 404);
  return file;
}

/** Keep, drop, or correct the transcript of window `id`. */
export async function decideWindow(s: Settings, segments: string[], input: unknown): Promise<string> {
  const out = datasetFolder(s, segments);
  const o = (input ?? {}) as Record<string, unknown>;
  const id = String(o.id ?? "");
  if (!ID.test(id)) throw new JobError("bad window id", 400);
  const args = ["-m", "toolkit.prepare.decide", out, id];
  if (o.action === "keep" || o.action === "drop") args.push(`--${o.action}`);
  else if (o.action === "transcript" && typeof o.transcript === "string" && o.transcript.length <= 2000) args.push("--transcript", o.transcript);
  else throw new JobError("action: keep, drop or transcript (with the text)", 400);
  const ran = await runModule(s, args, 120_000);
  if (ran.code === 2) throw new JobError(ran.stderr.replace(/^error: /, "").trim(), 400);
  if (ran.code !== 0) throw new Error(`deciding failed (exit ${ran.code ?? ran.signal}): ${ran.stderr.trim().slice(-1000)}`);
  return ran.stdout.trim();
}
