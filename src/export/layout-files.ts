// The files beside the model that let other runtimes load an export as it is: config.json (the
// source model's, model_type intact) in every layout; in the transformers.js layout it also says
// which dtype's file the export holds, in the optimum layout ort_config.json describes the
// quantization as Optimum's ORTConfig does.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EXPORT_LAYOUTS, type ExportLayout, type ModelPrecision, transformersJsDtype } from "../artifact/layout.js";
import { copyFileAtomic, writeFileAtomic } from "../common/atomic.js";
import { ExportError } from "../common/errors.js";
import { externalDataPathOf } from "../graph/onnx-file.js";
import type { QuantizationSettings } from "../quant/options.js";
import type { QuantizationReport } from "../quant/report.js";
import { CONFIG_FILE } from "./hub/plan.js";

/** Optimum's ORTConfig.CONFIG_NAME. */
export const ORT_CONFIG_FILE = "ort_config.json";

export function checkLayout(layout: unknown): ExportLayout {
  if (EXPORT_LAYOUTS.includes(layout as ExportLayout)) return layout as ExportLayout;
  throw new ExportError(`layout must be one of ${EXPORT_LAYOUTS.join(", ")}, not ${String(layout)}`);
}

export interface LayoutFiles {
  layout: ExportLayout;
  /** The model folder the export read (its config.json is copied). */
  sourceDir: string;
  outputDir: string;
  /** The model file the export returns, and what it holds. */
  modelPath: string;
  precision: ModelPrecision;
  opset: number;
  /** The INT8 step's settings and report (quantized exports). */
  quantization?: { settings: QuantizationSettings; report: Pick<QuantizationReport, "matMuls"> };
}

/** Writes config.json (and ort_config.json for optimum) into the export folder. */
export function writeLayoutFiles(files: LayoutFiles): void {
  const source = join(files.sourceDir, CONFIG_FILE);
  const target = join(files.outputDir, CONFIG_FILE);
  if (files.layout === "transformers.js") {
    // transformers.js reads `transformers.js_config.dtype` to pick onnx/model<suffix>.onnx when the
    // caller gives no dtype; every other key stays the source's.
    const config = JSON.parse(readFileSync(source, "utf8")) as Record<string, unknown>;
    const own = (config["transformers.js_config"] ?? {}) as Record<string, unknown>;
    config["transformers.js_config"] = { ...own, dtype: transformersJsDtype(files.precision) };
    writeFileAtomic(target, `${JSON.stringify(config, null, 2)}\n`);
  } else {
    copyFileAtomic(source, target);
  }
  if (files.layout === "optimum") writeFileAtomic(join(files.outputDir, ORT_CONFIG_FILE), `${JSON.stringify(ortConfig(files), null, 2)}\n`);
}

/**
 * Optimum's ORTConfig (optimum/onnxruntime/configuration.py) for what this export did: enum
 * values by name, as ORTConfig.save_pretrained writes them. An FP32 export has no quantization.
 */
export function ortConfig(files: LayoutFiles): Record<string, unknown> {
  return {
    one_external_file: true,
    opset: files.opset,
    optimization: {},
    quantization: files.quantization ? ortQuantization(files.quantization.settings, files.quantization.report) : {},
    use_external_data_format: existsSync(externalDataPathOf(files.modelPath)),
  };
}

function ortQuantization(settings: QuantizationSettings, report: Pick<QuantizationReport, "matMuls">): Record<string, unknown> {
  const isStatic = settings.mode === "static";
  return {
    is_static: isStatic,
    // Static: QuantizeLinear/DequantizeLinear pairs. Dynamic: DynamicQuantizeLinear → MatMulInteger (operator form).
    format: isStatic ? "QDQ" : "QOperator",
    mode: isStatic ? "QLinearOps" : "IntegerOps",
    // Dynamic activations are DynamicQuantizeLinear's uint8; static ones as calibrated, affine.
    activations_dtype: isStatic && settings.activationType === "int8" ? "QInt8" : "QUInt8",
    activations_symmetric: false,
    weights_dtype: "QInt8",
    weights_symmetric: true,
    per_channel: true,
    reduce_range: false,
    nodes_to_quantize: [],
    nodes_to_exclude: report.matMuls.float.map(({ node }) => node),
    // MatMul weights and the embedding tables (int8, dequantized after the lookup).
    operators_to_quantize: ["MatMul", "Gather"],
    qdq_add_pair_to_weight: false,
    qdq_dedicated_pair: false,
    qdq_op_type_per_channel_support_to_axis: { MatMul: 1 },
  };
}
