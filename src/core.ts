// The portable compiler core: everything from a model folder's files to ONNX bytes, with no
// Node module anywhere below it (test/core-portable.test.ts bundles this entry for the browser and
// fails naming any module that pulls one in). Files come in through ModelFiles and go out through
// ByteSink (src/common/files.ts); Node's implementations are src/common/node-files.ts.
// Running graphs (verification, calibration) needs an onnxruntime and is not part of it.
export {
  type ByteSink,
  type ByteSource,
  FileKindError,
  MemorySink,
  type ModelFiles,
  type OpenFile,
  fileSource,
  memoryFile,
  memoryModelFiles,
  subfolder,
} from "./common/files.js";
export { Sha256 } from "./common/sha256.js";
export { ConfigError, ConfigReader } from "./arch/config.js";
export { openCheckpoint, WEIGHT_FILES } from "./checkpoint/checkpoint.js";
export { SafetensorsCheckpoint } from "./checkpoint/safetensors.js";
export { PytorchBinCheckpoint } from "./checkpoint/pytorch-bin.js";
export { WeightError, type WeightStore } from "./checkpoint/weights.js";
export { type LoadedEncoder, openEncoder } from "./arch/encoder.js";
export { readSentencePipeline } from "./arch/sentence-transformers.js";
export { readPrompts } from "./arch/prompts.js";
export { readAdvertisedDimensions } from "./arch/matryoshka.js";
export { supportedModelTypes } from "./arch/registry.js";
export { type LoadedTokenizer, TOKENIZER_FILES, checkTokenizerFiles, openTokenizer } from "./artifact/tokenizer-files.js";
export { TASKS, type Task, type TaskSpec, detectTask, headsFor } from "./heads/tasks.js";
export { buildEncoderGraph, buildGraph, buildTaskGraph, referenceForward, referenceOutputs } from "./heads/graph.js";
export { type Model, type TensorBytes } from "./graph/ir.js";
export { validateModel } from "./graph/validate.js";
export { PlannedModel, type WriteModelOptions, encodeModel } from "./graph/onnx-writer.js";
export { decodeModel } from "./graph/onnx-reader.js";
export { quantizeStatic, activationsToCalibrate } from "./quant/static-qdq.js";
export { quantizeDynamic } from "./quant/dynamic.js";
export { quantizeInt4, Int4Weights } from "./quant/matmul-nbits.js";
export { applySmoothing, smoothingGroups } from "./quant/smoothing.js";
export { convertToFloat16 } from "./quant/float16.js";
export { selectRange } from "./quant/range-selection.js";
