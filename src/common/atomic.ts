// Writes that never leave half a file behind: write under a temp name, rename when complete.
// Every temporary file of the project is named here: hidden, beside its final name (same file
// system, so the rename is atomic), stamped with the writing process's pid and a random part,
// so that a later run can tell the leftovers of a killed process (kill -9, power loss) from the
// files of one still at work, and sweep only those.
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve, sep } from "node:path";
import { ExportError, fileSystemError } from "./errors.js";
import { regularFileStats } from "./regular-file.js";

/** `<pid>-<random>`: this process's, and unique among its own names. */
export function pidStamp(): string {
  return `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** `.<name>.<purpose>-<pid>-<random><extension>` beside `path`. */
export function tempPathFor(path: string, purpose = "tmp", extension = ""): string {
  return join(dirname(path), `.${basename(path)}.${purpose}-${pidStamp()}${extension}`);
}

/** Temp names of tempPathFor (with an optional .onnx/.data ending) and export staging folders. */
const OWNED_TEMP = /^\..+\.[a-z0-9]+-(\d+)-[0-9a-z]+(?:\.onnx)?(?:\.data)?$/;
export const STAGING_PREFIX = ".jazzmine-export-";
const OWNED_STAGING = /^\.jazzmine-export-(\d+)-[0-9a-z]+$/;

/** This export's staging folder in `outputDir`: `.jazzmine-export-<pid>-<random>`. */
export function stagingPathIn(outputDir: string): string {
  return join(outputDir, `${STAGING_PREFIX}${pidStamp()}`);
}

/** The pid a temp name of this module belongs to, if it is one. */
export function tempOwner(name: string): number | undefined {
  const match = OWNED_TEMP.exec(name) ?? OWNED_STAGING.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the temp files and staging folders in `dir` whose process is gone; returns their names. */
export function sweepStaleTemps(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale = names.filter((name) => {
    const pid = tempOwner(name);
    return pid !== undefined && pid !== process.pid && !processAlive(pid);
  });
  for (const name of stale) rmSync(join(dir, name), { recursive: true, force: true });
  return stale;
}

/**
 * Kernel file systems that look like folders but store nothing (statfs magic numbers). Writing
 * there fails in odd ways (recursive mkdir under /proc never returns), so they are refused.
 */
const VIRTUAL_FILE_SYSTEMS: Record<number, string> = {
  0x9fa0: "proc",
  0x62656572: "sysfs",
  0x27e0eb: "cgroup",
  0x63677270: "cgroup2",
  0x64626720: "debugfs",
  0x73636673: "securityfs",
  0x74726163: "tracefs",
  0xcafe4a11: "bpf",
  0x1cd1: "devpts",
};

function virtualFileSystemOf(path: string): string | undefined {
  try {
    const kind = VIRTUAL_FILE_SYSTEMS[statfsSync(path).type];
    if (kind) return kind;
  } catch {
    // statfs unsupported here: the path alone decides
  }
  const absolute = resolve(path);
  for (const root of ["/proc", "/sys"]) if (absolute === root || absolute.startsWith(`${root}${sep}`)) return root.slice(1);
  return undefined;
}

/**
 * What creating `dir` takes: its missing folders (outermost first) below an existing folder.
 * Checks, without creating anything, that the nearest existing ancestor is a folder on real storage.
 */
export function planDir(dir: string, purpose = "output folder"): string[] {
  const action = `create the ${purpose}`;
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(at).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") throw fileSystemError(action, dir, error);
      const link = danglingLinkTarget(at);
      if (link !== undefined) {
        throw new ExportError(
          `cannot ${action} ${dir}: ${at} is a symbolic link to ${link}, which does not exist; create that folder or choose another path`,
        );
      }
      missing.unshift(at);
      const parent = dirname(at);
      if (parent === at) throw fileSystemError(action, dir, error);
      at = parent;
      continue;
    }
    if (!isDirectory) throw fileSystemError(action, dir, { code: missing.length === 0 ? "EEXIST" : "ENOTDIR" });
    break;
  }
  const virtual = virtualFileSystemOf(at);
  if (virtual) {
    throw fileSystemError(action, dir, {
      code: "EVIRTUAL",
      message: `${at} is on the kernel's ${virtual} file system, which stores no files`,
    });
  }
  return missing;
}

/** Where `path` points when it is a symbolic link (its target missing, as the caller found); undefined otherwise. */
function danglingLinkTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates `dir` one level at a time (a recursive mkdir can loop forever on kernel file systems)
 * and returns the folders it created, outermost first: the caller removes them if it fails.
 */
export function ensureDir(dir: string, purpose = "output folder"): string[] {
  const missing = planDir(dir, purpose);
  const created: string[] = [];
  for (const folder of missing) {
    try {
      mkdirSync(folder);
      created.push(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST" || !statSync(folder).isDirectory()) throw fileSystemError(`create the ${purpose}`, dir, error);
    }
  }
  return created;
}

/** Removes the folders ensureDir created, innermost first, as far as they are empty. */
export function removeCreatedDirs(created: readonly string[]): string[] {
  const removed: string[] = [];
  for (const folder of [...created].reverse()) {
    try {
      rmdirSync(folder);
      removed.push(folder);
    } catch {
      break; // not empty (someone else wrote there): it stays, and so do its parents
    }
  }
  return removed;
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

/** createAtomically for a `fill` that writes asynchronously (streamed model files). */
export async function createAtomicallyAsync(path: string, fill: (temp: string) => Promise<void>, action = "write"): Promise<void> {
  const temp = tempPathFor(path);
  try {
    await fill(temp);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw isFileSystemError(error) ? fileSystemError(action, path, error) : error;
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  createAtomically(path, (temp) => writeFileSync(temp, data));
}

/** Copies the regular file `from` (a FIFO or a device, even behind a symlink, is a FileKindError: never copied endlessly). */
export function copyFileAtomic(from: string, to: string): void {
  regularFileStats(from);
  createAtomically(to, (temp) => copyFileSync(from, temp));
}

/** An error of a system call (ENOSPC, EACCES, …), not one a `fill` threw itself. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return typeof e?.code === "string" && typeof e.syscall === "string";
}
