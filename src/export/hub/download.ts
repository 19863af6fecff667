// One file from the Hub: its metadata (HEAD: etag, size, CDN location), then its bytes
// into blobs/<etag>.incomplete — resumed with Range after a cut, verified against size and
// etag (sha256 of LFS files, git blob sha1 of small ones) — and renamed into blobs/<etag>.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { open } from "node:fs/promises";
import { ExportError, fileSystemError } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { type ProgressCallback, startTask } from "../../common/progress.js";
import { formatBytes } from "../progress.js";
import { HubHttpError, HubNetworkError, hubRequest, networkReason } from "./http.js";
import type { HubSettings } from "./settings.js";
import { errorMessage } from "../../common/messages.js";

export interface FileMetadata {
  /** X-Linked-Etag (LFS: sha256) or ETag (git blob sha1), without quotes. */
  etag: string;
  /** X-Linked-Size or Content-Length. */
  size: number | undefined;
  /** Where the bytes are: the CDN URL when the Hub redirects there. */
  location: string;
}

/** HEAD of a resolve URL; stops at the redirect to another origin, whose headers describe the file. */
export async function fetchFileMetadata(settings: HubSettings, url: string): Promise<FileMetadata> {
  const { response, url: answered } = await hubRequest(settings, url, {
    method: "HEAD",
    stopAtCrossOriginRedirect: true,
    signal: AbortSignal.timeout(settings.metadataTimeoutMs),
  });
  const headers = response.headers;
  const etag = normalizeEtag(headers.get("x-linked-etag") ?? headers.get("etag"));
  if (!etag) throw new ExportError(`${url} answered without an ETag; is HF_ENDPOINT (${settings.endpoint}) a Hugging Face Hub?`);
  const size = Number(headers.get("x-linked-size") ?? headers.get("content-length") ?? Number.NaN);
  const location = response.status >= 300 && response.status < 400 ? new URL(headers.get("location")!, answered).href : answered;
  return { etag, size: Number.isFinite(size) ? size : undefined, location };
}

/** `W/"abc"` → `abc` (huggingface_hub names blobs by the bare etag). */
function normalizeEtag(etag: string | null): string | undefined {
  const bare = etag?.replace(/^W\//, "").replace(/^"|"$/g, "").trim();
  return bare || undefined;
}

export interface BlobDownload {
  /** The repo path, for messages. */
  file: string;
  metadata: FileMetadata;
  blobPath: string;
  incompletePath: string;
}

export interface DownloadOptions {
  /** Byte progress of each file (stage "download"). */
  onProgress: ProgressCallback | undefined;
  logger: Logger;
  /** Retries after a cut, stall or server error, each resuming where the last stopped (default 4). */
  retries?: number;
  retryDelayMs?: number;
}

/** Thrown for failures worth another attempt (network, 5xx, short body, checksum). */
class RetryableDownloadError extends Error {}

/** Downloads into the .incomplete file (resuming it), verifies it and renames it to the blob. */
export async function downloadBlob(settings: HubSettings, target: BlobDownload, options: DownloadOptions): Promise<void> {
  const retries = options.retries ?? 4;
  try {
    mkdirSync(dirname(target.blobPath), { recursive: true });
  } catch (error) {
    throw fileSystemError("create the Hub cache folder", dirname(target.blobPath), error);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchIntoIncomplete(settings, target, options);
      await verifyIncomplete(target);
      break;
    } catch (error) {
      const retryable = error instanceof RetryableDownloadError || error instanceof HubNetworkError || isServerError(error);
      if (!retryable || attempt >= retries) throw downloadError(target, error, retryable);
      const have = fileSize(target.incompletePath);
      options.logger.warn(
        `download of ${target.file} interrupted (${reasonOf(error)})` +
          `${have > 0 ? ` after ${formatBytes(have)}; resuming` : "; retrying"} (${attempt + 1}/${retries})`,
      );
      await new Promise((resolve) => setTimeout(resolve, (options.retryDelayMs ?? 1000) * 2 ** attempt));
    }
  }
  try {
    renameSync(target.incompletePath, target.blobPath);
  } catch (error) {
    throw fileSystemError("move the download into the Hub cache at", target.blobPath, error);
  }
}

