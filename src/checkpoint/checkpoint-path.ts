// A checkpoint named by a path on disk (Node): a model folder, an index file or one weights file,
// as the folder and entry the portable readers open (SafetensorsCheckpoint.open(...checkpointPath(p))).
import { statSync } from "node:fs";
import { basename, dirname } from "node:path";
import type { ModelFiles } from "../common/files.js";
import { folderFiles } from "../common/node-files.js";
import { WeightError } from "./weights.js";

/** The folder and entry file `path` names: a folder and no entry, or a file's folder and its name. */
export function checkpointPath(path: string): [ModelFiles, string | undefined] {
  let isFolder: boolean;
  try {
    isFolder = statSync(path).isDirectory();
  } catch {
    throw new WeightError(`${path}: no such file or folder; point at a model folder or a weights file`);
  }
  return isFolder ? [folderFiles(path), undefined] : [folderFiles(dirname(path)), basename(path)];
}
