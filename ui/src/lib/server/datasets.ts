/**
 * The Datasets page's file operations, all inside the datasets root and all through the
 * path guard (plain name segments, realpath inside the root): list a folder, create one,
 * stream an upload to disk, edit a caption, delete a file.
 *
 * Writes are atomic: an upload goes to a hidden temp file beside its target (the trainer
 * skips hidden files) and is linked into place only when complete, so neither a reader
 * nor a training run ever sees half a clip; a caption is written to a temp file and
 * renamed over the old one.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { JobError } from "@/lib/server/errors";
import { MediaFacts, mediaFacts } from "@/lib/server/mediaFacts";
import { isInside, PathError, resolveInside } from "@/lib/server/pathGuard";
import { Settings } from "@/lib/server/settings";

export const VIDEO_EXT = ["mp4", "mov", "webm", "mkv", "avi", "m4v"];
export const IMAGE_EXT = ["png", "jpg", "jpeg", "webp", "bmp"];
const CAPTION_EXT = "txt";
const UPLOAD_EXT = new Set([...VIDEO_EXT, ...IMAGE_EXT, CAPTION_EXT]);
const MAX_CAPTION = 64 * 1024;

const extOf = (name: string) => (name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "");
const stemOf = (name: string) => (name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : name);
export const isMedia = (name: string) => VIDEO_EXT.includes(extOf(name)) || IMAGE_EXT.includes(extOf(name));

/**
 * A safe file name from what the browser sent: the last path component, accents
 * dropped, anything but letters, digits, `_ - .` turned into `_`, no leading dot or
 * underscore (hidden files are skipped by the trainer), at most 120 characters.
 */
export function sanitizeName(raw: string, kind: "file" | "folder"): string {
  const base = raw.split(/[\\/]/).pop() ?? "";
  const ascii = base.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  let name = ascii.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/_+/g, "_").replace(/^[._-]+/, "");
  if (kind === "folder") name = name.replace(/\./g, "_").replace(/[_-]+$/, "");
  else name = name.replace(/[_-]+(\.[^.]*)$/, "$1"); // "clip (1).mp4" -> "clip_1.mp4"
  if (name.length > 120) {
    const ext = kind === "file" ? extOf(name) : "";
    name = ext ? `${name.slice(0, 115 - ext.length)}.${ext}` : name.slice(0, 120);
  }
  if (!/[A-Za-z0-9]/.test(kind === "file" ? stemOf(name) : name)) {
    throw new JobError(`${JSON.stringify(raw.slice(0, 100))} has no usable name: use letters or digits`, 400);
  }
  if (kind === "file" && !UPLOAD_EXT.has(extOf(name))) {
    throw new JobError(
      `${name}: only clips (${VIDEO_EXT.join(", ")}), images (${IMAGE_EXT.join(", ")}) and .txt captions can be uploaded`, 400);
  }
  return name;
}

/** The real path of a dataset folder (not the root itself) named by URL segments. */
export function datasetFolder(s: Settings, segments: string[]): string {
  const dir = resolveInside(s.datasetsRoot, segments);
  if (!fs.statSync(dir).isDirectory()) throw new PathError("not a folder", 400);
  if (dir === fs.realpathSync(s.datasetsRoot)) throw new PathError("choose a dataset folder, not the datasets root", 400);
  return dir;
}

export function createFolder(s: Settings, rawName: string): string {
  const name = sanitizeName(rawName, "folder");
  fs.mkdirSync(s.datasetsRoot, { recursive: true });
  const dir = path.join(fs.realpathSync(s.datasetsRoot), name);
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new JobError(`a dataset named ${name} already exists`, 409);
    throw err;
  }
  return name;
}

export interface DatasetEntry {
  name: string;
  kind: "video" | "image";
  size: number;
  caption: string | null; // null: no caption file
  facts: MediaFacts;
}

