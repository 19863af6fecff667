// The quantizer on a model folder's feature-extraction graph, as an export runs it minus the FP32
// export (benches and tests compare settings on one FP32 file without re-exporting it).
import { loadEncoder } from "../arch/encoder-folder.js";
import type { GraphVariant } from "../arch/graph-variant.js";
import { loadTokenizer } from "../artifact/tokenizer-folder.js";
import { type Logger, silentLogger } from "../common/log.js";
import type { Model } from "../graph/ir.js";
import { ENCODER_OUTPUTS_JUDGING } from "../heads/encoder-outputs.js";
import { buildEncoderGraph } from "../heads/graph.js";
import { type TextSource, builtinCalibrationTexts } from "../quant/corpus.js";
import { type QuantizationOptions, resolveQuantizationOptions } from "../quant/options.js";
import { type QuantizationResult, quantizeModel } from "../quant/quantize.js";

export interface FolderQuantization {
  /** The model folder (its weights, config and tokenizer). */
  source: string;
  /** The FP32 file the report's sizes compare with. */
  fp32Path: string;
  outputPath: string;
  options?: QuantizationOptions;
  /** The graph to quantize (default: the folder's primary encoder graph). */
  model?: Model;
  variant?: GraphVariant;
  calibration?: TextSource;
  logger?: Logger;
}

export async function quantizeFolder(job: FolderQuantization): Promise<QuantizationResult> {
  const encoder = loadEncoder(job.source);
  try {
    return await quantizeModel({
      model: job.model ?? buildEncoderGraph(encoder, { opset: 17, variant: job.variant ?? "primary" }),
      fp32Path: job.fp32Path,
      outputPath: job.outputPath,
      tokenizer: loadTokenizer(job.source).tokenizer,
      padTokenId: encoder.config.padTokenId,
      maxSequence: encoder.config.maxSequence,
      settings: resolveQuantizationOptions(job.options ?? {}),
      calibration: job.calibration ?? builtinCalibrationTexts(),
      logger: job.logger ?? silentLogger,
      judging: ENCODER_OUTPUTS_JUDGING,
    });
  } finally {
    encoder.close();
  }
}
