/**
 * "Check dataset" on the Datasets page: `python run.py <config> --check`, the trainer's
 * own check (every file probed and its audio decoded as a run would), on a small config
 * holding only this dataset with the frames, fps and audio setting chosen on the page.
 *
 * The check prints each problem as `    <file path>: <what to do>` under
 * `  problems (N):`; those lines are matched to the folder's files so that the page can
 * show each problem beside its file. The check's notes (e.g. a clip without speech: its
 * audio trains, but it is no voice) are listed the same way under `  notes (N):`, and the `  voice:`
 * line, what the data holds and what a run does with it, is shown on its own. Exit 0: no
 * problem (notes aside); 2: bad input, either
 * problems listed by file or a wrong folder or settings (the message is shown as it is);
 * anything else is the check itself failing.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { JobError } from "@/lib/server/errors";
import { datasetFolder } from "@/lib/server/datasets";
import { runCaptured } from "@/lib/server/python";
import { Settings } from "@/lib/server/settings";

export interface CheckOptions { num_frames: number; fps: number; do_audio: boolean; resolution: number }

export interface CheckResult {
  ok: boolean;
  exitCode: number | null;
  summary: string; // the last line: "dataset check: ok: ..." or the error
  report: string[]; // the check's lines for this dataset (counts, durations, ...)
  problems: Record<string, string[]>; // file name -> problems
  otherProblems: string[]; // problem lines that name no file of the top level
  notes: Record<string, string[]>; // file name -> notes (a clip without speech, an inverted channel, ...)
  voice: string | null; // "no speech in these clips: ..." or "N of M windows have speech ..."
}

function options(input: unknown): CheckOptions {
  const o = (input ?? {}) as Record<string, unknown>;
  const int = (key: string, def: number, lo: number, hi: number) => {
    const v = o[key] === undefined ? def : Number(o[key]);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new JobError(`${key} must be a whole number from ${lo} to ${hi}`, 400);
    return v;
  };
  const fps = o.fps === undefined ? 24 : Number(o.fps);
  if (!Number.isFinite(fps) || fps <= 0 || fps > 240) throw new JobError("fps must be a number from 1 to 240", 400);
  return {
    num_frames: int("num_frames", 81, 1, 100000), fps, do_audio: o.do_audio === undefined ? true : o.do_audio === true,
    resolution: int("resolution", 512, 64, 8192),
  };
}

/** Problem (and note) lines of the check's output, matched to the files of `dir`. */
export function parseProblems(stdout: string, dir: string, names: string[]): {
  problems: Record<string, string[]>; other: string[]; notes: Record<string, string[]>;
} {
  const problems: Record<string, string[]> = {};
  const notes: Record<string, string[]> = {};
  const other: string[] = [];
  let section: "problems" | "notes" | null = null;
  for (const line of stdout.split("\n")) {
    if (/^ {2}problems \(\d+\):$/.test(line)) { section = "problems"; continue; }
    if (/^ {2}notes \(\d+\):$/.test(line)) { section = "notes"; continue; }
    if (!line.startsWith("    ")) { section = null; continue; }
    if (!section) continue;
    const text = line.slice(4);
    const name = names.find((n) => text.startsWith(`${path.join(dir, n)}: `));
    const into = section === "problems" ? problems : notes;
    if (name) (into[name] ??= []).push(text.slice(path.join(dir, name).length + 2));
    else if (section === "problems") other.push(text);
  }
  return { problems, other, notes };
}

export async function checkDataset(s: Settings, segments: string[], input: unknown): Promise<CheckResult> {
  const dir = datasetFolder(s, segments);
  const opts = options(input);
  const config = {
    job: "extension",
    config: {
      name: "dataset_check",
      process: [{
        type: "sd_trainer",
        training_folder: path.join(os.tmpdir(), "ltx2-ui-check-output"),
        // Any model will do: --check only warns (on stderr) when this hub id is not in the
        // Hugging Face cache, and checks the data all the same.
        model: { name_or_path: "Lightricks/LTX-2" },
        datasets: [{ folder_path: dir, num_frames: opts.num_frames, fps: opts.fps, do_audio: opts.do_audio, resolution: [opts.resolution] }],
      }],
    },
  };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ltx2-ui-check-"));
  const file = path.join(tmp, "check.yaml");
  try {
    fs.writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
    const out = await runCaptured(s, [file, "--check"], 10 * 60_000);
    if (out.code !== 0 && out.code !== 2) {
      throw new Error(`the dataset check failed (exit ${out.code ?? out.signal}): ${out.stderr.trim().slice(-1500)}`);
    }
    const names = fs.readdirSync(dir);
    const { problems, other, notes } = parseProblems(out.stdout, dir, names);
    const voice = out.stdout.split("\n").find((l) => l.startsWith("  voice: "))?.slice("  voice: ".length) ?? null;
    // tqdm draws its bar with carriage returns on the same stream.
    const errLines = out.stderr.split(/[\r\n]+/).filter((l) => l.startsWith("error: "));
    const lastOut = out.stdout.trim().split("\n").filter((l) => l.startsWith("dataset check:")).pop();
    const report = out.stdout.split("\n")
      .filter((l) => l.startsWith("  ") && !l.startsWith("    ") && !/^ {2}(problems|notes)\b/.test(l) && !l.startsWith("  voice: "))
      .map((l) => l.trim());
    return {
      ok: out.code === 0,
      exitCode: out.code,
      summary: (errLines.pop() ?? lastOut ?? "").replace(/^error: /, "").split(file).join("the check config"),
      report,
      problems,
      otherProblems: other,
      notes,
      voice,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
