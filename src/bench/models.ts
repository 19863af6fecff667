// Which model a bench run measures: a generated synthetic model (the default, so a clean clone
// needs no download), a local folder, or a Hub id resolved once before anything is timed.
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type ModelResolver, isLocalFolder, modelSlug } from "../export/model-source.js";
import { BGE_SMALL_SHAPE, syntheticBert } from "../fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE, type SyntheticModel, writeModelFolder } from "../fixtures/model-folder.js";
import { syntheticReranker } from "../fixtures/rerankers.js";
import {
  type DecoderPipelineOptions,
  EMBEDDING_GEMMA_SHAPE,
  QWEN3_0_6B_SHAPE,
  syntheticGemma3,
  syntheticQwen3,
  writeDecoderPipeline,
} from "../fixtures/decoders.js";
import { BGE_SMALL_OUTLIER_CHANNELS, withOutlierChannels } from "../fixtures/outliers.js";
import { XLM_ROBERTA_LARGE_SHAPE, syntheticRoberta } from "../fixtures/roberta.js";
import type { BenchModel } from "./result.js";

export const SYNTHETIC_PREFIX = "synthetic:";
export const DEFAULT_BENCH_MODEL = `${SYNTHETIC_PREFIX}bge-small`;

/** Generated models: random weights in a real architecture's layout and shape. */
export const SYNTHETIC_MODELS: Readonly<
  Record<
    string,
    { about: string; create: () => SyntheticModel; /** Decoders' sentence-transformers files. */ pipeline?: DecoderPipelineOptions }
  >
> = {
  "bge-small": { about: "BAAI/bge-small-en-v1.5's shape", create: () => syntheticBert({ ...BGE_SMALL_SHAPE, seed: 7 }) },
  // Trained BERTs' outlier dimensions (#28): the hard case for 8 and 4 bits.
  "bge-small-outliers": {
    about: "BAAI/bge-small-en-v1.5's shape, every LayerNorm gamma ×25 on two channels",
    create: () => withOutlierChannels(syntheticBert({ ...BGE_SMALL_SHAPE, seed: 7 }), BGE_SMALL_OUTLIER_CHANNELS),
  },
  // A cross-encoder: BertForSequenceClassification, one relevance logit.
  "ms-marco-minilm": {
    about: "cross-encoder/ms-marco-MiniLM-L-6-v2's shape (reranker)",
    create: () => syntheticReranker("bert", { seed: 7, vocab: BUNDLED_VOCAB_SIZE, shape: { ...BGE_SMALL_SHAPE, layers: 6 } }),
  },
  // Streamed: 2.2 GB of weights are generated while they are written, never held in memory.
  "xlm-roberta-large": {
    about: "xlm-roberta-large / bge-m3 shape, over 2 GB",
    create: () => syntheticRoberta({ ...XLM_ROBERTA_LARGE_SHAPE, modelType: "xlm-roberta", seed: 7, streamed: true }),
  },
  // Decoders at their real widths and vocabularies, 2 layers (of 28 and 24): the tables dominate.
  "qwen3-embedding-0.6b": {
    about: "Qwen3-Embedding-0.6B's widths and vocabulary, 2 of its 28 layers",
    create: () => syntheticQwen3({ ...QWEN3_0_6B_SHAPE, seed: 7, streamed: true }),
    pipeline: { pooling: "lasttoken" },
  },
  "embeddinggemma-300m": {
    about: "EmbeddingGemma-300m's widths and vocabulary, 2 of its 24 layers, both Dense modules",
    create: () => syntheticGemma3({ ...EMBEDDING_GEMMA_SHAPE, seed: 7, streamed: true, slidingWindow: 512 }),
    pipeline: { pooling: "mean", dense: [3072, 768] },
  },
};

export interface ResolvedBenchModel extends Omit<BenchModel, "weightsBytes" | "description"> {
  dir: string;
}

/** The folder of synthetic model `name` under `cacheDir`, generated on first use. */
export function syntheticModelDir(name: string, cacheDir: string, log?: (message: string) => void): string {
  const synthetic = SYNTHETIC_MODELS[name];
  if (!synthetic)
    throw new Error(
      `unknown synthetic model "${SYNTHETIC_PREFIX}${name}" (known: ${Object.keys(SYNTHETIC_MODELS)
        .map((n) => SYNTHETIC_PREFIX + n)
        .join(", ")})`,
    );
  const dir = join(cacheDir, `synthetic-${name}`);
  if (!existsSync(join(dir, "config.json"))) {
    log?.(`generating ${SYNTHETIC_PREFIX}${name} (${synthetic.about}) in ${dir}`);
    // Generated beside its final name and renamed: an interrupted run leaves no half model.
    const partial = `${dir}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    const model = synthetic.create();
    writeModelFolder(partial, model);
    if (synthetic.pipeline) writeDecoderPipeline(partial, Number(model.config.hidden_size), synthetic.pipeline);
    renameSync(partial, dir);
  }
  return dir;
}

export async function resolveBenchModel(
  model: string,
  options: { cacheDir: string; resolver?: ModelResolver; log?: (message: string) => void },
): Promise<ResolvedBenchModel> {
  if (model.startsWith(SYNTHETIC_PREFIX)) {
    const name = model.slice(SYNTHETIC_PREFIX.length);
    return { id: model, slug: `synthetic-${name}`, source: "synthetic", dir: syntheticModelDir(name, options.cacheDir, options.log) };
  }
  if (isLocalFolder(model)) return { id: model, slug: modelSlug(model), source: "folder", dir: model };
  if (!options.resolver) throw new Error(`model "${model}" is not a local folder, and no Hub client was given to resolve it`);
  const dir = await options.resolver.resolve(model, "model");
  await options.resolver.resolve(model, "tokenizer");
  return { id: model, slug: modelSlug(model), source: "hub", dir };
}

/** "bert, 12 layers, hidden 384, vocab 30522" from config.json. */
export function describeModel(dir: string): string {
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const field = (...names: string[]) => names.map((n) => config[n]).find((v) => v !== undefined);
  const layers = field("num_hidden_layers", "n_layers");
  const hidden = field("hidden_size", "dim", "d_model");
  const vocab = field("vocab_size");
  return [String(config.model_type ?? "model"), layers && `${layers} layers`, hidden && `hidden ${hidden}`, vocab && `vocab ${vocab}`]
    .filter(Boolean)
    .join(", ");
}
