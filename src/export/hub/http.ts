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

export interface HubRequestOptions {
  method: "GET" | "HEAD";
  headers?: Record<string, string>;
  /** HEAD for metadata: follow same-origin redirects only and return the first other one. */
  stopAtCrossOriginRedirect?: boolean;
  signal?: AbortSignal;
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
    const response = await fetchOnce(settings, current, options);
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

/** A pooled keep-alive connection the server has since closed fails at once: ask again once. */
const STALE_CONNECTION = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

async function fetchOnce(settings: HubSettings, url: string, options: HubRequestOptions, retried = false): Promise<Response> {
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
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    const code = (error as { cause?: { code?: string } })?.cause?.code;
    if (!retried && code && STALE_CONNECTION.has(code) && !options.signal?.aborted) return fetchOnce(settings, url, options, true);
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
