// HTTP to the Hub with Node's fetch. Redirects are followed by hand so that the Authorization
// header is decided per hop (only the endpoint's origin gets it, never a CDN), and so that a
// metadata request can stop at the CDN redirect whose headers describe the file.
import { redactCredentials } from "../../common/redact.js";
import { PACKAGE_VERSION } from "../version.js";
import type { HubSettings } from "./settings.js";

const MAX_REDIRECTS = 10;

/** The server answered with an error status. */
export class HubHttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    /** The Hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo…). */
    readonly errorCode: string | undefined,
    readonly serverMessage: string | undefined,
  ) {
    super(`HTTP ${status}${errorCode ? ` ${errorCode}` : ""} for ${redactCredentials(url)}`);
    this.name = "HubHttpError";
  }
}

/** No answer: connection refused or cut, DNS failure, timeout. */
export class HubNetworkError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${reason} (${redactCredentials(url)})`);
    this.name = "HubNetworkError";
  }
}

/**
 * How a request answered 429 or 5xx is asked again, as huggingface_hub's http_backoff does: waits
 * of 1, 2, 4, 8 s, or what the server's Retry-After says, capped.
 */
export interface HubRetryPolicy {
  /** Retries after a 429 or 5xx answer (default 4). */
  retries?: number;
  /** The first wait, doubled for each retry up to 8 s (default 1000 ms). */
  baseDelayMs?: number;
  /** The longest wait a Retry-After may ask for (default 60 s); a longer one is cut to it, and says so. */
  maxRetryAfterMs?: number;
  /** Waits (default: a timer); tests pass one that records the waits instead. */
  sleep?: (ms: number) => Promise<void>;
  /** Told of each wait, in words (a progress line). */
  onWait?: (message: string) => void;
}

export const DEFAULT_HUB_RETRIES = 4;
const MAX_BACKOFF_MS = 8000;
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

export interface HubRequestOptions {
  method: "GET" | "HEAD";
  headers?: Record<string, string>;
  /** HEAD for metadata: follow same-origin redirects only and return the first other one. */
  stopAtCrossOriginRedirect?: boolean;
  /** A signal per attempt (a fresh timeout for each, so that waits between attempts do not count). */
  attemptSignal?: () => AbortSignal;
  /** 429 and 5xx answers are retried by this policy (none without one). */
  retry?: HubRetryPolicy;
  /** What the request is for, in retry lines ("the model API", "config.json"). */
  what?: string;
}

export interface HubResponse {
  response: Response;
  /** The URL that answered (after redirects). */
  url: string;
}

/** One request, redirects handled; error statuses become HubHttpError, failures HubNetworkError. */
export async function hubRequest(settings: HubSettings, url: string, options: HubRequestOptions): Promise<HubResponse> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await fetchRetrying(settings, current, options);
    if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
      const next = new URL(response.headers.get("location")!, current).href;
      if (options.stopAtCrossOriginRedirect && new URL(next).origin !== new URL(current).origin) return { response, url: current };
      await response.body?.cancel();
      current = next;
      continue;
    }
    if (response.status >= 400) {
      await response.body?.cancel();
      throw new HubHttpError(
        response.status,
        current,
        response.headers.get("x-error-code") ?? undefined,
        response.headers.get("x-error-message") ?? undefined,
      );
    }
    return { response, url: current };
  }
  throw new HubNetworkError(url, `more than ${MAX_REDIRECTS} redirects`);
}

/** One hop, asked again after a 429 or 5xx answer as the retry policy says; the last answer is returned whatever it is. */
async function fetchRetrying(settings: HubSettings, url: string, options: HubRequestOptions): Promise<Response> {
  const retries = options.retry?.retries ?? (options.retry ? DEFAULT_HUB_RETRIES : 0);
  for (let attempt = 0; ; attempt++) {
    const response = await fetchOnce(settings, url, options);
    if (!isRetryableStatus(response.status) || attempt >= retries) return response;
    await response.body?.cancel();
    const policy = options.retry!;
    const backoff = Math.min((policy.baseDelayMs ?? 1000) * 2 ** attempt, MAX_BACKOFF_MS);
    const asked = retryAfterMs(response.headers.get("retry-after"));
    const cap = policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    const wait = asked === undefined ? backoff : Math.min(asked, cap);
    const why =
      asked === undefined
        ? ""
        : asked > cap
          ? ` (its Retry-After asks ${seconds(asked)}; waiting at most ${seconds(cap)})`
          : " as its Retry-After asks";
    policy.onWait?.(
      `${new URL(url).host} answered HTTP ${response.status} for ${options.what ?? redactCredentials(new URL(url).pathname)}: ` +
        `retrying in ${seconds(wait)}${why} (${attempt + 1}/${retries})`,
    );
    await (policy.sleep ?? sleep)(wait);
  }
}

/** Too many requests, or a server error: worth asking again later. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its day and month ("Wed, 21 Oct 2026 07:28:00 GMT"); Date.parse would read "-5" as a year.
  const date = /[a-z]{3}/i.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A pooled keep-alive connection the server has since closed fails at once: ask again once. */
const STALE_CONNECTION = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

async function fetchOnce(settings: HubSettings, url: string, options: HubRequestOptions, retried = false): Promise<Response> {
  const signal = options.attemptSignal?.();
  try {
    return await fetch(url, {
      method: options.method,
      redirect: "manual",
      headers: {
        "user-agent": `jazzmine-embedding/${PACKAGE_VERSION}; node/${process.versions.node}`,
        // Sizes and byte ranges must refer to the stored bytes, not a compressed transfer.
        "accept-encoding": "identity",
        ...options.headers,
        ...settings.authorizationFor(url),
      },
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    const code = (error as { cause?: { code?: string } })?.cause?.code;
    if (!retried && code && STALE_CONNECTION.has(code) && !signal?.aborted) return fetchOnce(settings, url, options, true);
    throw new HubNetworkError(url, networkReason(error));
  }
}

/** A short, human reason for a failed fetch (the cause's code when Node gives one). */
export function networkReason(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return "timed out";
  const code = e?.cause?.code;
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "DNS lookup failed",
    ETIMEDOUT: "timed out",
    UND_ERR_SOCKET: "connection closed by the server",
    UND_ERR_CONNECT_TIMEOUT: "connection timed out",
    UND_ERR_HEADERS_TIMEOUT: "timed out",
    UND_ERR_BODY_TIMEOUT: "timed out",
    CERT_HAS_EXPIRED: "TLS certificate expired",
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: "TLS certificate not trusted",
  };
  if (code && known[code]) return known[code];
  // fetch's own messages quote the URL (a redirect to a signed CDN URL, say): no credentials in them.
  return redactCredentials(code ?? e?.cause?.message ?? e?.message ?? String(error));
}
