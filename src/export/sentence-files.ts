// The sentence-transformers side of an export: which pooling the optional sentence_embedding
// output computes, and the files (modules.json, the pooling config…) that travel with the model
// so the runtime pools exactly as the graph and the original pipeline do.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError } from "../arch/config.js";
import { readAdvertisedDimensions } from "../arch/matryoshka.js";
import { PROMPTS_CONFIG, readPrompts } from "../arch/prompts.js";
import type { SentencePooling } from "../heads/pooling.js";
import {
  POOLING_MODES,
  type SentencePipeline,
  findPoolingModule,
  readModules,
  readSentencePipeline,
  sentencePipelineFiles,
} from "../arch/sentence-transformers.js";
import { copyFileAtomic, ensureDir, writeFileAtomic } from "../common/atomic.js";
import { UsageError } from "../common/usage.js";
import type { Logger } from "../common/log.js";
import { folderFiles } from "../common/node-files.js";

/** What an export asks of the sentence_embedding output. */
export interface SentenceRequest {
  /** `true`: the model folder's sentence-transformers pipeline (modules.json); an object: explicit. */
  sentenceEmbedding?: boolean | SentencePooling;
  /** Matryoshka: cut to this many dimensions and renormalize (implies `sentenceEmbedding: true` when that is unset). */
  dimensions?: number;
  /** A quantized vector output is computed from sentence_embedding (implies it too). */
  vector?: string;
}

/**
 * The sentence_embedding pooling an export asks for, Matryoshka dimensions included (checked
 * against the hidden width; a count the model's files do not advertise is only a warning).
 */
export function resolveSentencePooling(
  modelDir: string,
  request: SentenceRequest,
  hiddenSize: number,
  logger: Logger,
  /** A decoder embedder: its pipeline is always in the graph (last-token pooling, normalized, when its folder names none). */
  decoder = false,
): SentencePooling | undefined {
  const { dimensions } = request;
  const pooling = decoder
    ? resolveDecoderPooling(modelDir, request.sentenceEmbedding)
    : resolvePooling(modelDir, request.sentenceEmbedding || dimensions !== undefined || request.vector !== undefined);
  if (dimensions === undefined || !pooling) return pooling;
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > hiddenSize) {
    throw new UsageError(
      (name) => `${name("dimensions")} must be an integer from 1 to the model's hidden size ${hiddenSize}, not ${String(dimensions)}`,
    );
  }
  const advertised = readAdvertisedDimensions(folderFiles(modelDir));
  if (advertised && !advertised.dimensions.includes(dimensions)) {
    logger.warn(
      `${dimensions} dimensions is not among those ${advertised.source} advertises (${advertised.dimensions.join(", ")}); the truncated vectors may be poor`,
    );
  }
  return { ...pooling, dimensions };
}

/** What a decoder exported with --task feature-extraction and no sentence-transformers files pools by: its last token. */
const DECODER_DEFAULT_POOLING: SentencePooling = { pooling: "lasttoken", normalize: true };

function resolveDecoderPooling(modelDir: string, option: boolean | SentencePooling | undefined): SentencePooling {
  if (typeof option === "object") return resolvePooling(modelDir, option)!;
  return readSentencePipeline(folderFiles(modelDir)) ? resolvePooling(modelDir, true)! : DECODER_DEFAULT_POOLING;
}

function resolvePooling(modelDir: string, option: boolean | SentencePooling | undefined): SentencePooling | undefined {
  if (!option) return undefined;
  // An explicit pooling was checked with the other options (resolveExportPlan).
  if (option !== true) return { pooling: option.pooling, normalize: option.normalize };
  const pipeline = readSentencePipeline(folderFiles(modelDir));
  if (!pipeline) {
    throw new UsageError(
      (name) =>
        `${modelDir} has no modules.json, so it does not say how to pool a sentence embedding; ` +
        `choose the pooling explicitly with ${name("sentenceEmbedding.pooling")} (${POOLING_MODES.join(", ")}; L2-normalized)`,
    );
  }
  if (pipeline.unsupportedModules.length > 0) {
    throw new UsageError(
      (name) =>
        `${join(modelDir, "modules.json")} has ${pipeline.unsupportedModules.join(", ")} after pooling, which the graph cannot reproduce; ` +
        `export without the sentence_embedding output, or choose the pooling explicitly with ${name("sentenceEmbedding.pooling")} (${POOLING_MODES.join(", ")})`,
    );
  }
  return { pooling: pipeline.pooling, normalize: pipeline.normalize, ...(pipeline.dense.length > 0 ? { dense: pipeline.dense } : {}) };
}

/**
 * Writes the pipeline files into `outputDir`: the model folder's own when the graph pools as
 * they say (or has no sentence_embedding output), otherwise files describing `pooling`.
 */
export function writeSentenceFiles(
  modelDir: string,
  outputDir: string,
  pooling: SentencePooling | undefined,
  hiddenSize: number,
  logger: Logger,
): void {
  const pipeline = readPipelineQuietly(modelDir, logger);
  const describesGraph = (p: SentencePipeline) =>
    !pooling ||
    (p.pooling === pooling.pooling &&
      p.normalize === pooling.normalize &&
      p.dense.length === (pooling.dense?.length ?? 0) &&
      p.unsupportedModules.length === 0);
  if (pipeline && describesGraph(pipeline)) {
    for (const file of pipeline.files) copyFileAtomic(join(modelDir, file), withParent(join(outputDir, file)));
    return;
  }
  // The model's prompts travel with it whatever the graph pools.
  if (readPrompts(folderFiles(modelDir))) copyFileAtomic(join(modelDir, PROMPTS_CONFIG), join(outputDir, PROMPTS_CONFIG));
  if (!pooling) return;
  for (const [file, text] of Object.entries(sentencePipelineFiles(pooling.pooling, pooling.normalize, hiddenSize))) {
    writeFileAtomic(withParent(join(outputDir, file)), text);
  }
  const settings = "sentence_bert_config.json"; // max_seq_length: the runtime truncates to it
  if (existsSync(join(modelDir, settings))) copyFileAtomic(join(modelDir, settings), join(outputDir, settings));
}

/** Without a sentence_embedding output, an unreadable pipeline is not the export's problem. */
function readPipelineQuietly(modelDir: string, logger: Logger): SentencePipeline | undefined {
  try {
    // No Pooling module (SPLADE, PyLate): not an embedding pipeline, and those exports write their own files.
    const modules = readModules(folderFiles(modelDir));
    if (modules && !findPoolingModule(modules)) return undefined;
    return readSentencePipeline(folderFiles(modelDir));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logger.warn(`not copying the sentence-transformers files: ${error.message}`);
    return undefined;
  }
}

function withParent(path: string): string {
  ensureDir(dirname(path));
  return path;
}
