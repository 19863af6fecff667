// Writes that never leave half a file behind: write under a temp name, rename when complete.
// Every temporary file of the project is named here: hidden, beside its final name (same file
// system, so the rename is atomic), stamped with the writing process's pid and a random part.
import { copyFileSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileSystemError } from "./errors.js";

/** `.<name>.<purpose>-<pid>-<random><extension>` beside `path`. */
export function tempPathFor(path: string, purpose = "tmp", extension = ""): string {
  return join(dirname(path), `.${basename(path)}.${purpose}-${process.pid}-${Math.random().toString(36).slice(2, 8)}${extension}`);
}

/** Creates `dir` (and parents); a clear error when it is a file or cannot be created. */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw fileSystemError("create the output folder", dir, error);
  }
  if (!statSync(dir).isDirectory()) throw fileSystemError("use the output folder", dir, { code: "EEXIST" });
}

/**
 * Creates `path` by `fill(temp)` on a temp path beside it, then renames it into place: `path` is
 * complete or untouched, and the temp file never stays behind. A file-system failure becomes
 * one line, "cannot <action> <path>: <what to do>"; other errors from `fill` pass through.
 */
export function createAtomically(path: string, fill: (temp: string) => void, action = "write"): void {
  const temp = tempPathFor(path);
  try {
    fill(temp);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw isFileSystemError(error) ? fileSystemError(action, path, error) : error;
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  createAtomically(path, (temp) => writeFileSync(temp, data));
}

export function copyFileAtomic(from: string, to: string): void {
  createAtomically(to, (temp) => copyFileSync(from, temp));
}

function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  return typeof (error as NodeJS.ErrnoException)?.code === "string";
}
