// How every runtime (Embedder, Reranker, SparseEmbedder, MultiVectorEmbedder) opens an export
// folder: the model of the export its manifest names (artifact/layout.ts: the most recent, or
// the one of the `file` or `precision` asked for), loaded once the listed files are known to be
// regular files of the recorded sizes, while their sha256 is checked — once per version of a
// file: verified-files.ts remembers a verified one; `verify: "full"` hashes every file every
// time. A stale or missing listed file is the error to report, even when
// loading failed on it first; a runtime loaded over a stale folder is closed again.
import { statSync } from "node:fs";
import { type ExportFolder, openExportFolder } from "../artifact/layout.js";
import { ManifestError, checkManifestFiles, checkManifestSizes } from "../artifact/manifest.js";
import { VERIFY_MODES, type VerifyMode } from "../artifact/verified-files.js";
import { FileKindError, regularFileStats } from "../common/regular-file.js";

export interface FolderRequest {
  dir: string;
  /** The caller's `file` and `precision` options. */
  file: string | undefined;
  precision?: string | undefined;
  /** Each runtime's own error class. */
  fail: (message: string) => Error;
  /** How the caller's user passes `file` (the CLI: `--file <name>`). */
  fileOption?: string;
  /** How the listed files' content is checked (default "cached": verified-files.ts). */
  verify?: VerifyMode | undefined;
}

export async function loadExportFolder<T extends { close(): Promise<void> }>(
  request: FolderRequest,
  load: (folder: ExportFolder) => Promise<T>,
): Promise<T> {
  const { dir, fail } = request;
  const kind = pathKind(dir);
  if (kind !== "folder") {
    throw fail(
      `${dir} ${kind === "missing" ? "does not exist" : "is a file, not a folder"}; pass the folder an export wrote (model .onnx + tokenizer.json)`,
    );
  }
  const folder = openExportFolder(
    dir,
    {
      ...(request.file !== undefined ? { file: request.file } : {}),
      ...(request.precision !== undefined ? { precision: request.precision } : {}),
    },
    fail,
    request.fileOption,
  );
  const verify = checkedVerifyMode(request.verify, fail);
  checkBeforeReading(folder, fail);
  const stale = folder.manifest ? staleFileError(folder, verify, fail) : Promise.resolve(undefined);
  let loaded: T;
  try {
    loaded = await load(folder);
  } catch (error) {
    throw (await stale) ?? error;
  }
  const problem = await stale;
  if (problem) {
    await loaded.close();
    throw problem;
  }
  return loaded;
}

/**
 * Nothing of the folder is read before its files are known to be regular files (not a FIFO or a
 * device, even behind a symlink) of the sizes its manifest records; a legacy folder's model file.
 */
function checkBeforeReading(folder: ExportFolder, fail: (message: string) => Error): void {
  try {
    if (folder.manifest) checkManifestSizes(folder.dir, folder.manifest);
    else regularFileStats(folder.modelPath);
  } catch (error) {
    if (error instanceof ManifestError || error instanceof FileKindError) throw fail(error.message);
    throw error;
  }
}

/** JavaScript callers can pass anything: only "cached" and "full" are modes. */
function checkedVerifyMode(verify: unknown, fail: (message: string) => Error): VerifyMode {
  if (verify === undefined) return "cached";
  if (VERIFY_MODES.includes(verify as VerifyMode)) return verify as VerifyMode;
  throw fail(
    `verify must be one of ${VERIFY_MODES.map((mode) => `"${mode}"`).join(", ")}, not ${JSON.stringify(verify) ?? String(verify)}`,
  );
}

function pathKind(path: string): "folder" | "file" | "missing" {
  try {
    return statSync(path).isDirectory() ? "folder" : "file";
  } catch {
    return "missing";
  }
}

/** The manifest check's error, or undefined when every listed file matches. */
async function staleFileError(folder: ExportFolder, verify: VerifyMode, fail: (message: string) => Error): Promise<Error | undefined> {
  try {
    await checkManifestFiles(folder.dir, folder.manifest!, verify);
    return undefined;
  } catch (error) {
    return error instanceof ManifestError ? fail(error.message) : (error as Error);
  }
}
