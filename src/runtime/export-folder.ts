// How every runtime (Embedder, Reranker, SparseEmbedder, MultiVectorEmbedder) opens an export
// folder: the model of the export its manifest names (artifact/layout.ts: the most recent, or
// the one of the `file` or `precision` asked for), loaded while that export's files are checked
// (size, sha256). A stale or missing listed file is the error to report, even when
// loading failed on it first; a runtime loaded over a stale folder is closed again.
import { type ExportFolder, openExportFolder } from "../artifact/layout.js";
import { ManifestError, checkManifestFiles } from "../artifact/manifest.js";

export interface FolderRequest {
  dir: string;
  /** The caller's `file` and `precision` options. */
  file: string | undefined;
  precision?: string | undefined;
  /** Each runtime's own error class. */
  fail: (message: string) => Error;
  /** How the caller's user passes `file` (the CLI: `--file <name>`). */
  fileOption?: string;
}

export async function loadExportFolder<T extends { close(): Promise<void> }>(
  request: FolderRequest,
  load: (folder: ExportFolder) => Promise<T>,
): Promise<T> {
  const { dir, fail } = request;
  const folder = openExportFolder(
    dir,
    {
      ...(request.file !== undefined ? { file: request.file } : {}),
      ...(request.precision !== undefined ? { precision: request.precision } : {}),
    },
    fail,
    request.fileOption,
  );
  const stale = folder.manifest ? staleFileError(folder, fail) : Promise.resolve(undefined);
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

/** The manifest check's error, or undefined when every listed file matches. */
async function staleFileError(folder: ExportFolder, fail: (message: string) => Error): Promise<Error | undefined> {
  try {
    await checkManifestFiles(folder.dir, folder.manifest!);
    return undefined;
  } catch (error) {
    return error instanceof ManifestError ? fail(error.message) : (error as Error);
  }
}
