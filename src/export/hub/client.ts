// The Hub as a ModelResolver: a Hub id at a revision becomes a snapshot folder in the shared
// huggingface_hub cache holding just the files the purpose needs. Offline (HF_HUB_OFFLINE) or
// with the endpoint unreachable, the cached snapshot of that revision is used.
import { existsSync, statSync } from "node:fs";
import { ExportError } from "../../common/errors.js";
import { type Logger, stderrLogger } from "../../common/log.js";
import { quote } from "../../common/messages.js";
import { type FilePurpose, type ModelResolver, type ResolveOptions, isLocalFolder } from "../model-source.js";
import type { ProgressCallback } from "../../common/progress.js";
import { progressFor } from "../progress.js";
import { COMMIT_SHA, RepoCache } from "./cache.js";
import { downloadBlob, fetchFileMetadata } from "./download.js";
import { HubHttpError, HubNetworkError, type HubRetryPolicy, hubRequest } from "./http.js";
import { withFileLock } from "./lock.js";
import { checkEtag, checkRevision, repoIdProblem } from "./names.js";
import { planFiles } from "./plan.js";
import { DEFAULT_REVISION, HubSettings } from "./settings.js";

export interface HubClientOptions {
  /** Endpoint, cache, token, offline: by default read from `env` on first use (HubSettings.fromEnv()). */
  settings?: HubSettings;
  /** The environment default settings come from (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Branch, tag or commit sha (default "main"). */
  revision?: string;
  logger?: Logger;
  /** Download progress events (default: lines through `logger`); a resolve call can pass its own. */
  onProgress?: ProgressCallback;
  /** Retries of a request answered 429 or 5xx, and of a download cut, each resuming with Range (default 4). */
  retries?: number;
  /** The first wait before a retry, doubled each time up to 8 s (default 1000 ms). */
  retryDelayMs?: number;
  /** The longest wait a Retry-After header may ask for (default 60 s). */
  maxRetryAfterMs?: number;
  /** Waits between retries (default: a timer); tests pass one that records them. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ResolvedSnapshot {
  modelId: string;
  revision: string;
  commit: string;
  /** snapshots/<commit> in the cache. */
  dir: string;
  /** "hub": checked against the endpoint; "cache": offline or the endpoint unreachable. */
  source: "hub" | "cache";
  /** Files downloaded by this client for this model (the others were cached). */
  downloaded: string[];
}

interface RepoInfo {
  commit: string;
  files: ReadonlySet<string>;
}

export class HubClient implements ModelResolver {
  readonly revision: string;
  private resolvedSettings: HubSettings | undefined;
  private readonly logger: Logger;
  private readonly onProgress: ProgressCallback;
  private readonly repoInfos = new Map<string, Promise<RepoInfo>>();
  private readonly snapshots = new Map<string, ResolvedSnapshot>();
  private readonly cacheNotices = new Set<string>();

  constructor(private readonly options: HubClientOptions = {}) {
    this.resolvedSettings = options.settings;
    this.revision = options.revision?.trim() || DEFAULT_REVISION;
    this.logger = options.logger ?? stderrLogger;
    this.onProgress = options.onProgress ?? progressFor(this.logger);
  }

  /** 429 and 5xx answers to any request (API, HEAD, GET): asked again, each wait said on the logger. */
  private get retryPolicy(): HubRetryPolicy {
    const { retries, retryDelayMs, maxRetryAfterMs, sleep } = this.options;
    return {
      ...(retries !== undefined ? { retries } : {}),
      ...(retryDelayMs !== undefined ? { baseDelayMs: retryDelayMs } : {}),
      ...(maxRetryAfterMs !== undefined ? { maxRetryAfterMs } : {}),
      ...(sleep ? { sleep } : {}),
      onWait: (message) => this.logger.warn(message),
    };
  }

  /** Read from the environment on first use: constructing a client, or resolving a local folder, touches nothing. */
  get settings(): HubSettings {
    return (this.resolvedSettings ??= HubSettings.fromEnv(this.options.env));
  }

  /** A local folder as is; a Hub id as its snapshot folder with the files for `purpose`. */
  async resolve(modelId: string, purpose: FilePurpose, options: ResolveOptions = {}): Promise<string> {
    if (isLocalFolder(modelId)) return modelId;
    const problem = repoIdProblem(modelId);
    if (problem) {
      throw new ExportError(
        `model ${quote(modelId)} is neither a folder nor a Hugging Face Hub id: as a Hub id it ${problem} (org/name, e.g. BAAI/bge-small-en-v1.5)`,
      );
    }
    return (await this.snapshot(modelId, purpose, options)).dir;
  }

  /** What the last resolve of `modelId` used (for summaries). */
  snapshotOf(modelId: string): ResolvedSnapshot | undefined {
    return this.snapshots.get(modelId);
  }

