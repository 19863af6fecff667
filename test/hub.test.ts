// The Hub client against a loopback Hub: export by id into the huggingface_hub cache layout,
// reuse of that cache (server running, stopped, offline), gated repos and the token, the
// download plan per purpose, resume after a cut, and one clear line per failure.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HubClient, type HubClientOptions } from "../src/export/hub/client.js";
import { withFileLock } from "../src/export/hub/lock.js";
import { HubSettings } from "../src/export/hub/settings.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { type FakeHub, closedPort, hubsStoppedAfterEach } from "./helpers/fake-hub.js";
import { modelFolder, recordingLogger, tempDir } from "./helpers/index.js";

const ID = "org/tiny-bert";
const TOKEN = "hf_testTOKEN0123456789secret";

/** A tiny BERT repo with what real repos carry besides: a README, legacy .bin weights, sentence-transformers files. */
function tinyRepo(options: { shardBytes?: number } = {}): string {
  const dir = modelFolder(syntheticBert({ seed: 31 }), options.shardBytes ? { shardBytes: options.shardBytes } : {}, "repo");
  writeFileSync(join(dir, "README.md"), "# tiny\n");
  writeFileSync(join(dir, "pytorch_model.bin"), Buffer.alloc(50_000, 7));
  writeFileSync(
    join(dir, "modules.json"),
    JSON.stringify([
      { idx: 0, name: "0", path: "", type: "sentence_transformers.models.Transformer" },
      { idx: 1, name: "1", path: "1_Pooling", type: "sentence_transformers.models.Pooling" },
      { idx: 2, name: "2", path: "2_Normalize", type: "sentence_transformers.models.Normalize" },
    ]),
  );
  mkdirSync(join(dir, "1_Pooling"));
  writeFileSync(join(dir, "1_Pooling", "config.json"), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: true }));
  return dir;
}

const startHub = hubsStoppedAfterEach();

function client(hub: FakeHub, cacheDir: string, options: Partial<HubClientOptions> & { token?: string; offline?: boolean } = {}) {
  const { token, offline, ...rest } = options;
  const logger = recordingLogger();
  const settings = new HubSettings({ endpoint: hub.endpoint, cacheDir, ...(token ? { token } : {}), ...(offline ? { offline } : {}) });
  return { hub: new HubClient({ settings, logger, retryDelayMs: 0, ...rest }), logger };
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const gets = (hub: FakeHub, suffix: string) =>
  hub.fileRequests((r) => r.method === "GET" && (r.path.endsWith(suffix) || (r.server === "cdn" && suffix === "<cdn>")));

/** Every file under `dir` (following nothing), for secret scans. */
function allFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map((p) => join(dir, p)).filter((p) => statSync(p).isFile());
}