async function fetchIntoIncomplete(settings: HubSettings, target: BlobDownload, options: DownloadOptions): Promise<void> {
  const { size, location } = target.metadata;
  let offset = fileSize(target.incompletePath);
  if (size !== undefined && offset > size) {
    rmSync(target.incompletePath, { force: true });
    offset = 0;
  }
  if (size !== undefined && offset === size && size > 0) return;

  const controller = new AbortController();
  let stall: NodeJS.Timeout | undefined;
  const armStall = () => {
    clearTimeout(stall);
    stall = setTimeout(() => controller.abort(new Error(`no data for ${settings.downloadTimeoutMs / 1000} s`)), settings.downloadTimeoutMs);
  };
  armStall();
  let response: Response;
  try {
    ({ response } = await hubRequest(settings, location, {
      method: "GET",
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      signal: controller.signal,
    }));
  } catch (error) {
    clearTimeout(stall);
    if (error instanceof HubHttpError && error.status === 416) {
      rmSync(target.incompletePath, { force: true }); // our partial file does not fit the file any more
      throw new RetryableDownloadError("the server rejected the resume range");
    }
    throw error;
  }
  if (offset > 0 && !(response.status === 206 && rangeStart(response) === offset)) offset = 0; // range ignored: start over

  const task = startTask(options.onProgress, { stage: "download", label: target.file, unit: "bytes", total: size, done: offset });
  const file = await open(target.incompletePath, offset > 0 ? "a" : "w").catch((error: unknown) => {
    clearTimeout(stall);
    task.fail();
    throw fileSystemError("write the download", target.incompletePath, error);
  });
  let written = offset;
  let diskError: unknown;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      armStall();
      await file.write(chunk).catch((error: unknown) => {
        diskError = error;
        throw error;
      });
      written += chunk.byteLength;
      task.advance(chunk.byteLength);
    }
  } catch (error) {
    task.fail();
    if (diskError) throw fileSystemError("write the download", target.incompletePath, diskError);
    throw new RetryableDownloadError(
      controller.signal.aborted ? String((controller.signal.reason as Error)?.message) : networkReason(error),
    );
  } finally {
    clearTimeout(stall);
    await file.close();
  }
  if (size !== undefined && written < size) {
    task.fail();
    throw new RetryableDownloadError(`the connection closed after ${formatBytes(written)} of ${formatBytes(size)}`);
  }
  task.done();
}

/** Size and checksum of the finished .incomplete file against the HEAD metadata. */
async function verifyIncomplete(target: BlobDownload): Promise<void> {
  const { size, etag } = target.metadata;
  const actualSize = fileSize(target.incompletePath);
  if (size !== undefined && actualSize !== size) {
    rmSync(target.incompletePath, { force: true });
    throw new RetryableDownloadError(`size ${actualSize} instead of ${size} bytes`);
  }
  const digest = await digestFor(etag, actualSize, target.incompletePath);
  if (digest !== undefined && digest !== etag) {
    rmSync(target.incompletePath, { force: true });
    throw new RetryableDownloadError(`checksum mismatch (expected ${etag}, got ${digest})`);
  }
}

/** sha256 for a 64-hex etag, git's blob sha1 for a 40-hex one; undefined for other etags. */
async function digestFor(etag: string, size: number, path: string): Promise<string | undefined> {
  const hash = /^[0-9a-f]{64}$/.test(etag) ? createHash("sha256") : /^[0-9a-f]{40}$/.test(etag) ? createHash("sha1") : undefined;
  if (!hash) return undefined;
  if (etag.length === 40) hash.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function rangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "");
  return match ? Number(match[1]) : undefined;
}

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function isServerError(error: unknown): boolean {
  return error instanceof HubHttpError && (error.status >= 500 || error.status === 429);
}

function reasonOf(error: unknown): string {
  if (error instanceof HubNetworkError) return error.reason;
  if (error instanceof HubHttpError) return `HTTP ${error.status}`;
  return errorMessage(error);
}

function downloadError(target: BlobDownload, error: unknown, retryable: boolean): unknown {
  if (!retryable) return error;
  const kept = fileSize(target.incompletePath);
  return new ExportError(
    `download of ${target.file} failed (${reasonOf(error)})` +
      (kept > 0 ? `; ${formatBytes(kept)} are kept and the next run resumes from there` : "; check your connection and run again"),
    { cause: error },
  );
}
