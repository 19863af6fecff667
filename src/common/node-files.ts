// The Node implementations of src/common/files.ts: a model folder on disk, a file's byte ranges
// and a file handle as a ByteSink. Reads go through src/common/regular-file.ts, so a FIFO, a
// device or a folder where a file is expected is refused before any byte is read.
import { closeSync, existsSync, readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ByteSink, ModelFiles, OpenFile } from "./files.js";
import { openRegularFileStats, readRegularFile } from "./regular-file.js";

/** readSync reads at most 2 GiB per call; larger ranges are read in chunks. */
const MAX_READ_CHUNK = 1 << 30;

/** Fills `target` from descriptor `fd` at `position`; throws naming `label` when the file ends first. */
function readFullyAt(fd: number, target: Uint8Array, position: number, label: string): void {
  for (let done = 0; done < target.byteLength;) {
    const n = readSync(fd, target, done, Math.min(target.byteLength - done, MAX_READ_CHUNK), position + done);
    if (n === 0)
      throw new Error(
        `${label} ends before byte ${position + target.byteLength} (read ${done} of ${target.byteLength} bytes at ${position})`,
      );
    done += n;
  }
}

/** The regular file `path` opened for ranged reads (refused, unread, when it is not one). */
function openNodeFile(path: string): OpenFile {
  const { fd, stats } = openRegularFileStats(path);
  let open = true;
  return {
    label: path,
    size: stats.size,
    readInto: (target, position) => {
      if (!open) throw new Error(`${path} was closed; open it again to read it`);
      readFullyAt(fd, target, position, path);
    },
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** The model folder `dir` on disk; messages name its files `dir/name` as given. */
export function folderFiles(dir: string): ModelFiles {
  const path = (name: string) => join(dir, name);
  return {
    label: dir,
    path,
    has: (name) => existsSync(path(name)),
    read: (name, maxBytes) => readRegularFile(path(name), maxBytes),
    open: (name) => openNodeFile(path(name)),
  };
}

/** A file handle as a ByteSink (positional writes, each written fully). */
export function fileHandleSink(handle: FileHandle): ByteSink {
  return {
    allocate: (size) => Buffer.allocUnsafe(size),
    async write(bytes, position) {
      for (let done = 0; done < bytes.byteLength;) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
        done += bytesWritten;
      }
    },
  };
}
