/**
 * A ZIP archive produced as a stream, its files *stored* (not compressed): samples are mp4
 * files, already compressed, so deflating them again would spend CPU for nothing. The
 * format is small enough to write here (local header + data per file, then the central
 * directory); Node's zlib gives the CRC-32. One file is in memory at a time.
 *
 * Limits of the classic format, refused with a clear message rather than written wrong:
 * 65535 files and 4 GiB in all (no ZIP64).
 */
import fs from "node:fs";
import zlib from "node:zlib";

export interface ZipEntry {
  /** The name inside the archive ("run_samples/000000100_00.mp4"): forward slashes. */
  name: string;
  /** The file on disk. */
  file: string;
}

const LIMIT = 0xffffffff;

/** MS-DOS date and time of a modification time (what ZIP headers hold; 2-second steps). */
function dosTime(date: Date): { time: number; date: number } {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

function localHeader(name: Buffer, crc: number, size: number, when: { time: number; date: number }): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4); // version needed: 2.0
  h.writeUInt16LE(0x0800, 6); // UTF-8 names
  h.writeUInt16LE(0, 8); // stored
  h.writeUInt16LE(when.time, 10);
  h.writeUInt16LE(when.date, 12);
  h.writeUInt32LE(crc, 14);
  h.writeUInt32LE(size, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(name.length, 26);
  h.writeUInt16LE(0, 28);
  return Buffer.concat([h, name]);
}

function centralHeader(name: Buffer, crc: number, size: number, when: { time: number; date: number }, offset: number): Buffer {
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE(0x0314, 4); // made by: Unix, 2.0
  h.writeUInt16LE(20, 6);
  h.writeUInt16LE(0x0800, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt16LE(when.time, 12);
  h.writeUInt16LE(when.date, 14);
  h.writeUInt32LE(crc, 16);
  h.writeUInt32LE(size, 20);
  h.writeUInt32LE(size, 24);
  h.writeUInt16LE(name.length, 28);
  h.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file, rw-r--r--
  h.writeUInt32LE(offset, 42);
  return Buffer.concat([h, name]);
}

function endRecord(count: number, size: number, offset: number): Buffer {
  const h = Buffer.alloc(22);
  h.writeUInt32LE(0x06054b50, 0);
  h.writeUInt16LE(count, 8);
  h.writeUInt16LE(count, 10);
  h.writeUInt32LE(size, 12);
  h.writeUInt32LE(offset, 16);
  return h;
}

/**
 * Check that `entries` fit the classic ZIP format. Throws an Error naming the limit, before
 * a byte is sent (a response cannot change its status half-way).
 */
export function checkZipLimits(entries: ZipEntry[]): number {
  if (entries.length > 0xffff) throw new Error(`${entries.length} files are more than a ZIP file holds (65535): download them in parts`);
  let total = 0;
  for (const e of entries) total += fs.statSync(e.file).size + 76 + 2 * Buffer.byteLength(e.name);
  if (total + 22 > LIMIT) throw new Error(`the files hold ${(total / 2 ** 30).toFixed(1)} GiB, more than a ZIP file holds (4 GiB): download them one by one`);
  return total + 22;
}

/** The archive of `entries` as a byte stream (call checkZipLimits first). */
export function zipStream(entries: ZipEntry[]): ReadableStream<Uint8Array> {
  const central: Buffer[] = [];
  let offset = 0;
  let index = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index < entries.length) {
        const entry = entries[index++];
        const data = await fs.promises.readFile(entry.file);
        const name = Buffer.from(entry.name, "utf8");
        const crc = zlib.crc32(data);
        const when = dosTime((await fs.promises.stat(entry.file)).mtime);
        const header = localHeader(name, crc, data.length, when);
        central.push(centralHeader(name, crc, data.length, when, offset));
        offset += header.length + data.length;
        controller.enqueue(new Uint8Array(header));
        controller.enqueue(new Uint8Array(data.buffer, data.byteOffset, data.length));
        return;
      }
      const directory = Buffer.concat(central);
      controller.enqueue(new Uint8Array(Buffer.concat([directory, endRecord(entries.length, directory.length, offset)])));
      controller.close();
    },
  });
}