describe("export by Hub id", () => {
  it("downloads only what the export needs into the huggingface_hub layout, then exports", async () => {
    const repoDir = tinyRepo();
    const hub = await startHub([{ id: ID, dir: repoDir }]);
    const cacheDir = tempDir();
    const { hub: resolver, logger } = client(hub, cacheDir);
    const out = join(tempDir(), "out");
    const path = await new EmbeddingService(ID, { resolver, logger }).exportOnnxModel(out, { quantized: false });
    expect(path).toBe(join(out, "org-tiny-bert_fp32.onnx"));
    // The sentence-transformers files travel with the model (the repo's pipeline: CLS, Normalize).
    expect(readdirSync(out, { recursive: true }).sort()).toEqual([
      "1_Pooling",
      "1_Pooling/config.json",
      "config.json",
      "export_manifest.json",
      "modules.json",
      "org-tiny-bert_fp32.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);

    const snapshot = resolver.snapshotOf(ID)!;
    const repo = join(cacheDir, "models--org--tiny-bert");
    expect(readFileSync(join(repo, "refs", "main"), "utf8")).toBe(snapshot.commit);
    expect(snapshot.dir).toBe(join(repo, "snapshots", snapshot.commit));
    const fetched = [
      "1_Pooling/config.json",
      "config.json",
      "model.safetensors",
      "modules.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ];
    expect(
      readdirSync(snapshot.dir, { recursive: true })
        .filter((p) => p !== "1_Pooling")
        .sort(),
    ).toEqual(fetched);
    // Blobs are named by etag: sha256 for LFS files, git blob sha1 for the others; snapshot entries are relative links.
    const weights = sha256(join(repoDir, "model.safetensors"));
    expect(readlinkSync(join(snapshot.dir, "model.safetensors"))).toBe(`../../blobs/${weights}`);
    expect(readlinkSync(join(snapshot.dir, "1_Pooling", "config.json"))).toMatch(/^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{40}$/);
    const config = readFileSync(join(repoDir, "config.json"));
    const gitSha = createHash("sha1").update(`blob ${config.length}\0`).update(config).digest("hex");
    expect(readlinkSync(join(snapshot.dir, "config.json"))).toBe(`../../blobs/${gitSha}`);
    // Optional files the repo lacks are recorded as huggingface_hub does.
    expect(existsSync(join(repo, ".no_exist", snapshot.commit, "sentence_bert_config.json"))).toBe(true);
    // Nothing else was fetched: no README, no legacy .bin beside safetensors; the LFS file came from the CDN.
    expect(
      hub
        .fileRequests((r) => r.method === "GET" && r.server === "hub")
        .map((r) => r.path.split("/resolve/")[1]!.slice(41))
        .sort(),
    ).toEqual(fetched.filter((f) => f !== "model.safetensors"));
    expect(gets(hub, "<cdn>").map((r) => r.path)).toEqual([`/blobs/${weights}?signature=abc`]);
    expect(readdirSync(join(repo, "blobs")).filter((f) => f.endsWith(".incomplete"))).toEqual([]);
  });

  it("a sharded checkpoint: the index, then the shards it names", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo({ shardBytes: 40_000 }) }]);
    const { hub: resolver } = client(hub, tempDir());
    const dir = await resolver.resolve(ID, "model");
    const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    const shards = [...new Set(Object.values(index.weight_map))];
    expect(shards.length).toBeGreaterThan(1);
    for (const shard of shards) expect(existsSync(join(dir, shard))).toBe(true);
    expect(gets(hub, "pytorch_model.bin")).toEqual([]);
  });

  it("a repo with only pytorch_model.bin weights downloads those", async () => {
    const repoDir = tinyRepo();
    const { rmSync } = await import("node:fs");
    rmSync(join(repoDir, "model.safetensors"));
    const hub = await startHub([{ id: ID, dir: repoDir }]);
    const dir = await client(hub, tempDir()).hub.resolve(ID, "model");
    expect(readFileSync(join(dir, "pytorch_model.bin"))).toEqual(readFileSync(join(repoDir, "pytorch_model.bin")));
  });

  it("a revision: its commit's snapshot and refs/<revision>; a commit sha writes no ref", async () => {
    const other = "1234567890abcdef1234567890abcdef12345678";
    const hub = await startHub([{ id: ID, dir: tinyRepo(), revisions: { main: "a".repeat(40), v1: other } }]);
    const cacheDir = tempDir();
    const dir = await client(hub, cacheDir, { revision: "v1" }).hub.resolve(ID, "tokenizer");
    expect(dir).toBe(join(cacheDir, "models--org--tiny-bert", "snapshots", other));
    expect(readFileSync(join(cacheDir, "models--org--tiny-bert", "refs", "v1"), "utf8")).toBe(other);
    expect(hub.requests[0]!.path).toBe(`/api/models/${ID}/revision/v1`);
    await client(hub, cacheDir, { revision: other }).hub.resolve(ID, "tokenizer");
    expect(readdirSync(join(cacheDir, "models--org--tiny-bert", "refs"))).toEqual(["v1"]);
  });

  it("tokenizer-only export never requests weights or config", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo() }]);
    const { hub: resolver, logger } = client(hub, tempDir());
    const out = join(tempDir(), "tok");
    await new EmbeddingService(ID, { resolver, logger }).exportTokenizerOnly(out);
    expect(readdirSync(out).sort()).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    const requested = hub.fileRequests().map((r) => r.path);
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((p) => /safetensors|\.bin|config\.json$|modules/.test(p) && !p.endsWith("tokenizer_config.json"))).toEqual([]);
    expect(hub.requests.filter((r) => r.server === "cdn")).toEqual([]);
  });
});

