// Retrieval models by Hub id (loopback Hub): the download plan brings the files their heads live
// in — bge-m3's .pt heads, a PyLate Dense module, a SparseEncoder's SpladePooling config,
// colbert-ai's artifact.metadata — and the export detects the task from them.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { HubClient } from "../src/export/hub/client.js";
import { HubSettings } from "../src/export/hub/settings.js";
import { EmbeddingService } from "../src/export/service.js";
import { writeBgeM3Folder, writeColbertFolder, writePylateFolder, writeSpladeFolder } from "../src/fixtures/retrieval.js";
import { readModel } from "../src/graph/onnx-file.js";
import { hubsStoppedAfterEach } from "./helpers/fake-hub.js";
import { tempDir } from "./helpers/index.js";

const startHub = hubsStoppedAfterEach();

const REPOS: Array<[id: string, write: (dir: string) => string, heads: string[], output: string]> = [
  ["BAAI/tiny-m3", (dir) => writeBgeM3Folder(dir), ["colbert_linear.pt", "sparse_linear.pt"], "token_vectors"],
  [
    "lightonai/tiny-pylate",
    (dir) => writePylateFolder(dir),
    ["1_Dense/config.json", "1_Dense/model.safetensors", "config_sentence_transformers.json", "modules.json"],
    "token_vectors",
  ],
  [
    "naver/tiny-splade",
    (dir) => writeSpladeFolder(dir),
    ["1_SpladePooling/config.json", "config_sentence_transformers.json", "modules.json"],
    "sparse_embedding",
  ],
  ["colbert-ir/tiny-colbert", (dir) => writeColbertFolder(dir), ["artifact.metadata"], "token_vectors"],
];

describe("retrieval models from the Hub", () => {
  for (const [id, write, heads, output] of REPOS) {
    it(`${id}: fetches ${heads.join(", ")} and exports ${output}`, async () => {
      const hub = await startHub([{ id, dir: write(join(tempDir(), "repo")) }]);
      const resolver = new HubClient({
        settings: new HubSettings({ endpoint: hub.endpoint, cacheDir: tempDir() }),
        logger: silentLogger,
        retryDelayMs: 0,
      });
      const path = await new EmbeddingService(id, { resolver, logger: silentLogger }).exportOnnxModel(join(tempDir(), "out"), {
        quantized: false,
      });
      const snapshot = resolver.snapshotOf(id)!.dir;
      const fetched = readdirSync(snapshot, { recursive: true }) as string[];
      expect(fetched).toEqual(expect.arrayContaining(heads));
      expect((await readModel(path)).graph.outputs.map((o) => o.name)).toContain(output);
    });
  }
});
