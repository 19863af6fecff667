// onProgress: the events a library caller gets from exportOnnxModel, exportTokenizerOnly, Hub
// downloads and Embedder.embed (start → progress → done/failed, units adding up), and the CLI's
// progress lines drawn from those same events.
import { statSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import type { ProgressEvent } from "../src/common/progress.js";
import { HubClient } from "../src/export/hub/client.js";
import { HubSettings } from "../src/export/hub/settings.js";
import { Reporter } from "../src/export/progress.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { hubsStoppedAfterEach } from "./helpers/fake-hub.js";
import { modelFolder, recordingLogger, runCli, tempDir } from "./helpers/index.js";

const ID = "org/progress-bert";

let source: string;
beforeAll(() => {
  source = modelFolder(syntheticBert({ seed: 81, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 }), {}, "progress-bert");
});

const startHub = hubsStoppedAfterEach();

function recorder(): { events: ProgressEvent[]; onProgress: (event: ProgressEvent) => void } {
  const events: ProgressEvent[] = [];
  return { events, onProgress: (event) => events.push({ ...event }) };
}

/** Each task (stage + label) opens once, never goes backwards, and ends once, done or failed. */
function expectWellFormed(events: ProgressEvent[]): Map<string, ProgressEvent[]> {
  const tasks = new Map<string, ProgressEvent[]>();
  for (const event of events) {
    const key = `${event.stage} ${event.label}`;
    const seen = tasks.get(key) ?? [];
    if (seen.length === 0) expect(event.status).toBe("start");
    else {
      expect(["done", "failed"]).not.toContain(seen.at(-1)!.status);
      expect(event.done).toBeGreaterThanOrEqual(seen.at(-1)!.done);
    }
    seen.push(event);
    tasks.set(key, seen);
  }
  for (const seen of tasks.values()) expect(["done", "failed"]).toContain(seen.at(-1)!.status);
  return tasks;
}

describe("onProgress", () => {
  it("exportOnnxModel: the graph step, then quantization; nothing on the logger", async () => {
    const { events, onProgress } = recorder();
    const logger = recordingLogger();
    await new EmbeddingService(source, { logger }).exportOnnxModel(join(tempDir(), "out"), {
      quantized: true,
      mode: "dynamic",
      onProgress,
    });
    const tasks = expectWellFormed(events);
    expect([...tasks.keys()]).toEqual(["export building, writing and verifying the FP32 graph", "quantize quantizing to INT8 (dynamic)"]);
    for (const seen of tasks.values()) {
      expect(seen.map((e) => [e.status, e.done, e.total, e.unit])).toEqual([
        ["start", 0, 1, "steps"],
        ["done", 1, 1, "steps"],
      ]);
    }
    expect(logger.lines.some((line) => line.startsWith("building, writing and verifying"))).toBe(false);
  });

  it("Hub downloads: bytes per file adding up to its size; exportTokenizerOnly downloads only tokenizer files", async () => {
    const hub = await startHub([{ id: ID, dir: source }]);
    const settings = new HubSettings({ endpoint: hub.endpoint, cacheDir: tempDir() });
    const resolver = new HubClient({ settings, logger: silentLogger, retryDelayMs: 0 });
    const tokenizerOnly = recorder();
    await new EmbeddingService(ID, { resolver, logger: silentLogger }).exportTokenizerOnly(join(tempDir(), "tok"), {
      onProgress: tokenizerOnly.onProgress,
    });
    const tokenizerTasks = expectWellFormed(tokenizerOnly.events);
    expect([...tokenizerTasks.keys()]).toEqual([
      "download tokenizer.json",
      "download tokenizer_config.json",
      "tokenizer writing the tokenizer files",
    ]);

    const model = recorder();
    await new EmbeddingService(ID, { resolver, logger: silentLogger }).exportOnnxModel(join(tempDir(), "out"), {
      quantized: false,
      onProgress: model.onProgress,
    });
    const tasks = expectWellFormed(model.events);
    // The tokenizer files are cached by now: only the model's files download.
    const downloads = [...tasks.entries()].filter(([key]) => key.startsWith("download "));
    expect(downloads.map(([key]) => key.slice("download ".length)).sort()).toEqual(["config.json", "model.safetensors"]);
    for (const [key, seen] of downloads) {
      const size = statSync(join(source, key.slice("download ".length))).size;
      expect(seen.every((e) => e.unit === "bytes" && e.total === size)).toBe(true);
      expect(seen.at(-1)).toMatchObject({ status: "done", done: size });
    }
    expect(tasks.has("export building, writing and verifying the FP32 graph")).toBe(true);
  });

  it("Embedder.embed: texts done per batch, up to all of them; a failing batch ends the task as failed", async () => {
    const dir = join(tempDir(), "emb");
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
    const embedder = await Embedder.load(dir);
    try {
      const texts = Array.from({ length: 70 }, (_, i) => `text number ${i} ${"word ".repeat(i % 7)}`);
      const { events, onProgress } = recorder();
      await embedder.embed(texts, { batchSize: 32, onProgress });
      const [seen] = [...expectWellFormed(events).values()];
      // One progress event per onnxruntime run: at least three batches of at most 32.
      const progress = seen!.filter((e) => e.status === "progress");
      expect(progress.length).toBeGreaterThanOrEqual(3);
      progress.forEach((e, i) => expect(e.done - (i === 0 ? 0 : progress[i - 1]!.done)).toBeGreaterThan(0));
      expect([seen![0], seen!.at(-1)]).toMatchObject([
        { status: "start", done: 0 },
        { status: "done", done: 70 },
      ]);
      expect(seen!.every((e) => e.stage === "embed" && e.unit === "texts" && e.total === 70)).toBe(true);

      const failing = recorder();
      await embedder.close();
      await expect(embedder.embed(["a"], { onProgress: failing.onProgress })).rejects.toThrow();
      expect(failing.events.map((e) => e.status)).toEqual(["start", "failed"]);
    } finally {
      await embedder.close().catch(() => {});
    }
  });
});

describe("the CLI's progress lines come from the events", () => {
  it("lines on a log file: downloads, steps and counts; a terminal draws texts done of all", async () => {
    const lines: string[] = [];
    const plain = new Reporter({ write: (t: string) => lines.push(t) });
    const event = (e: Partial<ProgressEvent>): ProgressEvent => ({
      stage: "download",
      label: "model.safetensors",
      done: 0,
      total: 2_000_000,
      unit: "bytes",
      status: "start",
      ...e,
    });
    plain.onProgress(event({ done: 500_000 }));
    plain.onProgress(event({ status: "progress", done: 2_000_000 }));
    plain.onProgress(event({ status: "done", done: 2_000_000 }));
    plain.onProgress(event({ stage: "export", label: "verifying", unit: "steps", total: 1 }));
    plain.onProgress(event({ stage: "embed", label: "embedding", unit: "texts", total: 70 }));
    expect(lines).toEqual(["downloading model.safetensors (2.0 MB), resuming at 500.0 kB\n", "verifying…\n", "embedding 70 texts…\n"]);

    const screen: string[] = [];
    const tty = new Reporter({ write: (t: string) => screen.push(t), isTTY: true, columns: 80 });
    tty.onProgress(event({ stage: "embed", label: "embedding", unit: "texts", total: 70 }));
    tty.onProgress(event({ stage: "embed", label: "embedding", unit: "texts", total: 70, status: "progress", done: 32 }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    tty.onProgress(event({ stage: "embed", label: "embedding", unit: "texts", total: 70, status: "done", done: 70 }));
    expect(screen.join("")).toMatch(/embedding 32\/70 · \d+ s/);
    expect(screen.join("")).toMatch(/✓ embedding 70 texts \([\d.]+ s\)\n$/);
  });

  it("jazzmine-embed embed shows progress only for more texts than one batch", async () => {
    const dir = join(tempDir(), "cli");
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
    const many = await runCli(["embed", dir, "-", "--batch-size", "4"], { env: {}, stdin: "a\nb\nc\nd\ne\n" });
    expect(many.code).toBe(0);
    expect(many.stderr).toContain("embedding 5 texts…\n");
    const few = await runCli(["embed", dir, "a", "b"], { env: {} });
    expect(few.code).toBe(0);
    expect(few.stderr).not.toContain("embedding");
  });
});