describe("cache reuse", () => {
  it("second export: no downloads; with the server stopped: the cached snapshot, with a log line", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo() }]);
    const cacheDir = tempDir();
    await client(hub, cacheDir).hub.resolve(ID, "model");
    await client(hub, cacheDir).hub.resolve(ID, "tokenizer");
    const before = hub.fileRequests().length;

    const again = client(hub, cacheDir);
    const dir = await again.hub.resolve(ID, "model");
    expect(await again.hub.resolve(ID, "tokenizer")).toBe(dir);
    expect(hub.fileRequests().length).toBe(before); // only the API was asked
    expect(again.hub.snapshotOf(ID)).toMatchObject({ source: "hub", downloaded: [] });

    const endpoint = hub.endpoint;
    await hub.stop();
    const logger = recordingLogger();
    const offlineClient = new HubClient({ settings: new HubSettings({ endpoint, cacheDir }), logger });
    const out = join(tempDir(), "out");
    const path = await new EmbeddingService(ID, { resolver: offlineClient, logger }).exportOnnxModel(out, { quantized: false });
    expect(existsSync(path)).toBe(true);
    expect(logger.lines.filter((l) => l.includes("using the cached snapshot"))).toEqual([
      `cannot reach ${endpoint} (connection refused): using the cached snapshot ${offlineClient.snapshotOf(ID)!.commit} of ${ID}@main`,
    ]);
  });

  it("a Hub outage (HTTP 503) falls back to the cached snapshot; without one it says to try later", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo() }]);
    const cacheDir = tempDir();
    await client(hub, cacheDir).hub.resolve(ID, "tokenizer");
    hub.apiStatus = 503;
    const { hub: resolver, logger } = client(hub, cacheDir);
    expect(await resolver.resolve(ID, "tokenizer")).toBe(resolver.snapshotOf(ID)!.dir);
    // Asked again first, as every 5xx is (hub-retry.test.ts), then the cache.
    expect(logger.lines).toEqual([
      ...[1, 2, 3, 4].map(
        (n) => `warning: ${new URL(hub.endpoint).host} answered HTTP 503 for the model API (${ID}): retrying in 0 s (${n}/4)`,
      ),
      `${hub.endpoint} answered HTTP 503: using the cached snapshot ${resolver.snapshotOf(ID)!.commit} of ${ID}@main`,
    ]);
    await expect(client(hub, tempDir()).hub.resolve(ID, "tokenizer")).rejects.toThrow(
      `${hub.endpoint} answered HTTP 503 for ${ID}; try again later`,
    );
  });

  it("HF_HUB_OFFLINE=1: no request at all; a clear error when the model is not cached", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo() }]);
    const cacheDir = tempDir();
    await client(hub, cacheDir).hub.resolve(ID, "model");
    const count = hub.requests.length;
    const logger = recordingLogger();
    const settings = HubSettings.fromEnv({ HF_HUB_OFFLINE: "1", HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir });
    const offline = new HubClient({ settings, logger });
    const dir = await offline.resolve(ID, "model");
    expect(dir).toBe(join(cacheDir, "models--org--tiny-bert", "snapshots", offline.snapshotOf(ID)!.commit));
    expect(hub.requests.length).toBe(count);
    expect(logger.lines[0]).toMatch(/^HF_HUB_OFFLINE is set: using the cached snapshot [0-9a-f]{40} of org\/tiny-bert@main$/);

    const empty = new HubClient({ settings: HubSettings.fromEnv({ HF_HUB_OFFLINE: "1", HF_HUB_CACHE: tempDir() }), logger });
    await expect(empty.resolve(ID, "model")).rejects.toThrow(
      /^HF_HUB_OFFLINE is set and org\/tiny-bert@main is not in the Hub cache \(.+\); run once online/,
    );
    // Cached tokenizer files do not make a model export possible offline.
    const tokenizerOnly = tempDir();
    await client(hub, tokenizerOnly).hub.resolve(ID, "tokenizer");
    const partial = new HubClient({ settings: new HubSettings({ cacheDir: tokenizerOnly, offline: true }), logger });
    await expect(partial.resolve(ID, "model")).rejects.toThrow(/lacks config\.json and model weights .*run the export once online/);
  });

  it("settings come from the `env` option, read only when a Hub id is resolved", async () => {
    const folder = tempDir();
    const badEndpoint = new HubClient({ env: { HF_ENDPOINT: "ftp://x" }, logger: recordingLogger() });
    expect(await badEndpoint.resolve(folder, "model")).toBe(folder);
    await expect(badEndpoint.resolve(ID, "model")).rejects.toThrow(/HF_ENDPOINT "ftp:\/\/x" must be an http\(s\) URL/);
    const offline = new HubClient({ env: { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: tempDir() }, logger: recordingLogger() });
    await expect(offline.resolve(ID, "model")).rejects.toThrow(/^HF_HUB_OFFLINE is set and org\/tiny-bert@main is not in the Hub cache/);
  });

  it("reuses a cache written by Python's huggingface_hub (same layout)", async () => {
    const source = tinyRepo();
    const cacheDir = tempDir();
    const commit = "0123456789abcdef0123456789abcdef01234567";
    const repo = join(cacheDir, "models--org--tiny-bert");
    mkdirSync(join(repo, "blobs"), { recursive: true });
    mkdirSync(join(repo, "snapshots", commit), { recursive: true });
    mkdirSync(join(repo, "refs"));
    writeFileSync(join(repo, "refs", "main"), commit);
    for (const file of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) {
      const blob = sha256(join(source, file));
      writeFileSync(join(repo, "blobs", blob), readFileSync(join(source, file)));
      symlinkSync(`../../blobs/${blob}`, join(repo, "snapshots", commit, file));
    }
    const logger = recordingLogger();
    const resolver = new HubClient({ settings: new HubSettings({ cacheDir, offline: true }), logger });
    const out = join(tempDir(), "out");
    await new EmbeddingService(ID, { resolver, logger }).exportOnnxModel(out, { quantized: false });
    expect(readdirSync(out)).toContain("org-tiny-bert_fp32.onnx");
  });
});

