// The FP16 step of an export (--dtype fp16): the verified FP32 graph converted to float16
// (quant/float16.ts), written, and verified against the same reference forward as FP32 within
// FP16_TOLERANCE. The FP32 stage's graph is converted, never rebuilt; its file is its caller's.
import type { LoadedEncoder } from "../arch/encoder.js";
import { METADATA } from "../artifact/names.js";
import { ExportError } from "../common/errors.js";
import { removeModelFiles, writeModel } from "../graph/onnx-file.js";
import { validateModel } from "../graph/validate.js";
import { convertToFloat16 } from "../quant/float16.js";
import type { EmitOptions, EmittedGraph } from "./emit.js";
import { verifyGraph } from "./verify.js";
import { currentAbortSignal } from "../common/abort.js";

/**
 * FP16 graphs must match the reference within this relative max error. Measured: 1.6e-3 on the
 * bge-small shape (12 layers; the export's "verified FP16 graph" line), up to 2.0e-3 on 4-layer
 * synthetic models; float16's own rounding is 4.9e-4 per value.
 */
export const FP16_TOLERANCE = 1e-2;

export const DTYPES = ["fp32", "fp16"] as const;
export type Dtype = (typeof DTYPES)[number];

export async function exportFloat16(emitted: EmittedGraph, encoder: LoadedEncoder, emit: EmitOptions, path: string): Promise<string> {
  const { model: half, float16Nodes, float32Nodes } = convertToFloat16(emitted.model, { [METADATA.precision]: "fp16" });
  validateModel(half);
  try {
    await writeModel(half, path, { signal: currentAbortSignal() });
    const verification = await verifyGraph(path, encoder, {
      task: emit.task,
      tokenTypeIds: emit.tokenTypeIds,
      reference: emitted.reference,
      tolerance: FP16_TOLERANCE,
    });
    const { worst } = verification;
    if (!verification.ok) {
      throw new ExportError(
        `the FP16 graph did not verify: max relative error ${worst.relativeError.toExponential(2)} on ${worst.output} (batch×sequence ${worst.shape}) exceeds ${FP16_TOLERANCE}; export FP32 or INT8 instead`,
      );
    }
    emit.logger.info(
      `verified FP16 graph (${float16Nodes} nodes in float16, ${float32Nodes} kept float32): max relative error ${worst.relativeError.toExponential(2)} vs the reference forward (tolerance ${FP16_TOLERANCE})`,
    );
  } catch (error) {
    removeModelFiles(path);
    throw error;
  }
  return path;
}
