// The onnxruntime child of `embed` (isolated sessions) sends back only what the caller keeps:
// token vectors are pooled in the child, so [batch, hidden] crosses the process boundary, not
// [batch, sequence, hidden]; the vectors are those of the in-process session.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { poolTokens } from "../src/heads/pooling.js";
import { batchFeeds } from "../src/ort/feeds.js";
import { IsolatedSession } from "../src/ort/isolated-session.js";
import { Embedder } from "../src/runtime/embedder.js";
import { modelFolder, tempDir } from "./helpers/index.js";

const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
const TEXTS = ["a short one", "a somewhat longer text, padded less than the first", "x"];

let dir: string;
let modelPath: string;

beforeAll(async () => {
  const source = modelFolder(syntheticBert({ ...TINY, seed: 71 }), {}, "model");
  dir = join(tempDir(), "out");
  modelPath = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(dir, { quantized: false });
});

describe("isolated sessions return only the pooled vectors", () => {
  it("a pooled run sends back [batch, hidden]: each row the pooling of that row's real tokens", async () => {
    const embedder = await Embedder.load(dir);
    const batch = embedder.tokenize(TEXTS);
    await embedder.close();
    const worker = await IsolatedSession.open(modelPath);
    try {
      const feeds = batchFeeds(batch, worker.inputNames);
      const full = (await worker.run(feeds, ["last_hidden_state"])).last_hidden_state!;
      expect(full.dims).toEqual([3, batch.sequence, 32]);
      expect(Object.keys(await worker.run(feeds, ["last_hidden_state"]))).toEqual(["last_hidden_state"]); // only the output asked for
      for (const pooling of ["cls", "mean", "max"] as const) {
        const pooled = (await worker.run(feeds, ["last_hidden_state"], { pooling, normalize: true })).last_hidden_state!;
        expect(pooled.dims, pooling).toEqual([3, 32]);
        const shape = { batch: 3, sequence: batch.sequence, hidden: 32 };
        expect(pooled.data, pooling).toEqual(poolTokens(full.data, batch.attentionMask, shape, { pooling, normalize: true }));
      }
    } finally {
      worker.close();
    }
  });

  it("the Embedder gives the same vectors with onnxruntime in a child and in this process", async () => {
    const isolated = await Embedder.load(dir);
    const inProcess = await Embedder.load(dir, { isolated: false });
    try {
      for (const pooling of ["cls", "mean"] as const) {
        for (const normalize of [true, false]) {
          const options = { pooling, normalize, batchSize: 2 };
          expect(await isolated.embed(TEXTS, options), `${pooling} ${normalize}`).toEqual(await inProcess.embed(TEXTS, options));
        }
      }
      expect(await isolated.embed(TEXTS, { dimensions: 16 })).toEqual(await inProcess.embed(TEXTS, { dimensions: 16 }));
    } finally {
      await Promise.all([isolated.close(), inProcess.close()]);
    }
  });
});