  async snapshot(modelId: string, purpose: FilePurpose, options: ResolveOptions = {}): Promise<ResolvedSnapshot> {
    checkRevision(this.revision);
    const cache = new RepoCache(this.settings.cacheDir, modelId);
    if (this.settings.offline) return this.fromCache(cache, purpose, "HF_HUB_OFFLINE is set");
    let info: RepoInfo;
    try {
      info = await this.repoInfo(modelId);
    } catch (error) {
      if (error instanceof HubNetworkError)
        return this.fromCache(cache, purpose, `cannot reach ${this.settings.endpoint} (${error.reason})`);
      if (error instanceof HubHttpError && (error.status >= 500 || error.status === 429) && cache.cachedCommit(this.revision)) {
        return this.fromCache(cache, purpose, `${this.settings.endpoint} answered HTTP ${error.status}`);
      }
      throw this.explain(error, modelId);
    }
    cache.writeRef(this.revision, info.commit);
    const downloaded = await this.fetchPlanned(cache, info, purpose, options.onProgress ?? this.onProgress);
    return this.record({
      modelId,
      revision: this.revision,
      commit: info.commit,
      dir: cache.snapshotDir(info.commit),
      source: "hub",
      downloaded,
    });
  }

  /** GET /api/models/{id}/revision/{rev}: the commit and the file list (once per client). */
  private repoInfo(modelId: string): Promise<RepoInfo> {
    let info = this.repoInfos.get(modelId);
    if (!info) {
      info = this.fetchRepoInfo(modelId);
      info.catch(() => this.repoInfos.delete(modelId));
      this.repoInfos.set(modelId, info);
    }
    return info;
  }

  private async fetchRepoInfo(modelId: string): Promise<RepoInfo> {
    const url = `${this.settings.endpoint}/api/models/${modelId}/revision/${encodeURIComponent(this.revision)}`;
    const { response } = await hubRequest(this.settings, url, {
      method: "GET",
      attemptSignal: () => AbortSignal.timeout(this.settings.metadataTimeoutMs),
      what: `the model API (${modelId})`,
      retry: this.retryPolicy,
    });
    let body: { sha?: unknown; siblings?: Array<{ rfilename?: unknown }> };
    try {
      body = (await response.json()) as typeof body;
    } catch (error) {
      if ((error as Error).name === "TimeoutError") throw new HubNetworkError(url, "timed out");
      body = {};
    }
    if (typeof body.sha !== "string" || !COMMIT_SHA.test(body.sha) || !Array.isArray(body.siblings)) {
      throw new ExportError(
        `${url} did not answer with a model's commit and files; is HF_ENDPOINT (${this.settings.endpoint}) a Hugging Face Hub?`,
      );
    }
    const files = body.siblings.map((s) => s?.rfilename).filter((f): f is string => typeof f === "string");
    return { commit: body.sha, files: new Set(files) };
  }

  /** Downloads the plan's missing files, round by round (an index names its shards). */
  private async fetchPlanned(cache: RepoCache, info: RepoInfo, purpose: FilePurpose, onProgress: ProgressCallback): Promise<string[]> {
    const downloaded: string[] = [];
    const handled = new Set<string>();
    for (;;) {
      const plan = planFiles(purpose, info.files, cache.snapshotDir(info.commit));
      if (plan.missing.length > 0) {
        throw new ExportError(
          `${this.label(cache.repoId)} has no ${plan.missing.join(" and ")}, which the export needs; ` +
            `check that ${this.settings.endpoint}/${cache.repoId} is a BERT-family model in the Hugging Face layout`,
        );
      }
      for (const file of plan.absent) cache.markMissing(info.commit, file);
      const todo = plan.files.filter((file) => !handled.has(file) && !cache.hasFile(info.commit, file));
      if (todo.length === 0) return downloaded;
      for (const file of todo) {
        handled.add(file);
        if (await this.fetchFile(cache, info.commit, file, onProgress)) downloaded.push(file);
      }
    }
  }

