// Where an export puts its model files, by layout, and how a runtime finds them again. The
// exporter, the runtimes (Embedder, …) and the export manifest all name files through this table,
// so a folder written in one layout is read in any runtime:
//   flat             <slug>_fp32.onnx, <slug>_int8_qdq.onnx, …   (SPEC's names, the default)
//   transformers.js  onnx/model.onnx, onnx/model_quantized.onnx, onnx/model_fp16.onnx, onnx/model_q4.onnx
//   optimum          model.onnx, model_quantized.onnx, …  (+ ort_config.json)
// config.json, the tokenizer files and the sentence-transformers modules sit at the top in every layout.
import { existsSync, readdirSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { type ExportManifest, type FolderManifest, MANIFEST_FILE, ManifestError, lists, manifestModels, readManifest } from "./manifest.js";
import { type Int8Mode, fp32FileName, int8FileName } from "./names.js";

export const EXPORT_LAYOUTS = ["flat", "transformers.js", "optimum"] as const;
export type ExportLayout = (typeof EXPORT_LAYOUTS)[number];
export const DEFAULT_LAYOUT: ExportLayout = "flat";

/** What a model file holds. */
export type ModelPrecision = "fp32" | "int8-static" | "int8-dynamic" | "fp16" | "int4";

export function int8Precision(mode: Int8Mode): ModelPrecision {
  return mode === "static" ? "int8-static" : "int8-dynamic";
}

/** The precision of each quantization mode's file (`<slug>_int4.onnx` for int4). */
export function quantizedPrecision(mode: Int8Mode | "int4"): ModelPrecision {
  return mode === "int4" ? "int4" : int8Precision(mode);
}

/** transformers.js' folder for model files and its `dtype` for each precision (file suffix: utils/dtypes.js). */
const TRANSFORMERS_JS_FOLDER = "onnx";
const TRANSFORMERS_JS_DTYPES: Record<ModelPrecision, { dtype: string; suffix: string }> = {
  fp32: { dtype: "fp32", suffix: "" },
  "int8-static": { dtype: "q8", suffix: "_quantized" },
  "int8-dynamic": { dtype: "q8", suffix: "_quantized" },
  fp16: { dtype: "fp16", suffix: "_fp16" },
  int4: { dtype: "q4", suffix: "_q4" },
};

/** The model file of `precision`, relative to the export folder. */
export function modelFileName(layout: ExportLayout, slug: string, precision: ModelPrecision): string {
  if (layout === "flat") {
    if (precision === "fp32") return fp32FileName(slug);
    if (precision === "int8-static") return int8FileName(slug, "static");
    if (precision === "int8-dynamic") return int8FileName(slug, "dynamic");
    return `${slug}_${precision}.onnx`;
  }
  const name = `model${TRANSFORMERS_JS_DTYPES[precision].suffix}.onnx`;
  return layout === "transformers.js" ? `${TRANSFORMERS_JS_FOLDER}/${name}` : name;
}

/** The `dtype` transformers.js loads `precision`'s file with. */
export function transformersJsDtype(precision: ModelPrecision): string {
  return TRANSFORMERS_JS_DTYPES[precision].dtype;
}

/** Model files of any layout in `dir`, relative to it, sorted: top-level .onnx files and onnx/*.onnx. */
export function modelFilesIn(dir: string): string[] {
  const top = readdirSync(dir).filter((file) => file.endsWith(".onnx"));
  const nested = existsSync(join(dir, TRANSFORMERS_JS_FOLDER))
    ? readdirSync(join(dir, TRANSFORMERS_JS_FOLDER))
        .filter((file) => file.endsWith(".onnx"))
        .map((file) => `${TRANSFORMERS_JS_FOLDER}/${file}`)
    : [];
  return [...top, ...nested].sort();
}

const INT8_MODES: readonly Int8Mode[] = ["static", "dynamic"];
/** How flat INT8 file names end (`_int8_qdq.onnx`, `_int8_dynamic.onnx`). */
const FLAT_INT8_ENDINGS = INT8_MODES.map((mode) => int8FileName("", mode));
/** transformers.js' and Optimum's INT8 file name (one for both modes). */
const NAMED_INT8_FILES = new Set(INT8_MODES.map((mode) => modelFileName("optimum", "", int8Precision(mode))));

/** An INT8 file by name, in any layout. */
export function isInt8ModelFile(file: string): boolean {
  return FLAT_INT8_ENDINGS.some((ending) => file.endsWith(ending)) || NAMED_INT8_FILES.has(file.split("/").at(-1)!);
}

/** An export folder as a runtime reads it: the model to load and which of its files belong to the export. */
export interface ExportFolder {
  dir: string;
  modelPath: string;
  /** The manifest's entry of the export loaded; undefined for a folder exported before manifests (read by the legacy rules). */
  manifest: ExportManifest | undefined;
  /** Whether the file at `path` (relative to `dir`) is part of the export: listed in the manifest, or present in a legacy folder. */
  has(path: string): boolean;
}

/** The precisions a runtime may ask an export folder for: each model precision, and "int8" for either INT8 mode. */
export const MODEL_PRECISIONS: readonly string[] = ["fp32", "int8", "int8-static", "int8-dynamic", "fp16", "int4"];

/** Which model of an export folder a runtime asks for (default: the most recent export's). */
export interface ModelChoice {
  /** A model file, by name relative to the folder or by path. */
  file?: string;
  /** The most recent export of this precision (one of MODEL_PRECISIONS). */
  precision?: string;
}

/**
 * The model file a runtime loads from an export folder, and the folder's files. With a manifest:
 * the model of the most recent export, or of the export `choice` asks for (its file, or its
 * precision); the folder's files are that export's. Without one (legacy): `file` when given (a
 * path, or a name relative to `dir`), else the folder's only model file, else its only INT8 one.
 * Problems are thrown as `fail(message)`, so that each runtime raises its own error class;
 * `fileOption` is how the caller's user passes `file` (the CLI: `--file <name>`).
 */
export function openExportFolder(
  dir: string,
  choice: ModelChoice,
  fail: (message: string) => Error,
  fileOption = "{ file }",
): ExportFolder {
  const { file, precision } = choice;
  if (precision !== undefined && !MODEL_PRECISIONS.includes(precision))
    throw fail(`precision must be one of ${MODEL_PRECISIONS.join(", ")}, not ${String(precision)}`);
  let manifest: FolderManifest | undefined;
  try {
    manifest = readManifest(dir);
  } catch (error) {
    throw error instanceof ManifestError ? fail(error.message) : error;
  }
  if (manifest) {
    const { entry, model } = chosenExport(dir, manifest, choice, fail, fileOption);
    return { dir, modelPath: join(dir, model), manifest: entry, has: (path) => lists(entry, path) };
  }
  if (precision !== undefined)
    throw fail(`${dir} has no ${MANIFEST_FILE} saying which model has which precision; choose the model with ${fileOption}`);
  return { dir, modelPath: legacyModelFile(dir, file, fail, fileOption), manifest, has: (path) => existsSync(join(dir, path)) };
}

/** The model file a runtime loads from an export folder (see openExportFolder). */
export function resolveModelFile(dir: string, file: string | undefined, fail: (message: string) => Error, fileOption = "{ file }"): string {
  return openExportFolder(dir, file === undefined ? {} : { file }, fail, fileOption).modelPath;
}

/** The export `choice` names (the most recent that fits) and the model file to load, relative to `dir`. */
function chosenExport(
  dir: string,
  manifest: FolderManifest,
  choice: ModelChoice,
  fail: (message: string) => Error,
  fileOption: string,
): { entry: ExportManifest; model: string } {
  const newestFirst = [...manifest.exports].reverse();
  const fits = (entry: ExportManifest) => choice.precision === undefined || precisionFits(entry, choice.precision);
  const { file } = choice;
  if (file !== undefined) {
    const wanted = [relative(dir, resolve(file)), file].map((candidate) => candidate.split(sep).join("/"));
    for (const entry of newestFirst) {
      const model = manifestModels(entry).find((m) => wanted.includes(m));
      if (model !== undefined && fits(entry)) return { entry, model };
    }
    const models = manifest.exports.flatMap(manifestModels);
    throw fail(
      `${file} is not a model of the export${manifest.exports.length > 1 ? "s" : ""} in ${dir} (${MANIFEST_FILE} lists ${models.join(", ")}` +
        `${choice.precision !== undefined ? ` with precision ${choice.precision}` : ""}); choose one of those with ${fileOption}`,
    );
  }
  const entry = newestFirst.find(fits);
  if (!entry) {
    const listed = manifest.exports.map((e) => `${String(e.settings.precision)} (${e.model})`).join(", ");
    throw fail(
      `${dir} holds no export of precision ${choice.precision} (${MANIFEST_FILE} lists ${listed}); choose one of those precisions`,
    );
  }
  return { entry, model: entry.model };
}

/** Whether `entry` was exported at `precision` ("int8": either INT8 mode). */
function precisionFits(entry: ExportManifest, precision: string): boolean {
  const recorded = String(entry.settings.precision);
  return recorded === precision || (precision === "int8" && recorded.startsWith("int8-"));
}

function legacyModelFile(dir: string, file: string | undefined, fail: (message: string) => Error, fileOption: string): string {
  if (file) {
    const path = existsSync(file) ? file : join(dir, file);
    if (!existsSync(path)) throw fail(`model file ${file} not found (also looked in ${dir})`);
    return path;
  }
  const models = modelFilesIn(dir);
  if (models.length === 0) throw fail(`${dir} holds no .onnx file; export a model into it first (jazzmine-embed export <model> -o ${dir})`);
  if (models.length === 1) return join(dir, models[0]!);
  const int8 = models.filter(isInt8ModelFile);
  if (int8.length === 1) return join(dir, int8[0]!);
  throw fail(`${dir} holds several ONNX files (${models.join(", ")}); choose one with ${fileOption}`);
}
