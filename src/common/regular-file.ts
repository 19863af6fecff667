// Reading files a model folder or an export folder names, which may be hostile: a FIFO blocks a
// read forever (and a blocked native read ignores SIGTERM), a device (/dev/zero, directly or
// through a symlink) never ends. Such files are refused before any byte is read, and a read takes
// at most the bytes the file has when it is opened, never more than the caller's bound.
import { type Stats, closeSync, constants, fstatSync, openSync, readSync, statSync } from "node:fs";
import { FileKindError } from "./files.js";

export { FileKindError };

/** What a non-regular file is, in words ("a FIFO (named pipe)", "a character device"…). */
function kindOfFile(stats: Stats): string {
  if (stats.isFIFO()) return "a FIFO (named pipe)";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isSocket()) return "a socket";
  if (stats.isDirectory()) return "a folder";
  return "not a regular file";
}

function notRegular(path: string, stats: Stats): FileKindError {
  return new FileKindError(`${path} is ${kindOfFile(stats)}, not a regular file`, path);
}

/**
 * The stats of `path` (symlinks followed) when it is a regular file; a FileKindError otherwise.
 * Other errors (ENOENT…) are thrown as they are.
 */
export function regularFileStats(path: string): Stats {
  const stats = statSync(path);
  if (!stats.isFile()) throw notRegular(path, stats);
  return stats;
}

/**
 * A descriptor of `path` opened for reading when it is a regular file (symlinks followed); a
 * FileKindError otherwise. It is opened without blocking, so that a FIFO is refused rather than
 * waited on. The caller closes it.
 */
export function openRegularFile(path: string): number {
  return openRegularFileStats(path).fd;
}

/** openRegularFile, with the stats it checked (the size the file has when opened). */
export function openRegularFileStats(path: string): { fd: number; stats: Stats } {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  const stats = fstatSync(fd);
  if (stats.isFile()) return { fd, stats };
  closeSync(fd);
  throw notRegular(path, stats);
}

/**
 * The bytes of the regular file `path`, at most `maxBytes` of them (a larger file is a
 * FileKindError, unread), opened as openRegularFile does; only the size it has when opened is read.
 */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  const { fd, stats } = openRegularFileStats(path);
  try {
    if (stats.size > maxBytes) {
      throw new FileKindError(`${path} is ${stats.size} bytes, more than the ${maxBytes} such a file may have`, path);
    }
    const bytes = Buffer.allocUnsafe(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const read = readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (read === 0) break; // truncated meanwhile: what is there
      filled += read;
    }
    return bytes.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}

/** readRegularFile as UTF-8 text. */
export function readRegularText(path: string, maxBytes: number): string {
  return readRegularFile(path, maxBytes).toString("utf8");
}