/** The media files of a folder (top level), with captions and facts, sorted by name. */
export async function listFolder(s: Settings, segments: string[]): Promise<DatasetEntry[]> {
  const dir = datasetFolder(s, segments);
  const names = fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith(".") && !e.name.startsWith("_") && isMedia(e.name))
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));
  const facts = await mediaFacts(s, names.map((n) => path.join(dir, n)));
  return names.map((name) => {
    const file = path.join(dir, name);
    let caption: string | null = null;
    try {
      caption = fs.readFileSync(path.join(dir, `${stemOf(name)}.${CAPTION_EXT}`), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return {
      name, kind: VIDEO_EXT.includes(extOf(name)) ? "video" : "image", size: fs.statSync(file).size, caption, facts: facts.get(file)!,
    };
  });
}

/**
 * Stream `body` into `<folder>/<name>`: at most `s.maxUploadBytes`, never replacing an
 * existing file (409), linked into place only once complete.
 */
export async function saveUpload(s: Settings, segments: string[], rawName: string, body: ReadableStream<Uint8Array> | null): Promise<{ name: string; size: number }> {
  const dir = datasetFolder(s, segments);
  const name = sanitizeName(rawName, "file");
  const target = path.join(dir, name);
  if (fs.existsSync(target)) throw new JobError(`${name} already exists in this dataset: delete it first or rename the file`, 409);
  if (!body) throw new JobError("the upload has no body", 400);
  const tmp = path.join(dir, `.upload-${randomBytes(6).toString("hex")}.part`);
  // Async writes: a big upload must not stall the job pages' polling.
  const out = await fs.promises.open(tmp, "wx", 0o644);
  let closed = false;
  let size = 0;
  try {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > s.maxUploadBytes) {
        await reader.cancel();
        throw new JobError(`${name} is larger than ${Math.round(s.maxUploadBytes / 1024 / 1024)} MiB (LTX2_UI_MAX_UPLOAD_MB)`, 413);
      }
      let offset = 0;
      while (offset < value.byteLength) offset += (await out.write(value, offset, value.byteLength - offset)).bytesWritten;
    }
    await out.sync();
    await out.close();
    closed = true;
    // link() fails if the name appeared meanwhile: an upload never replaces a file.
    fs.linkSync(tmp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new JobError(`${name} already exists in this dataset`, 409);
    throw err;
  } finally {
    if (!closed) await out.close();
    fs.rmSync(tmp, { force: true });
  }
  return { name, size };
}

/** The media file named by `segments`, inside the datasets root. */
function mediaFile(s: Settings, segments: string[]): string {
  const file = resolveInside(s.datasetsRoot, segments);
  if (!fs.statSync(file).isFile() || !isMedia(path.basename(file))) throw new PathError("not a clip or image of a dataset", 400);
  return file;
}

/** Write the caption of a clip or image (temp file + rename: never half a caption). */
export function writeCaption(s: Settings, segments: string[], text: unknown): string {
  if (typeof text !== "string") throw new JobError('send {"caption": "..."}', 400);
  if (text.length > MAX_CAPTION) throw new JobError("the caption is longer than 64 KiB", 413);
  const file = mediaFile(s, segments);
  const caption = path.join(path.dirname(file), `${stemOf(path.basename(file))}.${CAPTION_EXT}`);
  if (!isInside(fs.realpathSync(s.datasetsRoot), path.dirname(caption))) throw new PathError("path leaves its folder", 403);
  const tmp = path.join(path.dirname(caption), `.${path.basename(caption)}.${randomBytes(4).toString("hex")}.tmp`);
  fs.writeFileSync(tmp, text.trim() + "\n", { mode: 0o644 });
  fs.renameSync(tmp, caption);
  return fs.readFileSync(caption, "utf8");
}

/** Delete a clip or image and its caption. */
export function deleteMedia(s: Settings, segments: string[]): string[] {
  const file = mediaFile(s, segments);
  const caption = path.join(path.dirname(file), `${stemOf(path.basename(file))}.${CAPTION_EXT}`);
  const removed = [path.basename(file)];
  fs.rmSync(file);
  if (fs.existsSync(caption) && fs.lstatSync(caption).isFile()) {
    fs.rmSync(caption);
    removed.push(path.basename(caption));
  }
  return removed;
}