describe("gated repositories and the token", () => {
  it("without a token: one line saying what to do; with HF_TOKEN: works, and the token appears nowhere", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo(), gatedToken: TOKEN }]);
    const cacheDir = tempDir();
    const anonymous = client(hub, cacheDir);
    const error = (await anonymous.hub.resolve(ID, "tokenizer").catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(
      `${ID} is gated or private (HTTP 401): request access at ${hub.endpoint}/${ID}, then set HF_TOKEN to an access token of that account (or run huggingface-cli login)`,
    );

    const wrong = client(hub, cacheDir, { token: "hf_wrong" });
    await expect(wrong.hub.resolve(ID, "tokenizer")).rejects.toThrow(
      /your token \(HF_TOKEN or the token file\) has no access \(HTTP 401\)/,
    );

    const logger = recordingLogger();
    const settings = HubSettings.fromEnv({ HF_TOKEN: TOKEN, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir });
    const resolver = new HubClient({ settings, logger });
    const out = join(tempDir(), "out");
    await new EmbeddingService(ID, { resolver, logger }).exportOnnxModel(out, { quantized: false });
    // Sent to the Hub, never to the CDN.
    const withToken = hub.requests.filter((r) => r.authorization === `Bearer ${TOKEN}`);
    expect(withToken.length).toBeGreaterThan(0);
    expect(withToken.every((r) => r.server === "hub")).toBe(true);
    expect(hub.requests.filter((r) => r.server === "cdn" && r.authorization !== undefined)).toEqual([]);
    expect(hub.requests.some((r) => r.server === "cdn")).toBe(true);
    // Never printed, logged, serialized or written.
    const said = [
      ...logger.lines,
      ...anonymous.logger.lines,
      error.message,
      JSON.stringify(settings),
      JSON.stringify(resolver.snapshotOf(ID)),
    ];
    const { inspect } = await import("node:util");
    said.push(inspect(settings, { showHidden: true, depth: 5 }), inspect(resolver, { depth: 5 }));
    expect(said.filter((s) => s.includes(TOKEN))).toEqual([]);
    expect([...allFiles(cacheDir), ...allFiles(out)].filter((f) => readFileSync(f).includes(TOKEN))).toEqual([]);
  });

  it("reads the token from $HF_HOME/token when HF_TOKEN is unset", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo(), gatedToken: TOKEN }]);
    const home = tempDir();
    writeFileSync(join(home, "token"), `${TOKEN}\n`);
    const settings = HubSettings.fromEnv({ HF_HOME: home, HF_ENDPOINT: hub.endpoint });
    expect(settings.cacheDir).toBe(join(home, "hub"));
    const dir = await new HubClient({ settings, logger: recordingLogger() }).resolve(ID, "tokenizer");
    expect(existsSync(join(dir, "tokenizer.json"))).toBe(true);
  });
});

