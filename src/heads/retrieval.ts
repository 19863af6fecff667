// The retrieval tasks' detection and heads: sparse (SPLADE, bge-m3's sparse_linear), colbert
// (HF_ColBERT, PyLate, bge-m3's colbert_linear) and bge-m3's three outputs in one graph. What the
// checkpoint folder holds decides, in this order: bge-m3's .pt heads, colbert-ai's HF_ColBERT /
// artifact.metadata, a sentence-transformers SparseEncoder, a PyLate Dense module.
import type { LoadedEncoder } from "../arch/encoder.js";
import { linearRef } from "../arch/weight-refs.js";
import { BGE_M3_OUTPUTS, type BgeM3Output, bgeM3SparseHead, hasBgeM3Heads, readColbertLinear, readSparseLinear } from "./bge-m3.js";
import { WeightError } from "../checkpoint/weights.js";
import { ExportError } from "../common/errors.js";
import { readTokenizerJson } from "../artifact/tokenizer-files.js";
import {
  COLBERT_ARTIFACT_METADATA,
  bgeM3ColbertSettings,
  defaultColbertAiSettings,
  readColbertAiSettings,
  readPylateSettings,
} from "./colbert-settings.js";
import type { Head } from "./head.js";
import { type SentencePooling, sentenceEmbeddingHead } from "./pooling.js";
import { DEFAULT_SPLADE_POOLING, mlmHeadPlan, mlmHeadTensors, readSpladePipeline, spladeHead } from "./splade.js";
import { readPylateDense, tokenVectorsHead } from "./token-vectors.js";

export type RetrievalTask = "sparse" | "colbert" | "bge-m3";

/** colbert-ai's HF_ColBERT keeps its projection here, beside the "bert." encoder. */
const HF_COLBERT_LINEAR = "linear";

function architecturesOf(encoder: LoadedEncoder): string[] {
  const value = encoder.configFile.raw("architectures");
  return Array.isArray(value) ? value.filter((a): a is string => typeof a === "string") : [];
}

/** The retrieval task `encoder`'s folder is made for, or undefined (then it is not a retrieval model). */
export function detectRetrievalTask(encoder: LoadedEncoder): RetrievalTask | undefined {
  const { files } = encoder;
  if (hasBgeM3Heads(files)) return "bge-m3";
  if (architecturesOf(encoder).includes("HF_ColBERT") || files.has(COLBERT_ARTIFACT_METADATA)) return "colbert";
  if (readSpladePipeline(files)) return "sparse";
  if (readPylateDense(files, encoder.config.hiddenSize)) return "colbert";
  return undefined;
}

/** What tensors a head list is missing, as one WeightError. */
function missingTensors(encoder: LoadedEncoder, names: string[], what: string): WeightError | undefined {
  const missing = names.filter((name) => !encoder.checkpoint.has(name));
  if (missing.length === 0) return undefined;
  return new WeightError(`${encoder.checkpoint.store.source} has no ${missing.join(", ")}: ${what} needs them`);
}

/** sparse_embedding: bge-m3's sparse_linear.pt when it is there, else the MLM head (SPLADE). */
export function sparseHead(encoder: LoadedEncoder): Head {
  const { files, config } = encoder;
  if (hasBgeM3Heads(files)) return bgeM3SparseHead(readSparseLinear(files, config.hiddenSize), config.vocabSize, specialTokenIds(encoder));
  const site = { config, prefix: encoder.prefix, checkpoint: encoder.checkpoint };
  const plan = mlmHeadPlan(encoder.architecture.name, site);
  if (!plan) {
    throw new ExportError(
      `${encoder.configFile.source}: a sparse (SPLADE) head on ${encoder.architecture.name} is not supported; ` +
        `SPLADE exports read the masked-LM head of bert or distilbert checkpoints (BertForMaskedLM, DistilBertForMaskedLM)`,
    );
  }
  const missing = missingTensors(encoder, mlmHeadTensors(plan), `a SPLADE model (the masked-LM head of ${encoder.architecture.name})`);
  if (missing) throw missing;
  return spladeHead(plan, readSpladePipeline(files) ?? DEFAULT_SPLADE_POOLING);
}

