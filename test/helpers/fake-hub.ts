// A loopback stand-in for the Hugging Face Hub: the model API, resolve URLs with the Hub's
// headers (ETag, X-Linked-Etag, X-Linked-Size, X-Repo-Commit, X-Error-Code), LFS files
// redirected to a "CDN" on another origin that honours Range, gated repos, and knobs to cut a
// connection mid-file or to stream slowly.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, sep } from "node:path";
import { afterEach } from "vitest";

export interface FakeRepoInit {
  id: string;
  /** Folder whose files are the repo's content. */
  dir: string;
  /** Branch/tag → commit (default { main: <derived sha> }). */
  revisions?: Record<string, string>;
  /** When set, files need "Authorization: Bearer <token>" (the API answers anyway, like the Hub's). */
  gatedToken?: string;
}

interface FakeFile {
  bytes: Buffer;
  sha256: string;
  gitSha1: string;
  lfs: boolean;
}

interface FakeRepo {
  revisions: Record<string, string>;
  files: Map<string, FakeFile>;
  gatedToken: string | undefined;
}

export interface RecordedRequest {
  server: "hub" | "cdn";
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

const LFS = /\.(safetensors|bin|onnx|h5|msgpack)$/;

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** CDN paths of blobs (by sha256) whose next GET is cut after half the bytes. */
  readonly cutOnce = new Set<string>();
  /** Stream CDN bodies in chunks of this many bytes with a pause between them (0: at once). */
  slowChunkBytes = 0;
  /** Repo paths that the API lists but resolve answers 404 for (a file deleted meanwhile). */
  readonly vanished = new Set<string>();
  /** When set, the model API answers with this status (a Hub outage). */
  apiStatus = 0;
  /**
   * Answers given before the real one, per kind of request (the model API, a resolve HEAD, a
   * file GET from the Hub or the CDN): each request of that kind takes the next one.
   */
  readonly failures: Record<"api" | "head" | "get", Array<{ status: number; retryAfter?: string }>> = { api: [], head: [], get: [] };
  /** Blobs (by sha256) the CDN serves with their last byte changed, as a bad mirror would. */
  readonly corrupt = new Set<string>();
  /** CDN bodies wait until this returns true (polled; gives up after 20 s). */
  cdnGate: () => boolean = () => true;
  private readonly repos = new Map<string, FakeRepo>();

  private constructor(
    private readonly hub: Server,
    private readonly cdn: Server,
  ) {}

