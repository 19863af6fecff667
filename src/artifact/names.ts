// What an export is made of, by name: the model files, the graph's output names and the
// metadata_props keys. The exporter writes these and every runtime reads them, so they live in one
// place below both.

/** Graph output names (SPEC: part of the public contract). */
export const OUTPUT = {
  lastHiddenState: "last_hidden_state",
  poolerOutput: "pooler_output",
  sentenceEmbedding: "sentence_embedding",
  /** Rerankers (sequence classification): [batch, num_labels]. */
  logits: "logits",
  /** sentence_embedding as int8 (quantize_embeddings' "int8", calibrated ranges). */
  sentenceEmbeddingInt8: "sentence_embedding_int8",
  /** sentence_embedding's sign bits, packed (quantize_embeddings' "ubinary"). */
  sentenceEmbeddingBinary: "sentence_embedding_binary",
  /** Learned sparse models (SPLADE, bge-m3): one weight per vocabulary entry, [batch, vocab]. */
  sparseEmbedding: "sparse_embedding",
  /** Late interaction (ColBERT, bge-m3): unit vectors per token, 0 where no vector, [batch, sequence, dim]. */
  tokenVectors: "token_vectors",
} as const;

/** metadata_props keys the exporter writes and the runtimes read. */
export const METADATA = {
  architecture: "architecture",
  modelType: "model_type",
  graphVariant: "graph_variant",
  pooler: "pooler",
  sentencePooling: "sentence_pooling",
  sentenceNormalize: "sentence_normalize",
  /** Dense modules after pooling, "in x out:activation" comma-separated (decoder embedders). */
  sentenceDense: "sentence_dense",
  /** Matryoshka: sentence_embedding is cut to this many dimensions and renormalized. */
  sentenceDimensions: "sentence_dimensions",
  /** fp16 for a float16 graph (float32 I/O). */
  precision: "precision",
  /** int8 | binary: which quantized vector output the graph has. */
  vector: "vector",
  /** JSON [[min…], [max…]] per dimension: the calibration ranges of sentence_embedding_int8. */
  int8Ranges: "sentence_embedding_int8_ranges",
  /** The dimensions the model's own files advertise (comma-separated), when they do. */
  matryoshkaDimensions: "matryoshka_dimensions",
  sourceModel: "source_model",
  maxSequenceLength: "max_sequence_length",
  /** The task the graph computes (feature-extraction, rerank, …). */
  task: "task",
  /** "input" when the graph takes token_type_ids, "none" when token type 0 is folded in. */
  tokenTypes: "token_types",
  /** Which head computes the task's outputs (e.g. "roberta:mlp"). */
  head: "head",
  /** Rerankers: the width of logits. */
  numLabels: "num_labels",
  /** LLM rerankers (JSON): the answer tokens whose logit difference is `logits`, and the table their rows came from. */
  rerankTokens: "rerank_tokens",
  /** LLM rerankers (JSON RerankTemplate): the prompt every pair is encoded with. */
  rerankTemplate: "rerank_template",
  /** "linear" or "quadratic": how the graph's attention memory grows with the sequence length. */
  attentionMemory: "attention_memory",
  /** sparse_embedding's width (the vocabulary). */
  sparseVocabulary: "sparse_vocabulary",
  /** How token_vectors were made and are scored (JSON: ColbertSettings). */
  colbert: "colbert_settings",
  /** Token ids whose sparse weight is always 0 (bge-m3's special tokens), comma-separated. */
  sparseDroppedIds: "sparse_dropped_ids",
  /** JSON { prompts, default_prompt_name }: config_sentence_transformers.json's prompts (ModelPrompts). */
  prompts: "prompts",
} as const;

/** INT8 quantization modes, each with its own file name. */
export type Int8Mode = "static" | "dynamic";

/** FP32 file name (SPEC: `<slug>_fp32.onnx`). */
export function fp32FileName(slug: string): string {
  return `${slug}_fp32.onnx`;
}

/** INT8 file name of each mode (SPEC: static QDQ is `<slug>_int8_qdq.onnx`). */
export function int8FileName(slug: string, mode: Int8Mode): string {
  return `${slug}_int8_${mode === "static" ? "qdq" : "dynamic"}.onnx`;
}