describe("interrupted downloads", () => {
  it("a connection cut mid-file resumes with Range and verifies the sha256", async () => {
    const repoDir = tinyRepo();
    const hub = await startHub([{ id: ID, dir: repoDir }]);
    const weights = sha256(join(repoDir, "model.safetensors"));
    const size = statSync(join(repoDir, "model.safetensors")).size;
    hub.cutOnce.add(weights);
    const { hub: resolver, logger } = client(hub, tempDir());
    const dir = await resolver.resolve(ID, "model");
    expect(sha256(join(dir, "model.safetensors"))).toBe(weights);
    const cdn = gets(hub, "<cdn>");
    expect(cdn.map((r) => r.range)).toEqual([undefined, `bytes=${Math.floor(size / 2)}-`]);
    expect(logger.lines.some((l) => /^warning: download of model\.safetensors interrupted .* resuming \(1\/4\)$/.test(l))).toBe(true);
  });

  it("a failed run keeps the partial file and the next run resumes it", async () => {
    const repoDir = tinyRepo();
    const hub = await startHub([{ id: ID, dir: repoDir }]);
    const weights = sha256(join(repoDir, "model.safetensors"));
    hub.cutOnce.add(weights);
    const cacheDir = tempDir();
    await expect(client(hub, cacheDir, { retries: 0 }).hub.resolve(ID, "model")).rejects.toThrow(
      /^download of model\.safetensors failed \(.+\); [\d.]+ kB are kept and the next run resumes from there$/,
    );
    const partial = join(cacheDir, "models--org--tiny-bert", "blobs", `${weights}.incomplete`);
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    const dir = await client(hub, cacheDir).hub.resolve(ID, "model");
    expect(sha256(join(dir, "model.safetensors"))).toBe(weights);
    expect(gets(hub, "<cdn>").at(-1)!.range).toBe(`bytes=${kept}-`);
    expect(existsSync(partial)).toBe(false);
  });

  it("a corrupted partial file fails verification and is downloaded again, never cached", async () => {
    const repoDir = tinyRepo();
    const hub = await startHub([{ id: ID, dir: repoDir }]);
    const weights = sha256(join(repoDir, "model.safetensors"));
    const cacheDir = tempDir();
    const blobs = join(cacheDir, "models--org--tiny-bert", "blobs");
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${weights}.incomplete`), Buffer.alloc(1000, 1)); // wrong bytes
    const { hub: resolver, logger } = client(hub, cacheDir);
    const dir = await resolver.resolve(ID, "model");
    expect(sha256(join(dir, "model.safetensors"))).toBe(weights);
    expect(logger.lines.some((l) => l.includes("checksum mismatch"))).toBe(true);
  });
});

/** A loopback port nobody listens on. */
describe("the download lock", () => {
  it("is waited for while its holder lives, taken over when the holder died or stopped refreshing it", async () => {
    const dir = tempDir();
    const path = join(dir, "x.lock");
    const order: string[] = [];
    let waited = 0;
    const first = withFileLock(path, async () => {
      order.push("first in");
      await new Promise((resolve) => setTimeout(resolve, 150));
      order.push("first out");
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await withFileLock(path, async () => void order.push("second"), { pollMs: 10, onWait: () => waited++ });
    await first;
    expect(order).toEqual(["first in", "first out", "second"]);
    expect(waited).toBe(1);
    expect(existsSync(path)).toBe(false);

    const dead = spawnSync(process.execPath, ["-e", ""]).pid!; // a pid that has exited
    writeFileSync(path, JSON.stringify({ host: hostname(), pid: dead, nonce: "old" }));
    const started = Date.now();
    await withFileLock(path, async () => void order.push("after dead holder"), { pollMs: 10 });
    expect(Date.now() - started).toBeLessThan(5_000);

    writeFileSync(path, JSON.stringify({ host: "another-host", pid: 1, nonce: "old" }));
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    await withFileLock(path, async () => void order.push("after stale holder"), { pollMs: 10, staleMs: 30_000 });
    expect(order.slice(-2)).toEqual(["after dead holder", "after stale holder"]);
  });
});

describe("failures: one line saying what to do", () => {
  it("unknown repo, unknown revision, unreachable endpoint, not a Hub id, a listed file gone", async () => {
    const hub = await startHub([{ id: ID, dir: tinyRepo() }]);
    const cacheDir = tempDir();
    await expect(client(hub, cacheDir).hub.resolve("org/nope", "model")).rejects.toThrow(
      `org/nope was not found on ${hub.endpoint}: check the model id; for a private repo set HF_TOKEN (or run huggingface-cli login)`,
    );
    await expect(client(hub, cacheDir, { revision: "v9" }).hub.resolve(ID, "model")).rejects.toThrow(
      `revision "v9" of ${ID} was not found: pass a branch, tag or commit sha of ${hub.endpoint}/${ID} (--revision)`,
    );
    const closed = await closedPort();
    const unreachable = new HubClient({
      settings: new HubSettings({ endpoint: `http://127.0.0.1:${closed}`, cacheDir }),
      logger: recordingLogger(),
    });
    await expect(unreachable.resolve(ID, "model")).rejects.toThrow(
      /^cannot reach http:\/\/127\.0\.0\.1:\d+ \(connection refused\) and org\/tiny-bert@main is not in the Hub cache \(.+\); check your connection/,
    );
    await expect(client(hub, cacheDir).hub.resolve("not a model", "model")).rejects.toThrow(/neither a folder nor a Hugging Face Hub id/);
    hub.vanished.add("tokenizer.json");
    await expect(client(hub, tempDir()).hub.resolve(ID, "tokenizer")).rejects.toThrow(
      `${ID}@main has no file tokenizer.json (HTTP 404); the repository may have changed, run again`,
    );
    expect(() => HubSettings.fromEnv({ HF_ENDPOINT: "ftp://x" })).toThrow(/HF_ENDPOINT "ftp:\/\/x" must be an http\(s\) URL/);
  });

  it("a repo that is not a BERT-style model folder", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "README.md"), "nothing here");
    const hub = await startHub([{ id: "org/empty", dir }]);
    await expect(client(hub, tempDir()).hub.resolve("org/empty", "model")).rejects.toThrow(
      /^org\/empty@main has no config\.json and model weights \(model\.safetensors, .*\), which the export needs/,
    );
  });
});
