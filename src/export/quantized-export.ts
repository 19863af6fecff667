// The INT8 step of exportOnnxModel, with the SPEC's fallback: when quantizing the primary graph
// fails, its FP32 file is removed, the portable graph is emitted and quantization is retried
// once; a second failure propagates. The FP32 intermediate never outlives the export.
import type { LoadedEncoder } from "../arch/encoder.js";
import { buildTaskGraph } from "../heads/graph.js";
import { taskJudging } from "../heads/tasks.js";
import { removeModelFiles } from "../graph/onnx-writer.js";
import type { TextSource } from "../quant/corpus.js";
import { type QuantizationSettings, precisionLabel } from "../quant/options.js";
import { type QuantizationResult, type QuantizeRequest, quantizeModel } from "../quant/quantize.js";
import type { AnyQuantizationReport } from "../quant/report.js";
import { type EmitOptions, type EmittedGraph, emitVerifiedGraph, reuseReference } from "./emit.js";
import { ExportError } from "../common/errors.js";
import { failureNoVariantFixes } from "./failures.js";
import type { LoadedTokenizer } from "../artifact/tokenizer-files.js";
import { errorMessage } from "../common/messages.js";

/** The INT8 step itself (replaceable: tests force failures with it). */
export type Quantizer = (request: QuantizeRequest) => Promise<QuantizationResult<AnyQuantizationReport>>;

export const defaultQuantizer: Quantizer = quantizeModel;

export interface Int8Export {
  encoder: LoadedEncoder;
  tokenizer: LoadedTokenizer;
  /** How the FP32 graph was emitted (re-used to rebuild it and for the portable retry). */
  emit: EmitOptions;
  int8Path: string;
  settings: QuantizationSettings;
  calibration: TextSource;
  quantizer: Quantizer;
}

export async function quantizeEmitted(emitted: EmittedGraph, job: Int8Export): Promise<QuantizationResult<AnyQuantizationReport>> {
  const { logger } = job.emit;
  try {
    return await quantizeOnce(emitted, job);
  } catch (error) {
    removeModelFiles(emitted.path);
    const fatal = failureNoVariantFixes(error);
    if (fatal !== undefined) throw fatal;
    const message = errorMessage(error);
    if (emitted.variant !== "primary" || !job.emit.variants.includes("portable")) {
      throw new ExportError(`${precisionLabel(job.settings.mode)} quantization of the ${emitted.variant} graph failed: ${message}`, {
        cause: error,
      });
    }
    logger.warn(`quantizing the primary graph failed (${message}); emitting the portable graph and quantizing it instead`);
  }
  const portable = await emitVerifiedGraph(
    job.encoder,
    emitted.path,
    { ...job.emit, variants: ["portable"] },
    reuseReference(emitted.reference),
  );
  try {
    return await quantizeOnce(portable, job);
  } catch (error) {
    removeModelFiles(portable.path);
    const fatal = failureNoVariantFixes(error);
    if (fatal !== undefined) throw fatal;
    throw new ExportError(
      `${precisionLabel(job.settings.mode)} quantization failed for the primary and the portable graph: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
}

async function quantizeOnce(emitted: EmittedGraph, job: Int8Export): Promise<QuantizationResult<AnyQuantizationReport>> {
  const { encoder } = job;
  const result = await job.quantizer({
    model: buildTaskGraph(encoder, job.emit.task, { ...job.emit, variant: emitted.variant }),
    fp32Path: emitted.path,
    outputPath: job.int8Path,
    tokenizer: job.tokenizer.tokenizer,
    padTokenId: encoder.config.padTokenId,
    maxSequence: encoder.config.maxSequence,
    settings: job.settings,
    calibration: job.calibration,
    logger: job.emit.logger,
    // The heads say how their outputs are judged (and so which inputs calibrate the model).
    judging: taskJudging(encoder, job.emit.task),
  });
  removeModelFiles(emitted.path); // SPEC: the FP32 intermediate is deleted after success
  return result;
}
