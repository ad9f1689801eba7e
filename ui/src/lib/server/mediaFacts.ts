/**
 * Duration, size, audio and a first-frame thumbnail of each dataset file, computed by
 * `python -m toolkit.media.thumbs` (PyAV, as the trainer reads media) and cached under
 * the UI's cache folder, keyed by the file's real path, size and modification time, so a
 * listing runs Python only for new or changed files.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { childEnv } from "@/lib/server/python";
import { Settings } from "@/lib/server/settings";

export interface MediaFacts {
  ok: boolean;
  kind: "video" | "image" | "audio";
  duration_s?: number | null;
  fps?: number | null;
  width?: number;
  height?: number;
  has_audio?: boolean;
  thumb?: string; // a file name in thumbsDir()
  error?: string;
}

interface CacheEntry { size: number; mtimeMs: number; facts: MediaFacts }

export const thumbsDir = (s: Settings) => path.join(s.cacheDir, "thumbs");
const factsDir = (s: Settings) => path.join(s.cacheDir, "facts");
const keyOf = (file: string) => createHash("sha1").update(file).digest("hex");

function readCached(s: Settings, file: string, st: fs.Stats): MediaFacts | null {
  let entry: CacheEntry;
  try {
    entry = JSON.parse(fs.readFileSync(path.join(factsDir(s), `${keyOf(file)}.json`), "utf8")) as CacheEntry;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    if (err instanceof SyntaxError) return null; // a damaged entry is simply recomputed
    throw err;
  }
  if (entry.size !== st.size || entry.mtimeMs !== st.mtimeMs) return null;
  if (entry.facts.thumb && !fs.existsSync(path.join(thumbsDir(s), entry.facts.thumb))) return null;
  return entry.facts;
}

function writeCached(s: Settings, file: string, st: fs.Stats, facts: MediaFacts) {
  fs.mkdirSync(factsDir(s), { recursive: true });
  const target = path.join(factsDir(s), `${keyOf(file)}.json`);
  const tmp = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ size: st.size, mtimeMs: st.mtimeMs, facts } satisfies CacheEntry));
  fs.renameSync(tmp, target);
}

function runThumbs(s: Settings, files: string[], timeoutMs: number): Promise<Map<string, MediaFacts>> {
  return new Promise((resolve, reject) => {
    const child = spawn(s.python, ["-m", "toolkit.media.thumbs", thumbsDir(s), ...files], {
      cwd: s.repoRoot, shell: false, env: childEnv(s), stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs,
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", (e) => reject(new Error(`cannot run ${s.python}: ${e.message} (run \`make setup\`)`)));
    child.on("close", (code, signal) => {
      if (code !== 0) {
        reject(new Error(`reading media facts failed (exit ${code ?? signal}): ${err.trim().slice(-1000)}`));
        return;
      }
      const found = new Map<string, MediaFacts>();
      for (const line of out.split("\n")) {
        if (!line.trim()) continue;
        const { file, ...facts } = JSON.parse(line) as MediaFacts & { file: string };
        found.set(file, facts);
      }
      resolve(found);
    });
  });
}

/** Facts of every file (absolute real paths), from the cache or computed now. */
export async function mediaFacts(s: Settings, files: string[], timeoutMs = 120_000): Promise<Map<string, MediaFacts>> {
  const result = new Map<string, MediaFacts>();
  const todo: { file: string; st: fs.Stats }[] = [];
  for (const file of files) {
    const st = fs.statSync(file);
    const cached = readCached(s, file, st);
    if (cached) result.set(file, cached);
    else todo.push({ file, st });
  }
  // Bounded batches: a long argument list, and a first listing of a big folder, stay sane.
  for (let i = 0; i < todo.length; i += 200) {
    const batch = todo.slice(i, i + 200);
    const found = await runThumbs(s, batch.map((t) => t.file), timeoutMs);
    for (const { file, st } of batch) {
      const facts = found.get(file);
      if (!facts) throw new Error(`no media facts came back for ${file}`);
      writeCached(s, file, st, facts);
      result.set(file, facts);
    }
  }
  return result;
}
