// Hub settings read the way huggingface_hub reads them, so both tools share one cache and one
// login: HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_TOKEN / token file, HF_HUB_OFFLINE, timeouts.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ExportError } from "../../common/errors.js";
import { redactCredentials } from "../../common/redact.js";

const DEFAULT_ENDPOINT = "https://huggingface.co";
export const DEFAULT_REVISION = "main";

type Env = Readonly<Record<string, string | undefined>>;

export interface HubSettingsInit {
  endpoint?: string;
  cacheDir?: string;
  /** An access token; by default HF_TOKEN or the token file. */
  token?: string;
  offline?: boolean;
  /** Seconds to wait for the Hub's metadata answers (HF_HUB_ETAG_TIMEOUT, default 10). */
  metadataTimeoutS?: number;
  /** Seconds a download may stall before it is retried (HF_HUB_DOWNLOAD_TIMEOUT, default 10). */
  downloadTimeoutS?: number;
}

/**
 * Where the Hub is, where its files are cached, and the credentials for it. The token is kept
 * in a private field: it never shows in logs, JSON or util.inspect, and it is handed out only
 * as an Authorization header for URLs on the endpoint's own origin.
 */
export class HubSettings {
  readonly endpoint: string;
  readonly cacheDir: string;
  readonly offline: boolean;
  readonly metadataTimeoutMs: number;
  readonly downloadTimeoutMs: number;
  readonly #token: string | undefined;
  /** user:password from HF_ENDPOINT, kept out of `endpoint` (and so out of every message). */
  readonly #basicAuth: string | undefined;

  constructor(init: HubSettingsInit & { token?: string } = {}) {
    const { endpoint, basicAuth } = normalizeEndpoint(init.endpoint ?? DEFAULT_ENDPOINT);
    this.endpoint = endpoint;
    this.#basicAuth = basicAuth;
    this.cacheDir = resolve(init.cacheDir ?? defaultCacheDir(process.env));
    this.offline = init.offline ?? false;
    this.metadataTimeoutMs = (init.metadataTimeoutS ?? 10) * 1000;
    this.downloadTimeoutMs = (init.downloadTimeoutS ?? 10) * 1000;
    this.#token = init.token?.trim() || undefined;
  }

  /** Settings from the environment (process.env by default), overridden by `init`. */
  static fromEnv(env: Env = process.env, init: HubSettingsInit = {}): HubSettings {
    return new HubSettings({
      endpoint: init.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_ENDPOINT,
      cacheDir: init.cacheDir ?? defaultCacheDir(env),
      token: init.token ?? tokenFromEnv(env),
      offline: init.offline ?? envFlag(env.HF_HUB_OFFLINE),
      metadataTimeoutS: init.metadataTimeoutS ?? envSeconds(env, "HF_HUB_ETAG_TIMEOUT"),
      downloadTimeoutS: init.downloadTimeoutS ?? envSeconds(env, "HF_HUB_DOWNLOAD_TIMEOUT"),
    });
  }

  get hasToken(): boolean {
    return this.#token !== undefined;
  }

  /**
   * The Authorization header for `url`: only on the endpoint's origin, never for a CDN. The
   * token when there is one, else HF_ENDPOINT's user:password as HTTP Basic auth (what Python's
   * requests sends for such a URL; fetch refuses URLs with credentials).
   */
  authorizationFor(url: string): Record<string, string> {
    if (new URL(url).origin !== new URL(this.endpoint).origin) return {};
    if (this.#token) return { authorization: `Bearer ${this.#token}` };
    return this.#basicAuth ? { authorization: `Basic ${this.#basicAuth}` } : {};
  }

  toJSON(): Record<string, unknown> {
    return { endpoint: this.endpoint, cacheDir: this.cacheDir, offline: this.offline, hasToken: this.hasToken };
  }
}

/** The endpoint without trailing slashes or credentials, and those credentials for Basic auth. */
function normalizeEndpoint(endpoint: string): { endpoint: string; basicAuth: string | undefined } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ExportError(`HF_ENDPOINT "${redactCredentials(endpoint)}" is not a URL; set it like https://huggingface.co`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ExportError(`HF_ENDPOINT "${redactCredentials(endpoint)}" must be an http(s) URL, like https://huggingface.co`);
  }
  if (url.search || url.hash) {
    throw new ExportError(
      `HF_ENDPOINT "${redactCredentials(endpoint)}" has a query string or fragment; set it to the Hub's base URL, like https://huggingface.co`,
    );
  }
  const basicAuth =
    url.username || url.password
      ? Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")
      : undefined;
  url.username = "";
  url.password = "";
  return { endpoint: url.href.replace(/\/+$/, ""), basicAuth };
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
function hfHome(env: Env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  return join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), ".cache"), "huggingface");
}

/** HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub. */
export function defaultCacheDir(env: Env): string {
  const explicit = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  return explicit ? expandHome(explicit) : join(hfHome(env), "hub");
}

/** HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the file `huggingface-cli login` writes. */
function tokenFromEnv(env: Env): string | undefined {
  const fromVariable = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (fromVariable?.trim()) return fromVariable.trim();
  const file = env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : join(hfHome(env), "token");
  try {
    return existsSync(file) ? readFileSync(file, "utf8").trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

function envFlag(value: string | undefined): boolean {
  return ["1", "on", "yes", "true"].includes((value ?? "").trim().toLowerCase());
}

function envSeconds(env: Env, name: string): number | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new ExportError(`${name}="${value}" must be a positive number of seconds`);
  return seconds;
}
