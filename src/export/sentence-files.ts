// The sentence-transformers side of an export: which pooling the optional sentence_embedding
// output computes, and the files (modules.json, the pooling config…) that travel with the model
// so the runtime pools exactly as the graph and the original pipeline do.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError } from "../arch/config.js";
import { readAdvertisedDimensions } from "../arch/matryoshka.js";
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
import { ExportError } from "../common/errors.js";
import type { Logger } from "../common/log.js";

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
): SentencePooling | undefined {
  const { dimensions } = request;
  const pooling = resolvePooling(modelDir, request.sentenceEmbedding || dimensions !== undefined || request.vector !== undefined);
  if (dimensions === undefined || !pooling) return pooling;
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > hiddenSize) {
    throw new ExportError(`dimensions must be an integer from 1 to the model's hidden size ${hiddenSize}, not ${String(dimensions)}`);
  }
  const advertised = readAdvertisedDimensions(modelDir);
  if (advertised && !advertised.dimensions.includes(dimensions)) {
    logger.warn(
      `${dimensions} dimensions is not among those ${advertised.source} advertises (${advertised.dimensions.join(", ")}); the truncated vectors may be poor`,
    );
  }
  return { ...pooling, dimensions };
}

function resolvePooling(modelDir: string, option: boolean | SentencePooling | undefined): SentencePooling | undefined {
  if (!option) return undefined;
  if (option !== true) {
    if (!POOLING_MODES.includes(option.pooling) || typeof option.normalize !== "boolean") {
      throw new ExportError(
        `sentenceEmbedding must be true or { pooling: ${POOLING_MODES.map((m) => `"${m}"`).join(" | ")}, normalize: boolean }`,
      );
    }
    return { pooling: option.pooling, normalize: option.normalize };
  }
  const pipeline = readSentencePipeline(modelDir);
  if (!pipeline) {
    throw new ExportError(
      `${modelDir} has no modules.json, so it does not say how to pool a sentence embedding; ` +
        `choose explicitly with { sentenceEmbedding: { pooling: "mean", normalize: true } } (CLI: --pooling mean --normalize)`,
    );
  }
  if (pipeline.unsupportedModules.length > 0) {
    throw new ExportError(
      `${join(modelDir, "modules.json")} has ${pipeline.unsupportedModules.join(", ")} after pooling, which the graph cannot reproduce; ` +
        `export without the sentence_embedding output, or choose the pooling explicitly (CLI: --pooling cls|mean|max)`,
    );
  }
  return { pooling: pipeline.pooling, normalize: pipeline.normalize };
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
    !pooling || (p.pooling === pooling.pooling && p.normalize === pooling.normalize && p.unsupportedModules.length === 0);
  if (pipeline && describesGraph(pipeline)) {
    for (const file of pipeline.files) copyFileAtomic(join(modelDir, file), withParent(join(outputDir, file)));
    return;
  }
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
    const modules = readModules(modelDir);
    if (modules && !findPoolingModule(modules)) return undefined;
    return readSentencePipeline(modelDir);
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
