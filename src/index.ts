// Public API of @jazzmine/embedding.
export { EmbeddingService, DEFAULT_MODEL_ID, type ExportOptions, type EmbeddingServiceOptions } from "./export/service.js";
export { ExportError } from "./export/errors.js";
export { type Logger, stderrLogger, silentLogger } from "./export/log.js";
export { type ModelResolver, modelSlug } from "./export/model-source.js";
export { loadEncoder, buildEncoderGraph, referenceForward, type LoadedEncoder } from "./arch/encoder.js";
export { supportedModelTypes } from "./arch/registry.js";
export type { EncoderOutputs, TokenBatch, GraphVariant } from "./arch/architecture.js";
export { DEFAULT_OPSET, MIN_OPSET, MAX_OPSET } from "./graph/opset.js";
