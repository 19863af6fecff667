// Errors users are meant to read: one line saying what went wrong and what to do.

export class ExportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExportError";
  }
}

/** A file-system failure rephrased with the path and a hint. */
export function fileSystemError(action: string, path: string, error: unknown): ExportError {
  const code = (error as NodeJS.ErrnoException)?.code;
  const hints: Record<string, string> = {
    ENOTDIR: "a parent of it is a file, not a folder; choose another output path",
    EEXIST: "a file with that name exists where a folder is needed; choose another output path",
    EISDIR: "it is a folder; remove it or choose another name",
    EACCES: "permission denied; choose a writable folder",
    EPERM: "permission denied; choose a writable folder",
    EROFS: "the file system is read-only; choose a writable folder",
    ENOSPC: "the disk is full; free some space",
    ENOENT: "it does not exist",
  };
  const hint = (code && hints[code]) ?? String((error as Error)?.message ?? error);
  return new ExportError(`cannot ${action} ${path}: ${hint}`, { cause: error });
}