/** token_vectors: bge-m3's colbert_linear.pt, colbert-ai's linear.weight or PyLate's Dense module. */
export function colbertHead(encoder: LoadedEncoder): Head {
  const { files, config } = encoder;
  const hidden = config.hiddenSize;
  if (hasBgeM3Heads(files))
    return tokenVectorsHead(
      readColbertLinear(files, hidden),
      { kind: "afterFirst" },
      bgeM3ColbertSettings(config.maxSequence),
      "bge-m3:colbert",
    );
  const notPad = { kind: "notPad", padTokenId: config.padTokenId } as const;
  const weight = `${HF_COLBERT_LINEAR}.weight`;
  if (encoder.checkpoint.has(weight)) {
    const [dim] = encoder.checkpoint.store.info(weight).shape;
    const linear = encoder.checkpoint.linear(linearRef(HF_COLBERT_LINEAR, hidden, dim ?? 0, false));
    return tokenVectorsHead(
      { ...linear, source: encoder.checkpoint.store.source },
      notPad,
      readColbertAiSettings(files) ?? defaultColbertAiSettings(),
      "colbert:hf_colbert",
    );
  }
  const dense = readPylateDense(files, hidden);
  if (dense) return tokenVectorsHead(dense, notPad, readPylateSettings(files) ?? defaultColbertAiSettings(), "colbert:pylate");
  throw new ExportError(
    `${files.label}: no ColBERT projection found — colbert-ai's ${weight} in the checkpoint, a PyLate Dense module in modules.json, or bge-m3's colbert_linear.pt`,
  );
}

/** bge-m3's dense output: FlagEmbedding's [CLS] vector, normalized. */
export const BGE_M3_DENSE_POOLING: SentencePooling = { pooling: "cls", normalize: true };

/** bge-m3's heads for `outputs` (default: all three), in the order dense, sparse, colbert. */
export function bgeM3Heads(encoder: LoadedEncoder, outputs: readonly BgeM3Output[] = BGE_M3_OUTPUTS): Head[] {
  if (!hasBgeM3Heads(encoder.files))
    throw new ExportError(`${encoder.dir} is not a bge-m3 folder: it lacks sparse_linear.pt or colbert_linear.pt`);
  const unknown = outputs.filter((o) => !BGE_M3_OUTPUTS.includes(o));
  if (unknown.length > 0 || outputs.length === 0) {
    throw new ExportError(
      `bge-m3 outputs must be some of ${BGE_M3_OUTPUTS.join(", ")}${unknown.length > 0 ? `, not ${unknown.join(", ")}` : ""}`,
    );
  }
  const hidden = encoder.config.hiddenSize;
  return BGE_M3_OUTPUTS.filter((o) => outputs.includes(o)).map((o) =>
    o === "dense" ? sentenceEmbeddingHead(BGE_M3_DENSE_POOLING, hidden) : o === "sparse" ? sparseHead(encoder) : colbertHead(encoder),
  );
}

/** Tokenizer JSON's special tokens that FlagEmbedding drops from sparse weights. */
const DROPPED_SPECIAL_TOKENS = new Set(["<s>", "</s>", "<pad>", "<unk>", "[CLS]", "[SEP]", "[PAD]", "[UNK]"]);

/**
 * The ids bge-m3's sparse output never weighs: the tokenizer's cls/bos, eos/sep, pad and unk
 * tokens (tokenizer.json's added tokens), and config.json's bos/eos/pad ids.
 */
export function specialTokenIds(encoder: LoadedEncoder): number[] {
  const ids = new Set<number>([encoder.config.padTokenId]);
  for (const field of ["bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id"]) {
    const id = encoder.configFile.raw(field);
    if (typeof id === "number" && Number.isInteger(id)) ids.add(id);
  }
  const added = readTokenizerJson(encoder.files)?.added_tokens;
  for (const t of Array.isArray(added) ? (added as Array<{ id?: unknown; content?: unknown }>) : [])
    if (typeof t?.id === "number" && typeof t.content === "string" && DROPPED_SPECIAL_TOKENS.has(t.content)) ids.add(t.id);
  return [...ids].filter((id) => id >= 0 && id < encoder.config.vocabSize).sort((a, b) => a - b);
}
