// The export manifest, export_manifest.json: written by every model export beside its model,
// last (after every file it names), it lists the files of that export by path relative to the
// folder, with size and sha256, and the source model and settings. It is the one record of which
// files make up an export, whatever the layout: a runtime loads the model it names, reads only
// files it lists (another export's leftovers in the same folder are never used), and refuses a
// folder whose listed files are missing or differ, naming the file. A folder exported before
// manifests existed has none: runtimes then read it as they did (the legacy rules of layout.ts).
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { writeFileAtomic } from "../common/atomic.js";
import { isPlainObject, quote } from "../common/messages.js";
import { FileKindError, readRegularText, regularFileStats } from "../common/regular-file.js";

export const MANIFEST_FILE = "export_manifest.json";
const MANIFEST_FORMAT = "jazzmine-export-manifest";
const MANIFEST_VERSION = 1;
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

export interface ExportManifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
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

/** Hashes the export's files in `dir` and writes the manifest there (atomically). */
export async function writeManifest(dir: string, init: ManifestInit): Promise<ExportManifest> {
  const paths = [...new Set(init.files.map(toManifestPath))].filter((path) => path !== MANIFEST_FILE).sort();
  const model = toManifestPath(init.model);
  if (!paths.includes(model)) throw new Error(`the manifest's model ${model} is not among the export's files`);
  const files: ManifestFile[] = await Promise.all(
    paths.map(async (path) => ({ path, bytes: statSync(join(dir, path)).size, sha256: await fileSha256(join(dir, path)) })),
  );
  const manifest: ExportManifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    producer: init.producer,
    created: new Date().toISOString(),
    source: init.source,
    settings: init.settings,
    model,
    files,
  };
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** The manifest of `dir`, or undefined for a folder without one (exported before manifests). */
export function readManifest(dir: string): ExportManifest | undefined {
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
  if (value.version !== MANIFEST_VERSION) throw fail(`version ${quote(String(value.version))}, this version reads ${MANIFEST_VERSION}`);
  if (!Array.isArray(value.files)) throw fail("no files list");
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
      throw fail(`files[${i}] is not { path inside the folder, bytes, sha256 }`);
    }
    return { path, bytes, sha256 };
  });
  if (typeof value.model !== "string" || !files.some((f) => f.path === value.model)) throw fail("its model is not among its files");
  return { ...(value as unknown as ExportManifest), files };
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
 * sha256): the first that is missing or differs is a ManifestError naming it.
 */
export async function checkManifestFiles(dir: string, manifest: ExportManifest): Promise<void> {
  checkManifestSizes(dir, manifest);
  for (const file of manifest.files) {
    const sha256 = await fileSha256(join(dir, file.path));
    if (sha256 !== file.sha256) throw staleFile(dir, file, `sha256 ${sha256.slice(0, 12)}…`);
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

/** `path` relative to the folder, '/'-separated (a manifest's paths are the same on every system). */
function toManifestPath(path: string): string {
  return path.split(sep).join("/");
}

/** A relative path that stays inside the folder: no absolute path, no '..' or empty parts. */
function isFolderPath(path: string): boolean {
  return !path.includes("\\") && !path.split("/").some((part) => part === "" || part === "." || part === "..");
}

/**
 * Hashes this process started or computed for files it wrote, by absolute path, with the file's
 * identity then (size, mtime, inode): a file still the same is not read again — neither when the
 * manifest is written nor when the export's load check opens the staged folder right after.
 */
const knownHashes = new Map<string, { identity: string; sha256: Promise<string> }>();

function identityOf(path: string): string {
  const { size, mtimeMs, ino } = statSync(path);
  return `${size}:${mtimeMs}:${ino}`;
}

/**
 * Starts hashing a file the export has just written, so that writing the manifest does not wait
 * for it: an FP32 model is hashed while onnxruntime loads it for verification.
 */
export function hashInBackground(path: string): void {
  const identity = identityOf(path);
  const sha256 = sha256Of(path);
  sha256.catch(() => {}); // a file removed meanwhile (a failed variant) is hashed again if it is listed
  knownHashes.set(resolve(path), { identity, sha256 });
}

/** The sha256 of a file: the hash this process already has when the file is still as it was then. */
async function fileSha256(path: string): Promise<string> {
  const key = resolve(path);
  const identity = identityOf(path);
  const known = knownHashes.get(key);
  if (known && known.identity === identity) {
    const hash = await known.sha256.catch(() => undefined);
    if (hash) return hash;
  }
  const sha256 = sha256Of(path);
  knownHashes.set(key, { identity, sha256 });
  return sha256;
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
