// How every runtime (Embedder, Reranker, SparseEmbedder, MultiVectorEmbedder) opens an export
// folder: the model its manifest names (artifact/layout.ts), loaded while the manifest's files
// are checked (size, sha256). A stale or missing listed file is the error to report, even when
// loading failed on it first; a runtime loaded over a stale folder is closed again.
import { statSync } from "node:fs";
import { type ExportFolder, openExportFolder } from "../artifact/layout.js";
import { ManifestError, checkManifestFiles } from "../artifact/manifest.js";

export interface FolderRequest {
  dir: string;
  /** The caller's `file` option. */
  file: string | undefined;
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
  const kind = pathKind(dir);
  if (kind !== "folder") {
    throw fail(
      `${dir} ${kind === "missing" ? "does not exist" : "is a file, not a folder"}; pass the folder an export wrote (model .onnx + tokenizer.json)`,
    );
  }
  const folder = openExportFolder(dir, request.file, fail, request.fileOption);
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

function pathKind(path: string): "folder" | "file" | "missing" {
  try {
    return statSync(path).isDirectory() ? "folder" : "file";
  } catch {
    return "missing";
  }
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
