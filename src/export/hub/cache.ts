// The huggingface_hub cache layout, so that Python and this tool fill and reuse one cache:
//   <cache>/models--org--name/blobs/<etag>                 file contents, named by etag
//                             snapshots/<commit>/<path>    relative symlinks to ../../blobs/<etag>
//                             refs/<revision>              the commit sha a branch/tag pointed to
//                             .no_exist/<commit>/<path>    empty markers: the repo has no such file
//   <cache>/.locks/models--org--name/                      lock files of downloads in progress
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { createAtomically, tempPathFor, writeFileAtomic } from "../../common/atomic.js";
import { ExportError } from "../../common/errors.js";
import { quote } from "../../common/messages.js";
import { checkEtag, checkRepoFile, checkRepoId, checkRevision } from "./names.js";

export const COMMIT_SHA = /^[0-9a-f]{40}$/;

export class RepoCache {
  /** models--org--name */
  readonly folderName: string;
  readonly folder: string;
  private static symlinksWork = new Map<string, boolean>();

  constructor(
    readonly cacheDir: string,
    readonly repoId: string,
  ) {
    // Every name is checked before it becomes part of a path (names.ts): nothing escapes the cache.
    this.folderName = `models--${checkRepoId(repoId).replaceAll("/", "--")}`;
    this.folder = join(cacheDir, this.folderName);
  }

  blobPath(etag: string): string {
    return join(this.folder, "blobs", checkEtag(etag, "the Hub"));
  }

  /** Partial download of a blob; huggingface_hub uses the same name, so either tool resumes it. */
  incompletePath(etag: string): string {
    return `${this.blobPath(etag)}.incomplete`;
  }

  /** Our lock file (own suffix: Python's filelock files next to it are flock()ed, not exclusive-created). */
  lockPath(etag: string): string {
    return join(this.cacheDir, ".locks", this.folderName, `${etag}.jazzmine.lock`);
  }

  snapshotDir(commit: string): string {
    if (!COMMIT_SHA.test(commit))
      throw new ExportError(`${quote(commit)} is not a commit sha (40 hex digits); is HF_ENDPOINT a Hugging Face Hub?`);
    return join(this.folder, "snapshots", commit);
  }

  pointerPath(commit: string, file: string): string {
    return join(this.snapshotDir(commit), ...checkRepoFile(file, "the Hub").split("/"));
  }

  /** The commit `revision` resolves to in the cache: a sha itself, else refs/<revision>. */
  cachedCommit(revision: string): string | undefined {
    if (COMMIT_SHA.test(revision)) return existsSync(this.snapshotDir(revision)) ? revision : undefined;
    const ref = join(this.folder, "refs", ...checkRevision(revision).split("/"));
    try {
      const commit = readFileSync(ref, "utf8").trim();
      return COMMIT_SHA.test(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  /** refs/<revision> ← commit (not for a revision that is the commit itself). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const path = join(this.folder, "refs", ...checkRevision(revision).split("/"));
    if (existsSync(path) && readFileSync(path, "utf8").trim() === commit) return;
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, commit);
  }

  /** Records that the repo has no `file` at `commit` (what huggingface_hub writes on a 404). */
  markMissing(commit: string, file: string): void {
    const path = join(this.folder, ".no_exist", commit, ...checkRepoFile(file, "the Hub").split("/"));
    if (existsSync(path)) return;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, "");
    } catch {
      // Only a hint for other tools; never worth failing an export over.
    }
  }

  hasFile(commit: string, file: string): boolean {
    try {
      return statSync(this.pointerPath(commit, file)).isFile();
    } catch {
      return false;
    }
  }

  /** Every file of the cached snapshot, as repo paths ("1_Pooling/config.json"). */
  snapshotFiles(commit: string): string[] {
    const dir = this.snapshotDir(commit);
    if (!existsSync(dir)) return [];
    return (readdirSync(dir, { recursive: true }) as string[])
      .filter((path) => {
        try {
          return statSync(join(dir, path)).isFile();
        } catch {
          return false; // a dangling link: its blob was deleted
        }
      })
      .map((path) => path.split(sep).join("/"))
      .sort();
  }

  /**
   * Puts `file` into the snapshot as a relative symlink to its blob (a copy where symlinks are
   * not allowed), replacing any previous entry atomically.
   */
  link(commit: string, file: string, etag: string): void {
    const pointer = this.pointerPath(commit, file);
    const blob = this.blobPath(etag);
    const fill = (temp: string) => {
      mkdirSync(dirname(pointer), { recursive: true });
      if (this.canSymlink()) symlinkSync(relative(dirname(pointer), blob), temp);
      else copyFileSync(blob, temp);
    };
    createAtomically(pointer, fill, "add to the Hub cache");
  }

  private canSymlink(): boolean {
    let works = RepoCache.symlinksWork.get(this.cacheDir);
    if (works === undefined) {
      const probe = tempPathFor(join(this.cacheDir, "symlink"), "probe");
      try {
        mkdirSync(this.cacheDir, { recursive: true });
        symlinkSync("target", probe);
        works = true;
      } catch {
        works = false;
      } finally {
        rmSync(probe, { force: true });
      }
      RepoCache.symlinksWork.set(this.cacheDir, works);
    }
    return works;
  }
}
