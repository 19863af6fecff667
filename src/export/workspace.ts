// Where an export writes until it publishes: a private staging folder inside the output folder
// (the same file system, so publishing is renames), named with the exporting process's pid.
// Intermediates (the FP32 graph of an INT8 export, calibration models) never leave it, so
// concurrent exports into one folder cannot delete or read each other's files; a file already
// in the output folder is replaced only by the rename of a verified new one, and a failed or
// interrupted export removes only what it created. Publishing takes the folder's export lock
// (the Hub cache's lock), so the files of two exports finishing at once do not interleave.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import { BackgroundHashes, MANIFEST_FILE, publishManifest } from "../artifact/manifest.js";
import { VerifiedFiles, fileIdentity } from "../artifact/verified-files.js";
import { onAbort } from "../common/abort.js";
import { ensureDir, removeCreatedDirs, stagingPathIn, sweepStaleTemps } from "../common/atomic.js";
import { fileSystemError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import { withFileLock } from "./hub/lock.js";

/** The lock file exports take while they publish into a folder. */
export const EXPORT_LOCK_FILE = ".jazzmine-export.lock";

export class ExportWorkspace {
  private discarded = false;
  /** Hashes of staged files started early, for the manifest. */
  readonly hashes = new BackgroundHashes();
  /** The staged files when the export was interrupted (cleanups on the way out remove some). */
  private atInterrupt: string[] = [];
  private readonly stopWatching: () => void;

  private constructor(
    readonly outputDir: string,
    /** The private staging folder. */
    readonly dir: string,
    /** Output folders (and parents) this export created. */
    private readonly createdDirs: string[],
    private readonly logger: Logger,
  ) {
    this.stopWatching = onAbort(() => (this.atInterrupt = stagedFiles(this.dir, true)));
  }

  /**
   * Creates the output folder if needed, sweeps the temp files of killed exports from it, and
   * creates this export's staging folder.
   */
  static open(outputDir: string, logger: Logger): ExportWorkspace {
    const createdDirs = ensureDir(outputDir);
    const swept = sweepStaleTemps(outputDir);
    if (swept.length > 0) logger.info(`removed ${swept.length} temporary file(s) of exports that were killed: ${swept.join(", ")}`);
    const dir = stagingPathIn(outputDir);
    try {
      mkdirSync(dir);
    } catch (error) {
      removeCreatedDirs(createdDirs);
      throw fileSystemError("write into", outputDir, error);
    }
    return new ExportWorkspace(outputDir, dir, createdDirs, logger);
  }

  /** The export's files so far, relative to the staging folder ('/'-separated), sorted. */
  files(): string[] {
    return stagedFiles(this.dir)
      .map((file) => file.split(sep).join("/"))
      .sort();
  }

  /** Whether `path` lies in the staging folder (no path: a write on an open file, which is ours). */
  holds(path: string | undefined): boolean {
    return path === undefined || !relative(this.dir, path).startsWith("..");
  }

  /** Where the file `name` of the export is written until it is published. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Moves every file of the staging folder into the output folder — model files last, each
   * `.data` file before its model — under the folder's export lock, and returns the final path
   * of `artifact` (a staged path). `beforeRenames` runs once the lock is held (a last abort check).
   */
  async publish(artifact: string, beforeRenames: () => void = () => {}): Promise<string> {
    const files = stagedFiles(this.dir).sort((a, b) => publishRank(a) - publishRank(b));
    // The hashes the manifest records, vouched for under their published paths: the first load does not hash them again.
    const verified = VerifiedFiles.read();
    await withFileLock(join(this.outputDir, EXPORT_LOCK_FILE), async () => {
      beforeRenames();
      for (const file of files) {
        const target = join(this.outputDir, file);
        try {
          if (file === MANIFEST_FILE) {
            // Last, and merged: the folder's manifest keeps the other exports published into it.
            for (const { model, why } of publishManifest(this.dir, this.outputDir))
              this.logger.info(`${MANIFEST_FILE} no longer lists the export of ${model}: ${why}`);
            continue;
          }
          if (dirname(file) !== ".") ensureDir(dirname(target));
          const staged = fileIdentity(join(this.dir, file));
          renameSync(join(this.dir, file), target);
          verified.carry(staged, target);
        } catch (error) {
          throw fileSystemError("write", target, error);
        }
      }
    });
    verified.save();
    this.discarded = true;
    this.stopWatching();
    rmSync(this.dir, { recursive: true, force: true });
    return join(this.outputDir, relative(this.dir, artifact));
  }

  /**
   * Removes what this export created and has not published: the staging folder, then the output
   * folders it created if they are empty. Returns the names of the removed files and folders.
   */
  discard(): string[] {
    if (this.discarded) return [];
    this.discarded = true;
    this.stopWatching();
    const removed = new Set([...this.atInterrupt, ...stagedFiles(this.dir, true)].map((file) => basename(file)));
    rmSync(this.dir, { recursive: true, force: true });
    return [...removed, ...removeCreatedDirs(this.createdDirs).map((dir) => `${dir}/`)];
  }
}

/** Files under `dir` relative to it (hidden temp files only when `withTemps`). */
function stagedFiles(dir: string, withTemps = false): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return entries.filter((entry) => (withTemps || !basename(entry).startsWith(".")) && isFile(join(dir, entry)));
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Publishing order: everything else, then external data, then the models that point at it. */
function publishRank(file: string): number {
  if (file === MANIFEST_FILE) return 3; // last: it names files that are all in place by then
  if (file.endsWith(".onnx")) return 2;
  if (file.endsWith(".onnx.data")) return 1;
  return 0;
}
