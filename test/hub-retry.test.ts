// Hub retries as huggingface_hub does them: a 429 or 5xx answer to any request (the model API, a
// file's HEAD, its GET) is asked again — after what Retry-After says (capped, and said), else
// after 1, 2, 4, 8 s — and a download whose checksum does not match is not. The waits are
// recorded, not slept.
import fc from "fast-check";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HubClient } from "../src/export/hub/client.js";
import { retryAfterMs } from "../src/export/hub/http.js";
import { HubSettings } from "../src/export/hub/settings.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { type FakeHub, hubsStoppedAfterEach } from "./helpers/fake-hub.js";
import { modelFolder, recordingLogger, tempDir } from "./helpers/index.js";

const ID = "org/tiny-bert";
const startHub = hubsStoppedAfterEach();

function client(hub: FakeHub, options: { maxRetryAfterMs?: number } = {}) {
  const waits: number[] = [];
  const logger = recordingLogger();
  const cacheDir = tempDir();
  const resolver = new HubClient({
    settings: new HubSettings({ endpoint: hub.endpoint, cacheDir }),
    logger,
    sleep: async (ms) => void waits.push(ms),
    ...options,
  });
  return { resolver, logger, waits, cacheDir };
}

const host = (hub: FakeHub) => new URL(hub.endpoint).host;

describe("429 and 5xx", () => {
  it("are retried on the API, HEAD and GET requests, after the Retry-After asked for, each wait said", async () => {
    const repo = modelFolder(syntheticBert({ seed: 81 }), {}, "repo");
    const hub = await startHub([{ id: ID, dir: repo }]);
    hub.failures.api.push({ status: 429, retryAfter: "30" });
    hub.failures.head.push({ status: 503, retryAfter: "2" });
    hub.failures.get.push({ status: 429, retryAfter: "30" }, { status: 500 });
    const { resolver, logger, waits } = client(hub);
    const dir = await resolver.resolve(ID, "model");
    expect(existsSync(join(dir, "model.safetensors"))).toBe(true);
    expect(waits).toEqual([30_000, 2_000, 30_000, 2_000]);
    expect(logger.warnings.slice(0, 3)).toEqual([
      `${host(hub)} answered HTTP 429 for the model API (${ID}): retrying in 30 s as its Retry-After asks (1/4)`,
      `${host(hub)} answered HTTP 503 for config.json (metadata): retrying in 2 s as its Retry-After asks (1/4)`,
      `${host(hub)} answered HTTP 429 for config.json: retrying in 30 s as its Retry-After asks (1/4)`,
    ]);
    expect(logger.warnings[3]).toBe(`${host(hub)} answered HTTP 500 for config.json: retrying in 2 s (2/4)`);
  });

  it("a Retry-After longer than the cap is cut to it, and says so; an HTTP date counts from now", async () => {
    const hub = await startHub([{ id: ID, dir: modelFolder(syntheticBert({ seed: 82 }), {}, "repo") }]);
    hub.failures.api.push({ status: 429, retryAfter: "3600" }, { status: 429, retryAfter: new Date(Date.now() + 3_600_000).toUTCString() });
    const { resolver, logger, waits } = client(hub, { maxRetryAfterMs: 45_000 });
    await resolver.resolve(ID, "tokenizer");
    expect(waits).toEqual([45_000, 45_000]);
    expect(logger.warnings[0]).toBe(
      `${host(hub)} answered HTTP 429 for the model API (${ID}): retrying in 45 s (its Retry-After asks 3600 s; waiting at most 45 s) (1/4)`,
    );
  });

  it("after 4 retries (waits of 1, 2, 4, 8 s) the failure is one line", async () => {
    const hub = await startHub([{ id: ID, dir: modelFolder(syntheticBert({ seed: 83 }), {}, "repo") }]);
    for (let i = 0; i < 5; i++) hub.failures.head.push({ status: 502 });
    const { resolver, waits } = client(hub);
    await expect(resolver.resolve(ID, "tokenizer")).rejects.toThrow(
      `${hub.endpoint} answered HTTP 502 for tokenizer.json of ${ID}; try again later`,
    );
    expect(waits).toEqual([1000, 2000, 4000, 8000]);
  });

  it("Retry-After: seconds or an HTTP date; anything else is no answer", () => {
    fc.assert(fc.property(fc.nat(100_000), (s) => retryAfterMs(` ${s} `) === s * 1000));
    const now = Date.parse("2026-12-07T10:00:00Z");
    expect(retryAfterMs("Mon, 07 Dec 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Mon, 07 Dec 2026 09:00:00 GMT", now)).toBe(0);
    for (const bad of [null, "", "soon", "-5", "1.5"]) expect(retryAfterMs(bad, now)).toBeUndefined();
  });
});

describe("a checksum mismatch", () => {
  it("is not retried: one GET, no wait, nothing cached, one line saying asking again does not help", async () => {
    const repo = modelFolder(syntheticBert({ seed: 84 }), {}, "repo");
    const hub = await startHub([{ id: ID, dir: repo }]);
    const weights = [...hub.addRepo({ id: ID, dir: repo }).files.values()].find((f) => f.lfs)!;
    hub.corrupt.add(weights.sha256);
    const { resolver, waits, cacheDir } = client(hub);
    await expect(resolver.resolve(ID, "model")).rejects.toThrow(
      new RegExp(
        `^download of model\\.safetensors failed: checksum mismatch \\(expected ${weights.sha256}, got [0-9a-f]{64}\\); ` +
          "the server sent other bytes than it announced, which asking again does not change",
      ),
    );
    expect(hub.fileRequests((r) => r.server === "cdn")).toHaveLength(1);
    expect(waits).toEqual([]);
    const blobs = join(cacheDir, "models--org--tiny-bert", "blobs");
    expect(readdirSync(blobs).filter((name) => name.startsWith(weights.sha256))).toEqual([]);
  });
});
