// The INT8 / INT4 transform of an export, from the FP32 stage's verified graph (never rebuilt),
// with the SPEC's fallback: when quantizing the primary graph fails, the portable graph is
// emitted (at `portablePath`, an intermediate removed once quantized) and quantization is
// retried once; a second failure propagates. The FP32 stage's own file is its caller's.
import type { LoadedEncoder } from "../arch/encoder.js";
import type { GraphVariant } from "../arch/graph-variant.js";
import { taskJudging } from "../heads/tasks.js";
import { removeModelFiles } from "../graph/onnx-file.js";
import type { TextSource } from "../quant/corpus.js";
import { type QuantizationSettings, precisionLabel } from "../quant/options.js";
import { type QuantizationResult, type QuantizeRequest, quantizeModel } from "../quant/quantize.js";
import type { AnyQuantizationReport } from "../quant/report.js";
import { type EmitOptions, type EmittedGraph, emitVerifiedGraph, reuseReference } from "./emit.js";
import { ExportError } from "../common/errors.js";
import { failureNoVariantFixes } from "./failures.js";
import type { LoadedTokenizer } from "../artifact/tokenizer-files.js";
import { errorMessage } from "../common/messages.js";
import { currentAbortSignal } from "../common/abort.js";

/** The INT8 step itself (replaceable: tests force failures with it). */
export type Quantizer = (request: QuantizeRequest) => Promise<QuantizationResult<AnyQuantizationReport>>;

export const defaultQuantizer: Quantizer = quantizeModel;

export interface Int8Export {
  encoder: LoadedEncoder;
  tokenizer: LoadedTokenizer;
  /** How the FP32 graph was emitted (re-used for the portable retry). */
  emit: EmitOptions;
  int8Path: string;
  /** Where the portable FP32 graph of the retry is written (and removed from). */
  portablePath: string;
  settings: QuantizationSettings;
  calibration: TextSource;
  quantizer: Quantizer;
}

/** The quantized model, and the variant it was quantized from. */
export type QuantizedExport = QuantizationResult<AnyQuantizationReport> & { variant: GraphVariant };

export async function quantizeEmitted(emitted: EmittedGraph, job: Int8Export): Promise<QuantizedExport> {
  const { logger } = job.emit;
  try {
    return { ...(await quantizeOnce(emitted, job)), variant: emitted.variant };
  } catch (error) {
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
  const { onWritten: _, ...emit } = job.emit; // the portable FP32 file is an intermediate: not hashed
  const portable = await emitVerifiedGraph(
    job.encoder,
    job.portablePath,
    { ...emit, variants: ["portable"] },
    reuseReference(emitted.reference),
  );
  try {
    return { ...(await quantizeOnce(portable, job)), variant: portable.variant };
  } catch (error) {
    const fatal = failureNoVariantFixes(error);
    if (fatal !== undefined) throw fatal;
    throw new ExportError(
      `${precisionLabel(job.settings.mode)} quantization failed for the primary and the portable graph: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    removeModelFiles(portable.path);
  }
}

async function quantizeOnce(emitted: EmittedGraph, job: Int8Export): Promise<QuantizationResult<AnyQuantizationReport>> {
  const { encoder } = job;
  return job.quantizer({
    model: emitted.model,
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
    signal: currentAbortSignal(),
  });
}
