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
import { HubHttpError, HubNetworkError, type HubRetryPolicy, hubRequest, networkReason } from "./http.js";
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
export async function fetchFileMetadata(settings: HubSettings, url: string, file: string, retry?: HubRetryPolicy): Promise<FileMetadata> {
  const { response, url: answered } = await hubRequest(settings, url, {
    method: "HEAD",
    stopAtCrossOriginRedirect: true,
    attemptSignal: () => AbortSignal.timeout(settings.metadataTimeoutMs),
    what: `${file} (metadata)`,
    ...(retry ? { retry } : {}),
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
  /** Retries after a cut or stall, each resuming where the last stopped (default 4). */
  retries?: number;
  retryDelayMs?: number;
  /** 429 and 5xx answers to the GET: asked again by this policy. */
  retry?: HubRetryPolicy;
}

/** Thrown for failures worth another attempt (network, short body, a resumed file that does not verify). */
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
      const resumedFrom = await fetchIntoIncomplete(settings, target, options);
      await verifyIncomplete(target, resumedFrom > 0);
      break;
    } catch (error) {
      // 429 and 5xx were asked again by hubRequest already; what is left of them is final.
      const retryable = error instanceof RetryableDownloadError || error instanceof HubNetworkError;
      if (!retryable || attempt >= retries) throw downloadError(target, error, retryable);
      const have = fileSize(target.incompletePath);
      options.logger.warn(
        `download of ${target.file} interrupted (${reasonOf(error)})` +
          `${have > 0 ? ` after ${formatBytes(have)}; resuming` : "; retrying"} (${attempt + 1}/${retries})`,
      );
      const wait = (options.retryDelayMs ?? 1000) * 2 ** attempt;
      await (options.retry?.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))))(wait);
    }
  }
  try {
    renameSync(target.incompletePath, target.blobPath);
  } catch (error) {
    throw fileSystemError("move the download into the Hub cache at", target.blobPath, error);
  }
}

/** Fetches the rest of the file into .incomplete; returns the offset it resumed from (0: from the start). */
async function fetchIntoIncomplete(settings: HubSettings, target: BlobDownload, options: DownloadOptions): Promise<number> {
  const { size, location } = target.metadata;
  let offset = fileSize(target.incompletePath);
  if (size !== undefined && offset > size) {
    rmSync(target.incompletePath, { force: true });
    offset = 0;
  }
  if (size !== undefined && offset === size && size > 0) return offset;

  let controller = new AbortController();
  let stall: NodeJS.Timeout | undefined;
  const armStall = () => {
    clearTimeout(stall);
    const current = controller;
    stall = setTimeout(() => current.abort(new Error(`no data for ${settings.downloadTimeoutMs / 1000} s`)), settings.downloadTimeoutMs);
  };
  let response: Response;
  try {
    ({ response } = await hubRequest(settings, location, {
      method: "GET",
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      // A fresh stall timer per attempt: a wait a Retry-After asks for is no stall.
      attemptSignal: () => {
        controller = new AbortController();
        armStall();
        return controller.signal;
      },
      what: target.file,
      ...(options.retry ? { retry: options.retry } : {}),
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
  return offset;
}

/**
 * Size and checksum of the finished .incomplete file against the HEAD metadata. A file resumed
 * from an earlier partial one may carry that one's bad bytes: it is downloaded again from the
 * start. A file fetched whole that does not match will not match the next time either: no retry.
 */
async function verifyIncomplete(target: BlobDownload, resumed: boolean): Promise<void> {
  const { size, etag } = target.metadata;
  const actualSize = fileSize(target.incompletePath);
  const mismatch = (reason: string) => {
    rmSync(target.incompletePath, { force: true });
    return resumed
      ? new RetryableDownloadError(`${reason} after resuming a partial download`)
      : new ExportError(
          `download of ${target.file} failed: ${reason}; the server sent other bytes than it announced, which asking again does not change — ` +
            "try later, or report it to the repository's owners",
        );
  };
  if (size !== undefined && actualSize !== size) throw mismatch(`size ${actualSize} instead of ${size} bytes`);
  const digest = await digestFor(etag, actualSize, target.incompletePath);
  if (digest !== undefined && digest !== etag) throw mismatch(`checksum mismatch (expected ${etag}, got ${digest})`);
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
