// The export manifest, export_manifest.json: written by every model export beside its model,
// last (after every file it names). It lists every export published into the folder (FP32, INT8,
// FP16, INT4 may sit side by side), each with its files by path relative to the folder (size,
// sha256), its source model and settings. A later export adds its entry, or replaces the one of
// the same model file, and keeps the others unless their model file is gone or it replaced one
// of their files with other bytes. It is the one record of which files make up an export,
// whatever the layout: a runtime loads the model of one entry (the most recent, or the one asked
// for), reads only files that entry lists, and refuses it when a listed file is missing or
// differs, naming the file. Version 1 manifests (one export) are read as one entry; a folder
// exported before manifests has none: runtimes then read it as they did (layout.ts' legacy rules).
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { writeFileAtomic } from "../common/atomic.js";
import type { WriteModelResult } from "../graph/onnx-file.js";
import { isPlainObject, quote } from "../common/messages.js";
import { FileKindError, readRegularText, regularFileStats } from "../common/regular-file.js";
import { type FileIdentity, VerifiedFiles, type VerifyMode, fileIdentity, sameIdentity, vouchInProcess } from "./verified-files.js";

export const MANIFEST_FILE = "export_manifest.json";
const MANIFEST_FORMAT = "jazzmine-export-manifest";
const MANIFEST_VERSION = 2;
/** Version 1: the one export's fields at the top level. */
const SINGLE_EXPORT_VERSION = 1;
/** A manifest lists a handful of files: a larger one is not a manifest (and is not read). */
const MAX_MANIFEST_BYTES = 16 * 2 ** 20;

export interface ManifestFile {
  /** Relative to the export folder, '/'-separated. */
  path: string;
  bytes: number;
  sha256: string;
}

export interface ManifestSource {
  /** The model id or folder the export was given. */
  model: string;
  /** Hub ids: the revision asked for and the commit it resolved to. */
  revision?: string;
  commit?: string;
}

/** One export's entry. */
export interface ExportManifest {
  /** "@jazzmine/embedding <version>". */
  producer: string;
  /** ISO time the export finished. */
  created: string;
  source: ManifestSource;
  /** What the export was asked for (precision, layout, opset, task, pooling…). */
  settings: Record<string, unknown>;
  /** The model file a runtime loads by default (one of `files`). */
  model: string;
  files: ManifestFile[];
}

/** The folder's manifest: its exports, oldest first (the last is the most recent). */
export interface FolderManifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  exports: ExportManifest[];
}

/** A folder whose files do not match its manifest (or a manifest that cannot be read). */
export class ManifestError extends Error {
  constructor(
    message: string,
    /** The file at fault, relative to the folder. */
    readonly file: string,
  ) {
    super(message);
    this.name = "ManifestError";
  }
}

export interface ManifestInit {
  /** The files of the export, relative to `dir` (the manifest itself excluded). */
  files: readonly string[];
  model: string;
  source: ManifestSource;
  settings: Record<string, unknown>;
  producer: string;
}

/** Hashes the export's files in `dir` (with `hashes` started early) and writes the manifest of this one export there (atomically). */
export async function writeManifest(dir: string, init: ManifestInit, hashes = new BackgroundHashes()): Promise<ExportManifest> {
  const paths = [...new Set(init.files.map(toManifestPath))].filter((path) => path !== MANIFEST_FILE).sort();
  const model = toManifestPath(init.model);
  if (!paths.includes(model)) throw new Error(`the manifest's model ${model} is not among the export's files`);
  const files: ManifestFile[] = await Promise.all(
    paths.map(async (path) => ({ path, bytes: statSync(join(dir, path)).size, sha256: await hashes.sha256(join(dir, path)) })),
  );
  const manifest: ExportManifest = {
    producer: init.producer,
    created: new Date().toISOString(),
    source: init.source,
    settings: init.settings,
    model,
    files,
  };
  writeFolderManifest(dir, [manifest]);
  return manifest;
}

