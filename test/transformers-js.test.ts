// Our exports in transformers.js as they are: the transformers.js layout loaded offline
// (allowRemoteModels false, localModelPath = the export's parent), tokenized by transformers.js
// from our tokenizer_config.json, run by its own session. Its vectors must equal the Embedder's
// (cosine ≥ 0.99999) for BERT, XLM-R and a rotary model (ModernBERT, with sliding-window layers),
// FP32, the INT8 file as onnx/model_quantized.onnx and FP16 as onnx/model_fp16.onnx; a reranker's
// logits equal the Reranker's.
import { basename, dirname, join } from "node:path";
import {
  AutoModelForSequenceClassification,
  AutoTokenizer,
  type FeatureExtractionPipeline,
  env,
  pipeline,
} from "@huggingface/transformers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE, type SyntheticModel } from "../src/fixtures/model-folder.js";
import { syntheticModernBert } from "../src/fixtures/modernbert.js";
import { syntheticReranker } from "../src/fixtures/rerankers.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import { relativeMaxError } from "../src/export/verify.js";
import { cosine } from "../src/quant/fidelity.js";
import { Embedder, type PoolingMode } from "../src/runtime/embedder.js";
import { Reranker } from "../src/runtime/reranker.js";
import { modelFolder, tempDir } from "./helpers/index.js";

// Unequal lengths (padding), accents and emoji, an empty text; all within the models' positions.
const TEXTS = [
  "The quick brown fox jumps over the lazy dog.",
  "short",
  "",
  "Emoji 🙂 and accents: café, naïve, Zürich — a longer sentence, so that the sliding window matters",
];
const COSINE = 0.99999;

const root = tempDir("jazzmine-tjs-");
const open: Array<{ dispose(): Promise<unknown> } | Embedder | Reranker> = [];

beforeAll(() => {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root;
  env.useFSCache = false;
});

afterAll(async () => {
  for (const item of open.splice(0)) await ("close" in item ? item.close() : item.dispose());
});

/** Exports `model` into root/<name> in the transformers.js layout; returns the folder. */
async function exportForTransformersJs(name: string, model: SyntheticModel, quantized: boolean): Promise<string> {
  const source = modelFolder(model, {}, name);
  const out = join(root, name);
  const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized, layout: "transformers.js" });
  expect(basename(dirname(path))).toBe("onnx");
  return out;
}

async function transformersJs(name: string, dtype?: "fp32" | "q8"): Promise<FeatureExtractionPipeline> {
  const extractor = (await pipeline("feature-extraction", name, dtype ? { dtype } : {})) as FeatureExtractionPipeline;
  open.push(extractor);
  return extractor;
}

async function embedder(dir: string): Promise<Embedder> {
  const loaded = await Embedder.load(dir);
  open.push(loaded);
  return loaded;
}

/** transformers.js' pooling names for ours. */
const POOLING: Record<Exclude<PoolingMode, "max" | "lasttoken">, "mean" | "cls"> = { mean: "mean", cls: "cls" };

async function expectSameVectors(extractor: FeatureExtractionPipeline, ours: Embedder): Promise<number[]> {
  const cosines: number[] = [];
  for (const pooling of ["mean", "cls"] as const) {
    const theirs = (await extractor(TEXTS, { pooling: POOLING[pooling], normalize: true })).tolist() as number[][];
    const mine = await ours.embed(TEXTS, { pooling });
    expect(theirs).toHaveLength(TEXTS.length);
    theirs.forEach((row, i) => {
      expect(row).toHaveLength(mine[i]!.length);
      cosines.push(cosine(row, mine[i]!));
    });
  }
  expect(Math.min(...cosines)).toBeGreaterThanOrEqual(COSINE);
  return cosines;
}

