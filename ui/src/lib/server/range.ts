/**
 * Serving files with HTTP range support. Browsers fetch <video> with `Range: bytes=0-`
 * and seek with further ranges; without 206 answers, seeking (and on some builds,
 * playback of mp4 with the index at the end) breaks.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { PathError } from "@/lib/server/pathGuard";

export type ByteRange = { start: number; end: number };

/**
 * The single range of a `Range` header for a file of `size` bytes: null when there is
 * no (usable) header, "unsatisfiable" for a range outside the file. Multi-range requests
 * are answered with the whole file (allowed by RFC 9110).
 */
export function parseRange(header: string | null, size: number): ByteRange | null | "unsatisfiable" {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]); // "bytes=-500": the last 500 bytes
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}

const SMALL_FILE = 16 * 1024 * 1024;

const TYPES: Record<string, string> = {
  ".mp4": "video/mp4", ".webm": "video/webm", ".m4a": "audio/mp4", ".wav": "audio/wav", ".mp3": "audio/mpeg",
  ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
  ".txt": "text/plain; charset=utf-8", ".json": "application/json", ".jsonl": "text/plain; charset=utf-8",
  ".yaml": "text/plain; charset=utf-8",
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** A Response streaming `file` (already checked by the path guard), honouring Range. */
export function fileResponse(file: string, rangeHeader: string | null, download: boolean): Response {
  const stat = fs.statSync(file);
  if (!stat.isFile()) throw new PathError("not a file", 404);
  const size = stat.size;
  const headers = new Headers({
    "Content-Type": contentType(file),
    "Accept-Ranges": "bytes",
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
  });
  if (download) {
    headers.set("Content-Disposition", `attachment; filename="${path.basename(file).replace(/[^A-Za-z0-9_.\-]/g, "_")}"`);
  }
  const range = parseRange(rangeHeader, size);
  if (range === "unsatisfiable") {
    headers.set("Content-Range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const length = size === 0 ? 0 : end - start + 1;
  headers.set("Content-Length", String(length));
  if (range) headers.set("Content-Range", `bytes ${start}-${end}/${size}`);
  let body: BodyInit | null = null;
  if (length > 0 && length <= SMALL_FILE) {
    // Small answers (samples, ranges of them) are sent whole, so the server keeps the
    // Content-Length header (it drops it for streams); big LoRA files are streamed.
    const buf = Buffer.alloc(length);
    const fd = fs.openSync(file, "r");
    try {
      fs.readSync(fd, buf, 0, length, start);
    } finally {
      fs.closeSync(fd);
    }
    body = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } else if (length > 0) {
    body = Readable.toWeb(fs.createReadStream(file, { start, end })) as ReadableStream;
  }
  return new Response(body, { status: range ? 206 : 200, headers });
}