  static async start(repos: FakeRepoInit[] = []): Promise<FakeHub> {
    const fake: FakeHub = new FakeHub(
      createServer((req, res) => fake.handleHub(req, res)),
      createServer((req, res) => fake.handleCdn(req, res)),
    );
    await Promise.all([listen(fake.hub), listen(fake.cdn)]);
    for (const repo of repos) fake.addRepo(repo);
    return fake;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  get cdnOrigin(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  addRepo(init: FakeRepoInit): { commit: string; files: Map<string, FakeFile> } {
    const files = new Map<string, FakeFile>();
    for (const path of (readdirSync(init.dir, { recursive: true }) as string[]).sort()) {
      const full = join(init.dir, path);
      if (!statSync(full).isFile()) continue;
      const bytes = readFileSync(full);
      files.set(path.split(sep).join("/"), {
        bytes,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        gitSha1: createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex"),
        lfs: LFS.test(path),
      });
    }
    const commit = createHash("sha1")
      .update(init.id)
      .update([...files.values()].map((f) => f.sha256).join())
      .digest("hex");
    this.repos.set(init.id, { revisions: init.revisions ?? { main: commit }, files, gatedToken: init.gatedToken });
    return { commit: init.revisions?.main ?? commit, files };
  }

  /** Requests for repo files (resolve + CDN), optionally only GETs of bodies. */
  fileRequests(filter: (r: RecordedRequest) => boolean = () => true): RecordedRequest[] {
    return this.requests.filter((r) => (r.server === "cdn" || r.path.includes("/resolve/")) && filter(r));
  }

  async stop(): Promise<void> {
    await Promise.all([close(this.hub), close(this.cdn)]);
  }

  private record(server: "hub" | "cdn", req: IncomingMessage): void {
    this.requests.push({
      server,
      method: req.method ?? "GET",
      path: decodeURIComponent(req.url ?? ""),
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  }

  /** The next injected failure for this kind of request, answered; false when there is none. */
  private injectedFailure(kind: "api" | "head" | "get", res: ServerResponse): boolean {
    const failure = this.failures[kind].shift();
    if (!failure) return false;
    fail(
      res,
      failure.status,
      failure.status === 429 ? "TooManyRequests" : "ServerError",
      failure.retryAfter ? { "retry-after": failure.retryAfter } : {},
    );
    return true;
  }

  private handleHub(req: IncomingMessage, res: ServerResponse): void {
    this.record("hub", req);
    const url = new URL(req.url ?? "/", this.endpoint);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (this.injectedFailure(api ? "api" : req.method === "HEAD" ? "head" : "get", res)) return;
    if (api) return this.answerApi(res, decodeURIComponent(api[1]!), decodeURIComponent(api[2]!));
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve)
      return this.answerResolve(
        req,
        res,
        decodeURIComponent(resolve[1]!),
        decodeURIComponent(resolve[2]!),
        decodeURIComponent(resolve[3]!),
      );
    fail(res, 404, "RepoNotFound");
  }

  private answerApi(res: ServerResponse, id: string, revision: string): void {
    if (this.apiStatus) return fail(res, this.apiStatus, "ServiceUnavailable");
    const repo = this.repos.get(id);
    if (!repo) return fail(res, 404, "RepoNotFound");
    const commit = commitOf(repo, revision);
    if (!commit) return fail(res, 404, "RevisionNotFound");
    const body = JSON.stringify({ id, modelId: id, sha: commit, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  private answerResolve(req: IncomingMessage, res: ServerResponse, id: string, revision: string, path: string): void {
    const repo = this.repos.get(id);
    if (!repo) return fail(res, 404, "RepoNotFound");
    const commit = commitOf(repo, revision);
    if (!commit) return fail(res, 404, "RevisionNotFound");
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) return fail(res, 401, "GatedRepo");
    const file = this.vanished.has(path) ? undefined : repo.files.get(path);
    if (!file) return fail(res, 404, "EntryNotFound", { "x-repo-commit": commit });
    if (file.lfs) {
      res.writeHead(302, {
        location: `${this.cdnOrigin}/blobs/${file.sha256}?signature=abc`,
        "x-repo-commit": commit,
        "x-linked-etag": `"${file.sha256}"`,
        "x-linked-size": String(file.bytes.length),
        etag: `"${createHash("sha1").update(path).digest("hex")}"`, // the LFS pointer's, not the content's
      });
      return void res.end();
    }
    res.writeHead(200, { etag: `"${file.gitSha1}"`, "x-repo-commit": commit, "content-length": file.bytes.length });
    res.end(req.method === "HEAD" ? undefined : file.bytes);
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse, waitedMs = 0): void {
    if (waitedMs === 0) {
      this.record("cdn", req);
      if (this.injectedFailure("get", res)) return;
    }
    if (!this.cdnGate() && waitedMs < 20_000) return void setTimeout(() => this.handleCdn(req, res, waitedMs + 10), 10);
    const sha = /^\/blobs\/([0-9a-f]{64})/.exec(req.url ?? "")?.[1];
    const file = [...this.repos.values()].flatMap((r) => [...r.files.values()]).find((f) => f.sha256 === sha);
    if (!file || !sha) return fail(res, 404, "EntryNotFound");
    const size = file.bytes.length;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start >= size && size > 0) {
      res.writeHead(416, { "content-range": `bytes */${size}` });
      return void res.end();
    }
    const bytes = this.corrupt.has(sha)
      ? Buffer.concat([file.bytes.subarray(0, -1), Buffer.from([file.bytes.at(-1)! ^ 0xff])])
      : file.bytes;
    const body = bytes.subarray(start);
    res.writeHead(range ? 206 : 200, {
      "content-length": body.length,
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    if (this.cutOnce.delete(sha)) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    if (this.slowChunkBytes <= 0) return void res.end(body);
    let offset = 0;
    const pump = () => {
      if (res.destroyed) return;
      if (offset >= body.length) return void res.end();
      res.write(body.subarray(offset, offset + this.slowChunkBytes));
      offset += this.slowChunkBytes;
      setTimeout(pump, 15);
    };
    pump();
  }
}

function commitOf(repo: FakeRepo, revision: string): string | undefined {
  return repo.revisions[revision] ?? (Object.values(repo.revisions).includes(revision) ? revision : undefined);
}

function fail(res: ServerResponse, status: number, code: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "x-error-code": code, "x-error-message": code, "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ error: code }));
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A loopback port nothing listens on (an unreachable endpoint). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A starter of fake Hubs for one test file: every Hub it started stops after each test. */
export function hubsStoppedAfterEach(): (repos?: FakeRepoInit[]) => Promise<FakeHub> {
  const started: FakeHub[] = [];
  afterEach(async () => {
    for (const hub of started.splice(0)) await hub.stop();
  });
  return async (repos = []) => {
    const hub = await FakeHub.start(repos);
    started.push(hub);
    return hub;
  };
}