function writeFolderManifest(dir: string, exports: ExportManifest[]): void {
  const manifest: FolderManifest = { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, exports };
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The manifest of `dir`, or undefined for a folder without one (exported before manifests). */
export function readManifest(dir: string): FolderManifest | undefined {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return undefined;
  const fail = (why: string) =>
    new ManifestError(`${path} is not an export manifest this version reads (${why}); export the model into ${dir} again`, MANIFEST_FILE);
  let text: string;
  try {
    text = readRegularText(path, MAX_MANIFEST_BYTES);
  } catch (error) {
    if (error instanceof FileKindError) throw new ManifestError(`${error.message}; export the model into ${dir} again`, MANIFEST_FILE);
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail(`not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value) || value.format !== MANIFEST_FORMAT) throw fail(`format is not "${MANIFEST_FORMAT}"`);
  if (value.version === SINGLE_EXPORT_VERSION)
    return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, exports: [checkEntry(value, "", fail)] };
  if (value.version !== MANIFEST_VERSION)
    throw fail(`version ${quote(String(value.version))}, this version reads ${SINGLE_EXPORT_VERSION} and ${MANIFEST_VERSION}`);
  if (!Array.isArray(value.exports) || value.exports.length === 0) throw fail("no exports list");
  const exports = value.exports.map((entry: unknown, i: number) => checkEntry(entry, `exports[${i}].`, fail));
  return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, exports };
}

/** One export's entry, its listed paths checked to stay inside the folder. */
function checkEntry(value: unknown, at: string, fail: (why: string) => ManifestError): ExportManifest {
  if (!isPlainObject(value)) throw fail(`${at || "the manifest "}is not an object`);
  if (!Array.isArray(value.files)) throw fail(`${at}files is missing`);
  const files = value.files.map((entry: unknown, i: number) => {
    const { path, bytes, sha256 } = (isPlainObject(entry) ? entry : {}) as Record<string, unknown>;
    // A listed path is read: it must stay inside the folder.
    if (
      typeof path !== "string" ||
      !isFolderPath(path) ||
      typeof bytes !== "number" ||
      typeof sha256 !== "string" ||
      !/^[0-9a-f]{64}$/.test(sha256)
    ) {
      throw fail(`${at}files[${i}] is not { path inside the folder, bytes, sha256 }`);
    }
    return { path, bytes, sha256 };
  });
  if (typeof value.model !== "string" || !files.some((f) => f.path === value.model)) throw fail(`${at}model is not among its files`);
  const { producer, created, source, settings, model } = value as unknown as ExportManifest;
  return { producer, created, source, settings: isPlainObject(settings) ? settings : {}, model, files };
}

/** What merging an export into a folder's manifest left out: each earlier entry dropped, and why. */
export interface DroppedExport {
  model: string;
  why: string;
}

/**
 * `added` merged into the exports of `previous` (the folder's manifest before it was published):
 * an entry of the same model file is replaced; an entry whose model file is gone (`exists` says),
 * or one of whose files `added` rewrote with other bytes, is dropped; the others are kept.
 */
export function mergeExports(
  previous: readonly ExportManifest[],
  added: ExportManifest,
  exists: (path: string) => boolean,
): { exports: ExportManifest[]; dropped: DroppedExport[] } {
  const rewritten = new Map(added.files.map((file) => [file.path, file.sha256]));
  const replaced = (file: ManifestFile) => (rewritten.get(file.path) ?? file.sha256) !== file.sha256;
  const dropped: DroppedExport[] = [];
  const kept: ExportManifest[] = [];
  for (const entry of previous) {
    if (entry.model === added.model) continue;
    // A report (quantization_report.json of INT8 then INT4) is not read by runtimes: the entry only loses it.
    const read = entry.files.filter((file) => !(replaced(file) && isReport(file.path)));
    const why = !exists(entry.model) ? "its model file is gone" : read.filter(replaced).map((f) => `${f.path} was replaced`)[0];
    if (why) dropped.push({ model: entry.model, why });
    else kept.push({ ...entry, files: read });
  }
  return { exports: [...kept, added], dropped };
}

/**
 * Publishes the one-export manifest staged at `staged` into `dir`: merged with the manifest
 * already there (an unreadable one is replaced). Returns the entries it dropped.
 */
export function publishManifest(staged: string, dir: string): DroppedExport[] {
  const added = readManifest(staged)!.exports.at(-1)!;
  let previous: ExportManifest[] = [];
  try {
    previous = readManifest(dir)?.exports ?? [];
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
  }
  const { exports, dropped } = mergeExports(previous, added, (path) => existsSync(join(dir, path)));
  writeFolderManifest(dir, exports);
  return dropped;
}

/** Whether `path` (relative to the folder) is one of the manifest's files. */
export function lists(manifest: ExportManifest, path: string): boolean {
  const wanted = toManifestPath(path);
  return manifest.files.some((file) => file.path === wanted);
}

/** The manifest's model files (.onnx), relative to the folder. */
export function manifestModels(manifest: ExportManifest): string[] {
  return manifest.files.map((file) => file.path).filter((path) => path.endsWith(".onnx"));
}

/**
 * Checks every listed file of `dir` against `manifest` without reading any: each must be a
 * regular file (a FIFO or a device, even behind a symlink, is refused) of the recorded size. The
 * first that is not is a ManifestError naming it. Runtimes call it before reading the folder.
 */
export function checkManifestSizes(dir: string, manifest: ExportManifest): void {
  for (const file of manifest.files) {
    const path = join(dir, file.path);
    let bytes: number;
    try {
      bytes = regularFileStats(path).size;
    } catch (error) {
      if (error instanceof FileKindError) throw new ManifestError(`${error.message}; ${againInto(dir)}`, file.path);
      throw new ManifestError(`${path} is missing, but ${MANIFEST_FILE} lists it as part of the export; ${againInto(dir)}`, file.path);
    }
    if (bytes !== file.bytes) throw staleFile(dir, file, `${bytes} bytes`);
  }
}

/**
 * Checks every listed file of `dir` against `manifest` (type and size of them all, then each
 * sha256): the first that is missing or differs is a ManifestError naming it. `verify` "cached"
 * (default) skips the hash of a file the user's memo (verified-files.ts) vouches for, unchanged
 * since it was verified; "full" hashes every file. Either way a file verified is remembered.
 */
export async function checkManifestFiles(
  dir: string,
  manifest: ExportManifest,
  verify: VerifyMode = "cached",
  memo: VerifiedFiles = VerifiedFiles.read(),
): Promise<void> {
  checkManifestSizes(dir, manifest);
  try {
    for (const file of manifest.files) {
      const path = join(dir, file.path);
      const before = fileIdentity(path);
      if (verify === "cached" && memo.vouches(before, file.sha256)) continue;
      const sha256 = await sha256Of(path);
      if (sha256 !== file.sha256) throw staleFile(dir, file, `sha256 ${sha256.slice(0, 12)}…`);
      // Remembered only when nothing touched the file while it was read.
      if (sameIdentity(before, fileIdentity(path))) memo.remember(before, sha256);
    }
  } finally {
    memo.save();
  }
}

function againInto(dir: string): string {
  return `export the model into ${dir} again`;
}

function staleFile(dir: string, file: ManifestFile, found: string): ManifestError {
  const recorded = `${MANIFEST_FILE} records ${file.bytes} bytes, sha256 ${file.sha256.slice(0, 12)}…`;
  return new ManifestError(
    `${join(dir, file.path)} is not the file this export wrote (${found}; ${recorded}): another export or an edit replaced it; ${againInto(dir)}`,
    file.path,
  );
}

/** Reports written beside a model (quantization_report.json, vector_report.json, …): read by people, not runtimes. */
function isReport(path: string): boolean {
  return path.endsWith("_report.json");
}

/** `path` relative to the folder, '/'-separated (a manifest's paths are the same on every system). */
function toManifestPath(path: string): string {
  return path.split(sep).join("/");
}

/** A relative path that stays inside the folder: no absolute path, no '..' or empty parts. */
function isFolderPath(path: string): boolean {
  return !path.includes("\\") && !path.split("/").some((part) => part === "" || part === "." || part === "..");
}

/**
 * Hashes of files an export has just written: given by the writer that hashed the bytes as it
 * wrote them (`known`), so that writing the manifest does not read the model back; any other
 * file is hashed when the manifest is written. One per export (its workspace holds it), by
 * absolute path, with the identity the file had when it was hashed. Every hash the manifest
 * records is vouched for in this process (verified-files.ts), so that the load check before
 * publishing does not hash the files again.
 */
export class BackgroundHashes {
  private readonly known = new Map<string, { identity: FileIdentity; sha256: string }>();

  /** The bytes of `path`, as it is now, have `sha256` (the writer hashed them). */
  written(path: string, sha256: string): void {
    this.known.set(resolve(path), { identity: fileIdentity(path), sha256 });
  }

  /** A model writeModel wrote with its sha256 option: its file and its external data file. */
  writtenModel(model: WriteModelResult): void {
    if (model.sha256) this.written(model.path, model.sha256);
    if (model.externalDataPath && model.externalDataSha256) this.written(model.externalDataPath, model.externalDataSha256);
  }

  /** The sha256 of a file: the writer's when the file is still as it was then. */
  async sha256(path: string): Promise<string> {
    const known = this.known.get(resolve(path));
    this.known.delete(resolve(path));
    const now = fileIdentity(path);
    if (known && sameIdentity(known.identity, now)) {
      vouchInProcess(now, known.sha256);
      return known.sha256;
    }
    const sha256 = await sha256Of(path);
    if (sameIdentity(now, fileIdentity(path))) vouchInProcess(now, sha256);
    return sha256;
  }
}

/** Large reads: a model file hashed in 64 KiB chunks (the stream default) takes twice as long. */
const HASH_CHUNK_BYTES = 8 * 2 ** 20;

function sha256Of(path: string): Promise<string> {
  return new Promise((done, fail) => {
    const hash = createHash("sha256");
    createReadStream(path, { highWaterMark: HASH_CHUNK_BYTES })
      .on("data", (chunk) => hash.update(chunk))
      .on("error", fail)
      .on("end", () => done(hash.digest("hex")));
  });
}
