/**
 * The Datasets page's file operations, all inside the datasets root and all through the
 * path guard (plain name segments, realpath inside the root): list a folder, create one,
 * stream an upload to disk, edit a caption, delete a file.
 *
 * Writes are atomic: an upload goes to a hidden temp file beside its target (the trainer
 * skips hidden files) and is linked into place only when complete, so neither a reader
 * nor a training run ever sees half a clip; a caption is written to a temp file and
 * renamed over the old one.
 *
 * Links inside a dataset are names, not doors: a caption is read only when its real path
 * stays inside the datasets root, it is a regular file (a FIFO would block, a device never
 * end) and at most 64 KiB, and it is read asynchronously, so no caption can leak a file or
 * stall the server. Deleting or captioning `alias.mp4 -> ../other/clip.mp4` acts on the
 * link in its own folder, never on the clip it points to.
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
/** Audio-only files: they train the voice alone (docs/voice_training.md). */
export const AUDIO_EXT = ["wav", "flac", "mp3", "m4a", "ogg", "opus"];
const CAPTION_EXT = "txt";
const UPLOAD_EXT = new Set([...VIDEO_EXT, ...IMAGE_EXT, ...AUDIO_EXT, CAPTION_EXT]);
const MAX_CAPTION = 64 * 1024;

const extOf = (name: string) => (name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "");
const stemOf = (name: string) => (name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : name);
export const isMedia = (name: string) => [...VIDEO_EXT, ...IMAGE_EXT, ...AUDIO_EXT].includes(extOf(name));
const kindOf = (name: string) =>
  VIDEO_EXT.includes(extOf(name)) ? "video" : AUDIO_EXT.includes(extOf(name)) ? "audio" : "image";

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
      `${name}: only clips (${VIDEO_EXT.join(", ")}), images (${IMAGE_EXT.join(", ")}), audio files (${AUDIO_EXT.join(", ")}) and .txt captions can be uploaded`, 400);
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
  kind: "video" | "image" | "audio";
  size: number;
  caption: string | null; // null: no caption file, or one that is not read (captionProblem)
  captionProblem?: string; // why a caption file beside the clip was not read
  facts: MediaFacts;
}

type Caption = { caption: string | null; captionProblem?: string };

/**
 * The caption `<stem>.txt` in `dir`, read without following it anywhere it should not go:
 * a link must resolve inside the datasets root, the file must be regular (checked on the
 * open descriptor, which O_NONBLOCK keeps a FIFO from blocking) and at most 64 KiB.
 */
async function readCaption(realRoot: string, dir: string, stem: string): Promise<Caption> {
  const name = `${stem}.${CAPTION_EXT}`;
  const file = path.join(dir, name);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { caption: null };
    throw err;
  }
  let real = file;
  if (stat.isSymbolicLink()) {
    try {
      real = await fs.promises.realpath(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ELOOP") return { caption: null, captionProblem: `${name} is a broken link: not read` };
      throw err;
    }
  }
  if (!isInside(realRoot, real)) return { caption: null, captionProblem: `${name} is a link that leaves the datasets root: not read` };
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { caption: null };
    if (code === "ELOOP" || code === "EISDIR" || code === "ENXIO") return { caption: null, captionProblem: `${name} is not a regular file: not read` };
    throw err;
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) return { caption: null, captionProblem: `${name} is not a regular file (a FIFO, device or folder): not read` };
    if (opened.size > MAX_CAPTION) return { caption: null, captionProblem: `${name} is larger than 64 KiB: not shown (the trainer's text encoder keeps far less)` };
    const buffer = Buffer.alloc(opened.size);
    const { bytesRead } = await handle.read(buffer, 0, opened.size, 0);
    return { caption: buffer.subarray(0, bytesRead).toString("utf8") };
  } finally {
    await handle.close();
  }
}

/** The media files of a folder (top level), with captions and facts, sorted by name. */
export async function listFolder(s: Settings, segments: string[]): Promise<DatasetEntry[]> {
  const dir = datasetFolder(s, segments);
  const names = fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith(".") && !e.name.startsWith("_") && isMedia(e.name))
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));
  const facts = await mediaFacts(s, names.map((n) => path.join(dir, n)));
  const realRoot = fs.realpathSync(s.datasetsRoot);
  return Promise.all(names.map(async (name) => {
    const file = path.join(dir, name);
    return {
      name, kind: kindOf(name), size: fs.statSync(file).size,
      ...(await readCaption(realRoot, dir, stemOf(name))), facts: facts.get(file)!,
    };
  }));
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

/**
 * The clip or image named by `segments` as an entry of its own dataset folder: the folder's
 * real path and the entry's name. The entry may be a link (it must resolve to a media file
 * inside the root, as every route demands), but what is changed is the entry in that folder.
 */
function mediaEntry(s: Settings, segments: string[]): { dir: string; name: string } {
  const target = resolveInside(s.datasetsRoot, segments);
  const name = segments[segments.length - 1];
  if (!fs.statSync(target).isFile() || !isMedia(name) || !isMedia(path.basename(target))) {
    throw new PathError("not a clip or image of a dataset", 400);
  }
  return { dir: datasetFolder(s, segments.slice(0, -1)), name };
}

/** Write the caption of a clip or image (temp file + rename: never half a caption); for a
 * linked clip, beside the link. A caption that is itself a link is replaced, not written through. */
export function writeCaption(s: Settings, segments: string[], text: unknown): string {
  if (typeof text !== "string") throw new JobError('send {"caption": "..."}', 400);
  if (text.length > MAX_CAPTION) throw new JobError("the caption is longer than 64 KiB", 413);
  const { dir, name } = mediaEntry(s, segments);
  const caption = path.join(dir, `${stemOf(name)}.${CAPTION_EXT}`);
  const tmp = path.join(dir, `.${path.basename(caption)}.${randomBytes(4).toString("hex")}.tmp`);
  const body = text.trim() + "\n";
  fs.writeFileSync(tmp, body, { mode: 0o644, flag: "wx" });
  fs.renameSync(tmp, caption);
  return body;
}

/** Delete a clip or image and its caption from its folder. A link is removed as a link: the
 * file it points to (perhaps in another dataset) and that file's caption stay. */
export function deleteMedia(s: Settings, segments: string[]): string[] {
  const { dir, name } = mediaEntry(s, segments);
  const caption = `${stemOf(name)}.${CAPTION_EXT}`;
  const removed = [name];
  fs.unlinkSync(path.join(dir, name));
  const captionStat = lstatOrNull(path.join(dir, caption));
  if (captionStat && (captionStat.isFile() || captionStat.isSymbolicLink())) {
    fs.unlinkSync(path.join(dir, caption));
    removed.push(caption);
  }
  return removed;
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