  /** Puts one file into the snapshot; true when it had to be downloaded. */
  private async fetchFile(cache: RepoCache, commit: string, file: string, onProgress: ProgressCallback): Promise<boolean> {
    const url = `${this.settings.endpoint}/${cache.repoId}/resolve/${commit}/${file.split("/").map(encodeURIComponent).join("/")}`;
    const metadata = await fetchFileMetadata(this.settings, url, file, this.retryPolicy).catch((error: unknown) => {
      throw this.explain(error, cache.repoId, file);
    });
    checkEtag(metadata.etag, url);
    const blobPath = cache.blobPath(metadata.etag);
    let downloaded = false;
    if (!blobComplete(blobPath, metadata.size)) {
      const lockPath = cache.lockPath(metadata.etag);
      await withFileLock(
        lockPath,
        async () => {
          if (blobComplete(blobPath, metadata.size)) return; // another process finished it meanwhile
          await downloadBlob(
            this.settings,
            { file, metadata, blobPath, incompletePath: cache.incompletePath(metadata.etag) },
            {
              onProgress,
              logger: this.logger,
              retries: this.options.retries,
              retryDelayMs: this.options.retryDelayMs,
              retry: this.retryPolicy,
            },
          ).catch((error: unknown) => {
            throw this.explain(error, cache.repoId, file);
          });
          downloaded = true;
        },
        { onWait: () => this.logger.info(`waiting for another process downloading ${file} (lock ${lockPath})`) },
      );
    }
    cache.link(commit, file, metadata.etag);
    return downloaded;
  }

  /** The cached snapshot of the revision, when the Hub is not to be (or cannot be) asked. */
  private fromCache(cache: RepoCache, purpose: FilePurpose, why: string): ResolvedSnapshot {
    const label = this.label(cache.repoId);
    const commit = cache.cachedCommit(this.revision);
    if (!commit) {
      throw new ExportError(
        `${why} and ${label} is not in the Hub cache (${this.settings.cacheDir}); ` +
          (this.settings.offline
            ? "run once online (unset HF_HUB_OFFLINE), or set HF_HUB_CACHE to a cache that has it"
            : "check your connection, or set HF_ENDPOINT to a reachable mirror"),
      );
    }
    const dir = cache.snapshotDir(commit);
    const plan = planFiles(purpose, new Set(cache.snapshotFiles(commit)), dir);
    if (plan.missing.length > 0) {
      throw new ExportError(
        `${why} and the cached snapshot of ${label} (${dir}) lacks ${plan.missing.join(" and ")}; run the export once online to download it`,
      );
    }
    const notice = `${cache.repoId}@${commit}`;
    if (!this.cacheNotices.has(notice)) {
      this.cacheNotices.add(notice);
      this.logger.info(`${why}: using the cached snapshot ${commit} of ${label}`);
    }
    return this.record({ modelId: cache.repoId, revision: this.revision, commit, dir, source: "cache", downloaded: [] });
  }

  private record(snapshot: ResolvedSnapshot): ResolvedSnapshot {
    const previous = this.snapshots.get(snapshot.modelId);
    const downloaded = previous?.commit === snapshot.commit ? [...previous.downloaded, ...snapshot.downloaded] : snapshot.downloaded;
    const merged = { ...snapshot, downloaded };
    this.snapshots.set(snapshot.modelId, merged);
    return merged;
  }

  private label(modelId: string): string {
    return `${modelId}@${this.revision}`;
  }

  /** Hub answers as one line saying what to do. */
  private explain(error: unknown, modelId: string, file?: string): unknown {
    const repoUrl = `${this.settings.endpoint}/${modelId}`;
    if (error instanceof HubNetworkError) {
      return new ExportError(
        `cannot reach ${this.settings.endpoint} (${error.reason})${file ? ` while fetching ${file} of ${modelId}` : ""}; check your connection and run again`,
        { cause: error },
      );
    }
    if (!(error instanceof HubHttpError)) return error;
    const { status, errorCode } = error;
    const tokenHint = this.settings.hasToken ? "" : "; for a private repo set HF_TOKEN (or run huggingface-cli login)";
    let message: string;
    if ((status === 401 || status === 404) && errorCode === "RepoNotFound")
      message = `${modelId} was not found on ${this.settings.endpoint}: check the model id${tokenHint}`;
    else if (status === 401 || status === 403) {
      message = this.settings.hasToken
        ? `${modelId} is gated or private and your token (HF_TOKEN or the token file) has no access (HTTP ${status}): accept its conditions at ${repoUrl} with the token's account, or use a token with read access`
        : `${modelId} is gated or private (HTTP ${status}): request access at ${repoUrl}, then set HF_TOKEN to an access token of that account (or run huggingface-cli login)`;
    } else if (status === 404 && errorCode === "RevisionNotFound") {
      message = `revision "${this.revision}" of ${modelId} was not found: pass a branch, tag or commit sha of ${repoUrl} (--revision)`;
    } else if (status === 404 && file)
      message = `${this.label(modelId)} has no file ${file} (HTTP 404); the repository may have changed, run again`;
    else if (status === 404) message = `${modelId} was not found on ${this.settings.endpoint}: check the model id${tokenHint}`;
    else message = `${this.settings.endpoint} answered HTTP ${status} for ${file ? `${file} of ` : ""}${modelId}; try again later`;
    return new ExportError(message, { cause: error });
  }
}

function blobComplete(path: string, size: number | undefined): boolean {
  return existsSync(path) && (size === undefined || statSync(path).size === size);
}
