// Public API of @jazzmine/embedding.
export { EmbeddingService, DEFAULT_MODEL_ID, type ExportOptions, type EmbeddingServiceOptions } from "./export/service.js";
export { ExportError } from "./common/errors.js";
export { type Logger, stderrLogger, silentLogger } from "./common/log.js";
export { type ModelResolver, type FilePurpose, modelSlug } from "./export/model-source.js";
export { HubClient, type HubClientOptions, type ResolvedSnapshot, HubSettings, type HubSettingsInit, defaultCacheDir } from "./export/hub/index.js";
export { Reporter, type ProgressSink, type ProgressTask } from "./export/progress.js";
export { Embedder, EmbedderError, type EmbedderOptions, type EmbedOptions, type PoolingMode } from "./runtime/embedder.js";
export { loadEncoder, buildEncoderGraph, referenceForward, type LoadedEncoder } from "./arch/encoder.js";
export { supportedModelTypes } from "./arch/registry.js";
export { poolTokens, type SentencePooling } from "./arch/pooling.js";
export { WeightError } from "./checkpoint/weights.js";
export type { EncoderOutputs, TokenBatch, GraphVariant } from "./arch/architecture.js";
export { DEFAULT_OPSET, MIN_OPSET, MAX_OPSET } from "./graph/opset.js";
export { type QuantizationOptions, type QuantizationMode, DEFAULT_QUANTIZATION } from "./quant/options.js";
export { type CalibrationMethod, CALIBRATION_METHODS } from "./quant/range-selection.js";
export { QuantizationInputError } from "./quant/corpus.js";
export { QuantizationError } from "./quant/quantize.js";
export { type QuantizationReport, REPORT_FILE } from "./quant/report.js";
