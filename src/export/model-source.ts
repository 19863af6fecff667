// Where a model id's files live. A local folder is used as is; Hub ids go through a
// resolver (the Hub client) that returns a local snapshot folder.
import { statSync } from "node:fs";
import { basename, resolve } from "node:path";
import { ExportError } from "../common/errors.js";
import type { ProgressCallback } from "../common/progress.js";
import { repoIdProblem } from "./hub/names.js";

export type FilePurpose = "tokenizer" | "model";

export interface ResolveOptions {
  /** Download progress of this call (stage "download", bytes per file). */
  onProgress?: ProgressCallback;
}

export interface ModelResolver {
  /** A local folder holding the files needed for `purpose` (downloading them if it must). */
  resolve(modelId: string, purpose: FilePurpose, options?: ResolveOptions): Promise<string>;
  /** The revision and commit a Hub id resolved to (recorded in the export manifest). */
  snapshotOf?(modelId: string): { revision: string; commit: string } | undefined;
}

export function isLocalFolder(modelId: string): boolean {
  try {
    return statSync(modelId).isDirectory();
  } catch {
    return false;
  }
}

export function isHubId(modelId: string): boolean {
  return repoIdProblem(modelId) === undefined;
}

/** File-name slug: "org/name" → "org-name"; a local folder → its base name. */
export function modelSlug(modelId: string): string {
  const slug = isLocalFolder(modelId) ? basename(resolve(modelId)) : modelId.replaceAll("/", "-");
  return slug.replace(/[^\w.-]/g, "_");
}

/** Resolves local folders only; Hub ids need a Hub resolver. */
export const localOnlyResolver: ModelResolver = {
  async resolve(modelId) {
    if (isLocalFolder(modelId)) return modelId;
    const kind = isHubId(modelId) ? "a Hugging Face Hub id, but no Hub client is configured" : "neither a folder nor a Hub id (org/name)";
    throw new ExportError(`model "${modelId}" is ${kind}; pass a local model folder`);
  },
};
