/**
 * The only way a request path reaches the file system.
 *
 * File routes take a list of URL segments and a root folder (a job's output folder, or
 * the datasets root). A segment must be a plain file name from a whitelist of
 * characters: this rejects `..`, absolute paths, backslashes, NUL and any percent-encoding
 * (so `%2F` / `%2e%2e` cannot be decoded a second time somewhere below into a traversal).
 * The joined path is then resolved with realpath and must still be inside the real root,
 * which catches symlinks that point out of it.
 */
import fs from "node:fs";
import path from "node:path";

export class PathError extends Error {
  constructor(message: string, readonly status: 400 | 403 | 404) {
    super(message);
    this.name = "PathError";
  }
}

// Names the trainer writes (sanitised run names, step numbers, .mp4/.safetensors).
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.\-]*$/;

export function isSafeSegment(segment: string): boolean {
  return SAFE_SEGMENT.test(segment) && segment !== "." && segment !== ".." && segment.length <= 255;
}

/** True when `child` is `root` itself or below it (both already absolute and normalised). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * The real path of `segments` under `root`. Throws PathError: 400 for a bad segment,
 * 404 when nothing is there, 403 when the real path (after symlinks) leaves the root.
 */
export function resolveInside(root: string, segments: readonly string[]): string {
  if (segments.length === 0) throw new PathError("no file named", 400);
  for (const segment of segments) {
    if (!isSafeSegment(segment)) throw new PathError(`bad path segment: ${JSON.stringify(segment)}`, 400);
  }
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    real = fs.realpathSync(path.join(root, ...segments));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new PathError("not found", 404);
    throw err;
  }
  if (!isInside(realRoot, real)) throw new PathError("path leaves its folder", 403);
  return real;
}

/**
 * Check a dataset `folder_path` from a config: relative paths are taken from the repo
 * root (the trainer's cwd). Returns the problem as text, or null when the folder is a
 * directory inside the datasets root (after resolving symlinks).
 */
export function datasetFolderProblem(datasetsRoot: string, repoRoot: string, folderPath: unknown): string | null {
  if (typeof folderPath !== "string" || !folderPath.trim()) return "choose a dataset folder";
  if (folderPath.includes("\0")) return "the folder path contains a NUL character";
  const wanted = path.resolve(repoRoot, folderPath);
  let real: string;
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(datasetsRoot);
  } catch {
    return `the datasets root ${datasetsRoot} does not exist (set LTX2_DATASETS_ROOT)`;
  }
  try {
    real = fs.realpathSync(wanted);
  } catch {
    return `the folder ${folderPath} does not exist`;
  }
  if (!isInside(realRoot, real) || real === realRoot) {
    return `the folder must be inside the datasets root ${datasetsRoot}`;
  }
  if (!fs.statSync(real).isDirectory()) return `${folderPath} is not a folder`;
  return null;
}

/** Sub-folders of the datasets root (relative names, hidden ones skipped, depth <= 2). */
export function listDatasetFolders(datasetsRoot: string, maxDepth = 2): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith(".") || entry.name.startsWith("_")) continue;
      if (!entry.isDirectory()) continue; // symlinked folders are not offered
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      out.push(child);
      if (depth < maxDepth) walk(path.join(dir, entry.name), child, depth + 1);
    }
  };
  walk(datasetsRoot, "", 1);
  return out;
}
