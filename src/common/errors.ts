// Errors users are meant to read: one line saying what went wrong and what to do.
import { errorMessage } from "./messages.js";

export class ExportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExportError";
  }
}

/** What to do about each file-system error code (EVIRTUAL: a kernel file system such as /proc). */
const FILE_SYSTEM_HINTS: Record<string, string> = {
  ENOTDIR: "a parent of it is a file, not a folder; choose another output path",
  EEXIST: "a file with that name exists where a folder is needed; choose another output path",
  EISDIR: "it is a folder; remove it or choose another name",
  EACCES: "permission denied; choose a folder you can write to (or fix its permissions)",
  EPERM: "operation not permitted; choose a folder you can write to (or fix its permissions)",
  EROFS: "the file system is read-only; choose a folder on a writable disk",
  ENOSPC: "no space left on the device; free some space or choose a folder on another disk",
  EDQUOT: "the disk quota is exhausted; free some space or choose a folder on another disk",
  EFBIG: "the file is larger than this file system or process allows; choose a folder on another disk",
  ENAMETOOLONG: "the path is too long; choose a shorter output path",
  EMFILE: "too many open files; raise the limit (ulimit -n) and run again",
  EIO: "the device reported an I/O error; check the disk",
  ENOENT: "it does not exist",
};

/** Errno codes no retry of the same write can fix (the portable graph would fail the same way). */
const PERSISTENT_FILE_SYSTEM_CODES = new Set([
  "ENOTDIR",
  "EISDIR",
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOSPC",
  "EDQUOT",
  "EFBIG",
  "ENAMETOOLONG",
  "EMFILE",
  "EIO",
  "EVIRTUAL",
]);

/** A file-system failure rephrased with the path and a hint. */
export function fileSystemError(action: string, path: string, error: unknown): ExportError {
  const code = (error as NodeJS.ErrnoException)?.code;
  const hint =
    code === "EVIRTUAL" ? `${errorMessage(error)}; choose a folder on a disk` : ((code && FILE_SYSTEM_HINTS[code]) ?? errorMessage(error));
  return new ExportError(`cannot ${action} ${path}: ${hint}`, { cause: error });
}

/** The first error in `error`'s cause chain that satisfies `test`. */
export function findCause<T>(error: unknown, test: (e: unknown) => e is T): T | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    if (test(e)) return e;
  }
  return undefined;
}

/** The file-system error (errno code) behind `error`, when it is one that persists. */
export function persistentFileSystemError(error: unknown): (NodeJS.ErrnoException & { code: string }) | undefined {
  return findCause(error, (e): e is NodeJS.ErrnoException & { code: string } => {
    const code = (e as NodeJS.ErrnoException)?.code;
    return typeof code === "string" && PERSISTENT_FILE_SYSTEM_CODES.has(code);
  });
}

/**
 * How a process says it ran out of memory: the C++ runtime (std::bad_alloc), onnxruntime ("Failed
 * to allocate memory for requested buffer of size N"), the kernel (ENOMEM, "Cannot allocate
 * memory"), the dynamic loader ("failed to map segment from shared object": a library cannot
 * even be loaded), V8 ("Allocation failed", "out of memory").
 */
const OUT_OF_MEMORY =
  /bad_alloc|out of memory|cannot allocate memory|failed to allocate|allocation failed|failed to map segment|\bENOMEM\b/i;

/** Whether a process's last words (or an error message) say that memory ran out. */
export function saysOutOfMemory(text: string): boolean {
  return OUT_OF_MEMORY.test(text);
}