/** Both tokenize the batch to the same ids and mask (transformers.js pads with tokenizer_config's pad_token). */
function expectSameTokens(extractor: FeatureExtractionPipeline, ours: Embedder): void {
  const encoded = extractor.tokenizer(TEXTS, { padding: true, truncation: true });
  const batch = ours.tokenize(TEXTS);
  expect(encoded.input_ids.dims).toEqual([batch.batch, batch.sequence]);
  expect(Array.from(encoded.input_ids.data as BigInt64Array, Number)).toEqual(Array.from(batch.inputIds, Number));
  expect(Array.from(encoded.attention_mask.data as BigInt64Array, Number)).toEqual(Array.from(batch.attentionMask, Number));
}

describe("transformers.js loads the transformers.js layout offline", () => {
  const models: Array<[string, () => SyntheticModel]> = [
    ["bert", () => syntheticBert({ seed: 71, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 })],
    ["xlm-roberta", () => syntheticRoberta({ seed: 72, modelType: "xlm-roberta", vocab: BUNDLED_VOCAB_SIZE, maxPositions: 66 })],
    ["modernbert", () => syntheticModernBert({ seed: 73, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 })],
  ];
  for (const [name, model] of models) {
    it(`${name} FP32: same tokens, vectors equal the Embedder's (cosine ≥ ${COSINE}, mean and CLS)`, async () => {
      const dir = await exportForTransformersJs(`tjs-${name}`, model(), false);
      const extractor = await transformersJs(`tjs-${name}`, "fp32");
      expect(extractor.model.config.model_type).toBe(name);
      const ours = await embedder(dir);
      expectSameTokens(extractor, ours);
      await expectSameVectors(extractor, ours);
    });
  }

  it("the INT8 export is onnx/model_quantized.onnx: dtype q8 (config.json's default) gives the Embedder's vectors", async () => {
    const model = syntheticBert({ seed: 74, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 });
    const dir = await exportForTransformersJs("tjs-bert-int8", model, true);
    const ours = await embedder(dir);
    expect(ours.modelPath).toBe(join(dir, "onnx", "model_quantized.onnx"));
    await expectSameVectors(await transformersJs("tjs-bert-int8", "q8"), ours);
    // No dtype given: transformers.js takes config.json's transformers.js_config.dtype, the file the export holds.
    await expectSameVectors(await transformersJs("tjs-bert-int8"), ours);
  });

  it("the FP16 export is onnx/model_fp16.onnx: config.json's default dtype, the Embedder's vectors", async () => {
    const source = modelFolder(syntheticBert({ seed: 76, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 64 }), {}, "tjs-bert-fp16");
    const out = join(root, "tjs-bert-fp16");
    const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, {
      quantized: false,
      dtype: "fp16",
      layout: "transformers.js",
    });
    expect(path).toBe(join(out, "onnx", "model_fp16.onnx"));
    const ours = await embedder(out);
    await expectSameVectors(await transformersJs("tjs-bert-fp16"), ours);
  });

  it("a reranker export: transformers.js' sequence-classification logits on tokenized pairs equal the Reranker's raw scores", async () => {
    const source = modelFolder(syntheticReranker("bert", { seed: 75, vocab: BUNDLED_VOCAB_SIZE }), {}, "tjs-reranker");
    const out = join(root, "tjs-reranker");
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false, layout: "transformers.js" });
    const query = "how tall is the eiffel tower";
    // No empty document: transformers.js drops an empty text_pair ([CLS] q [SEP], no second [SEP]),
    // where the tokenizer's pair template (and the Reranker) keep [CLS] q [SEP] [SEP].
    const documents = ["The tower is 330 metres tall.", "Bananas are rich in potassium.", "Paris 🗼 at night"];
    const tokenizer = await AutoTokenizer.from_pretrained("tjs-reranker");
    const model = await AutoModelForSequenceClassification.from_pretrained("tjs-reranker", { dtype: "fp32" });
    open.push(model);
    const inputs = tokenizer(
      documents.map(() => query),
      { text_pair: documents, padding: true, truncation: true },
    );
    const logits = Array.from((await model(inputs)).logits.data as Float32Array);
    const reranker = await Reranker.load(out);
    open.push(reranker);
    expect(relativeMaxError(await reranker.score(query, documents, { raw: true }), Float32Array.from(logits))).toBeLessThanOrEqual(1e-5);
  });
});
