// Public API of @jazzmine/embedding.
export {
  EmbeddingService,
  DEFAULT_MODEL_ID,
  type ExportOptions,
  type TokenizerExportOptions,
  type EmbeddingServiceOptions,
  type ExportResult,
} from "./export/service.js";
export { type ExportPlan, resolveExportPlan } from "./export/plan.js";
export { ExportError } from "./common/errors.js";
export { UsageError } from "./common/usage.js";
export { InterruptedError } from "./common/abort.js";
export { type Logger, stderrLogger, silentLogger } from "./common/log.js";
export { type ModelResolver, type FilePurpose, modelSlug } from "./export/model-source.js";
export {
  HubClient,
  type HubClientOptions,
  type ResolvedSnapshot,
  HubSettings,
  type HubSettingsInit,
  defaultCacheDir,
} from "./export/hub/index.js";
export { Reporter } from "./export/progress.js";
export type { ProgressCallback, ProgressEvent, ProgressStage } from "./common/progress.js";
export {
  Embedder,
  EmbedderError,
  type ChunkedEmbedding,
  type EmbedderOptions,
  type EmbedOptions,
  type PoolingMode,
} from "./runtime/embedder.js";
export type { LongTextMode } from "./runtime/long-text.js";
export type { ModelPrompts } from "./arch/prompts.js";
export { Reranker, RerankerError, type RerankerOptions, type RerankOptions, type RerankResult } from "./runtime/reranker.js";
export { SparseEmbedder, type SparseVector, type SparseEmbedOptions, sparseDot, sparsify } from "./runtime/sparse-embedder.js";
export { MultiVectorEmbedder, type MultiVectorOptions, maxSim } from "./runtime/multi-vector-embedder.js";
export type { TokenModelOptions } from "./runtime/token-model.js";
export type { ColbertSettings } from "./heads/colbert-settings.js";
export { BGE_M3_OUTPUTS, type BgeM3Output } from "./heads/bge-m3.js";
export { PairEncoder, PairEncodingError, type EncodedPair } from "./artifact/pairs.js";
export { type LoadedEncoder } from "./arch/encoder.js";
export { loadEncoder } from "./arch/encoder-folder.js";
export { buildEncoderGraph, buildGraph, referenceForward, referenceOutputs } from "./heads/graph.js";
export { TASKS, type Task, type TaskSpec, detectTask, headsFor } from "./heads/tasks.js";
export type { Head, HeadOutput } from "./heads/head.js";
export { supportedModelTypes } from "./arch/registry.js";
export { poolTokens, truncateAndNormalize, type SentencePooling } from "./heads/pooling.js";
export { type VectorKind, type Int8Ranges, quantizeInt8Vectors, packBinaryVectors } from "./heads/vectors.js";
export { dotProduct, hammingDistance } from "./runtime/vector-distance.js";
export { WeightError } from "./checkpoint/weights.js";
export type { EncoderOutputs, TokenBatch } from "./arch/architecture.js";
export type { GraphVariant } from "./arch/graph-variant.js";
export { DEFAULT_OPSET, MIN_OPSET, MAX_OPSET } from "./graph/opset.js";
export { type QuantizationOptions, type QuantizationMode, DEFAULT_QUANTIZATION } from "./quant/options.js";
export { type CalibrationMethod, CALIBRATION_METHODS } from "./quant/range-selection.js";
export { QuantizationError, QuantizationInputError } from "./quant/corpus.js";
export { FileKindError } from "./common/regular-file.js";
export { type QuantizationReport, REPORT_FILE } from "./quant/report.js";
export {
  optimizeExport,
  OptimizeRefusal,
  chooseCandidate,
  type OptimizeOptions,
  type OptimizeResult,
  type OptimizationReport,
  type CandidateRow,
  type CandidateName,
  type OptimizeGoal,
  CANDIDATES,
  OPTIMIZE_GOALS,
  OPTIMIZATION_REPORT_FILE,
} from "./optimize/optimize.js";
