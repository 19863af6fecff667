// .onnx files on disk (Node): the streaming writer (src/graph/onnx-writer.ts) into temp files
// renamed into place, the reader (src/graph/onnx-reader.ts) over a file and its folder.
import { type Hash, createHash } from "node:crypto";
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
  /** With the sha256 option: the hex sha256 of the .onnx file, and of its external data file. */
  sha256?: string;
  externalDataSha256?: string;
}

export interface WriteModelFileOptions extends WriteModelOptions {
  /** Hash each file's bytes (sha256) as they are written: a caller that records them never reads the file back. */
  sha256?: boolean;
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
export async function writeModel(model: Model, path: string, options: WriteModelFileOptions = {}): Promise<WriteModelResult> {
  const dataPath = externalDataPathOf(path);
  try {
    const planned = new PlannedModel(model, basename(dataPath), options);
    const { signal } = options;
    const hashes: { model?: string; data?: string } = {};
    await createAtomicallyAsync(path, async (modelTemp) => {
      hashes.model = await writeNewFile(modelTemp, options.sha256, (sink) => planned.writeModelFile(sink, signal));
      // Data first: a model file must never point at data that is not there yet.
      if (planned.externalDataBytes !== undefined) {
        await createAtomicallyAsync(dataPath, async (dataTemp) => {
          hashes.data = await writeNewFile(dataTemp, options.sha256, (sink) => planned.writeExternalData(sink, signal));
        });
      }
    });
    return {
      path,
      bytes: planned.modelBytes,
      ...(planned.externalDataBytes !== undefined ? { externalDataPath: dataPath, externalDataBytes: planned.externalDataBytes } : {}),
      ...(hashes.model ? { sha256: hashes.model } : {}),
      ...(hashes.data ? { externalDataSha256: hashes.data } : {}),
    };
  } catch (err) {
    if (err instanceof ExportError) throw err; // a file-system failure, already one line naming the file
    throw new Error(`failed to write ONNX model ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Creates the file `path` (it must not exist) and lets `write` stream into it; with `sha256`, returns the hex sha256 of what was written. */
async function writeNewFile(
  path: string,
  sha256: boolean | undefined,
  write: (sink: ByteSink) => Promise<void>,
): Promise<string | undefined> {
  const handle = await open(path, "wx");
  try {
    const fileSink = fileHandleSink(handle);
    const hash = sha256 ? createHash("sha256") : undefined;
    await write(hash ? hashingSink(fileSink, hash) : fileSink);
    return hash?.digest("hex");
  } finally {
    await handle.close();
  }
}

/** A sink that hashes the bytes handed to it; the writer hands them over in file order, unchanged until written. */
function hashingSink(sink: ByteSink, hash: Hash): ByteSink {
  let next = 0;
  return {
    write(bytes, position) {
      if (position !== next) throw new Error(`internal error: hashing sink got position ${position}, expected ${next}`);
      next += bytes.byteLength;
      hash.update(bytes);
      return sink.write(bytes, position);
    },
    ...(sink.allocate ? { allocate: (size: number) => sink.allocate!(size) } : {}),
  };
}

/** Reads a .onnx file (its external data read from the file's folder when asked for). */
export function readModel(path: string): Model {
  try {
    return decodeModel(readFileSync(path), { folder: folderFiles(dirname(resolve(path))) });
  } catch (err) {
    throw new Error(`failed to read ONNX model ${path}: ${errorMessage(err)}`, { cause: err });
  }
}
