// .onnx files on disk (Node): the streaming writer (src/graph/onnx-writer.ts) into temp files
// renamed into place, the reader (src/graph/onnx-reader.ts) over a file and its folder.
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { createAtomicallyAsync } from "../common/atomic.js";
import { ExportError } from "../common/errors.js";
import { errorMessage } from "../common/messages.js";
import { fileHandleSink, folderFiles } from "../common/node-files.js";
import type { ByteSink } from "../common/files.js";
import type { Model } from "./ir.js";
import { decodeModel } from "./onnx-reader.js";
import { PlannedModel, type WriteModelOptions } from "./onnx-writer.js";

export interface WriteModelResult {
  path: string;
  /** Size of the .onnx file. */
  bytes: number;
  externalDataPath?: string;
  externalDataBytes?: number;
}

/** The external data file writeModel puts beside `path` when the initializers need one. */
export function externalDataPathOf(path: string): string {
  return `${path}.data`;
}

/** Removes a written model: its .onnx file and its external data file, if any. */
export function removeModelFiles(path: string): void {
  rmSync(path, { force: true });
  rmSync(externalDataPathOf(path), { force: true });
}

/** Bytes of a written model: its .onnx file plus its external data file, if any. */
export function modelFileBytes(path: string): { bytes: number; externalData: boolean } {
  const data = externalDataPathOf(path);
  const externalData = existsSync(data);
  return { bytes: statSync(path).size + (externalData ? statSync(data).size : 0), externalData };
}

/**
 * Streams the model to `path` (via a temp file renamed into place), with initializers either
 * inline or in `<basename>.data` beside it. On failure nothing new is left behind and an existing
 * file at `path` is untouched.
 */
export async function writeModel(model: Model, path: string, options: WriteModelOptions = {}): Promise<WriteModelResult> {
  const dataPath = externalDataPathOf(path);
  try {
    const planned = new PlannedModel(model, basename(dataPath), options);
    const { signal } = options;
    await createAtomicallyAsync(path, async (modelTemp) => {
      await writeNewFile(modelTemp, (sink) => planned.writeModelFile(sink, signal));
      // Data first: a model file must never point at data that is not there yet.
      if (planned.externalDataBytes !== undefined) {
        await createAtomicallyAsync(dataPath, (dataTemp) => writeNewFile(dataTemp, (sink) => planned.writeExternalData(sink, signal)));
      }
    });
    return {
      path,
      bytes: planned.modelBytes,
      ...(planned.externalDataBytes !== undefined ? { externalDataPath: dataPath, externalDataBytes: planned.externalDataBytes } : {}),
    };
  } catch (err) {
    if (err instanceof ExportError) throw err; // a file-system failure, already one line naming the file
    throw new Error(`failed to write ONNX model ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Creates the file `path` (it must not exist) and lets `write` stream into it. */
async function writeNewFile(path: string, write: (sink: ByteSink) => Promise<void>): Promise<void> {
  const handle = await open(path, "wx");
  try {
    await write(fileHandleSink(handle));
  } finally {
    await handle.close();
  }
}

/** Reads a .onnx file (its external data read from the file's folder when asked for). */
export function readModel(path: string): Model {
  try {
    return decodeModel(readFileSync(path), { folder: folderFiles(dirname(resolve(path))) });
  } catch (err) {
    throw new Error(`failed to read ONNX model ${path}: ${errorMessage(err)}`, { cause: err });
  }
}
