// Writes that never leave half a file behind: write under a temp name, rename when complete.
import { copyFileSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileSystemError } from "./errors.js";

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
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

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temp = tempPathFor(path);
  try {
    writeFileSync(temp, data);
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw fileSystemError("write", path, error);
  }
}

export function copyFileAtomic(from: string, to: string): void {
  const temp = tempPathFor(to);
  try {
    copyFileSync(from, temp);
    renameSync(temp, to);
  } catch (error) {
    rmSync(temp, { force: true });
    throw fileSystemError("write", to, error);
  }
}

