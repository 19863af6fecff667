// sentence-transformers layout: modules.json lists the pipeline (Transformer → Pooling →
// [Dense …] → [Normalize]); the Pooling module's config.json says how token vectors become one
// vector, each Dense module's config.json (and its weights beside it) how that vector is projected.
import { type ModelFiles, joinName, subfolder } from "../common/files.js";
import { errorMessage, oneLine } from "../common/messages.js";
import { ConfigError, ConfigReader, readConfigText } from "./config.js";

/** lasttoken: the last position whose attention_mask is 1 (decoder embedders). */
export type PoolingMode = "cls" | "mean" | "max" | "lasttoken";
export const POOLING_MODES: readonly PoolingMode[] = ["cls", "mean", "max", "lasttoken"];

/** A Dense module after pooling: activation(x·Wᵀ [+ b]), its weights "linear.*" in `folder`. */
export interface DenseLayer {
  /** The module's folder (the graph and the reference read the weights there). */
  folder: ModelFiles;
  inFeatures: number;
  outFeatures: number;
  activation: DenseActivation;
}

export type DenseActivation = "identity" | "tanh";
const DENSE_ACTIVATIONS: Record<string, DenseActivation> = {
  "torch.nn.modules.linear.Identity": "identity",
  "torch.nn.modules.activation.Tanh": "tanh",
};

export interface SentencePipeline {
  pooling: PoolingMode;
  /** A Normalize module follows pooling (L2, unit-length vectors). */
  normalize: boolean;
  /** Dense modules between pooling and Normalize, in order. */
  dense: DenseLayer[];
  /** sentence_bert_config.json's max_seq_length, when present. */
  maxSeqLength?: number;
  /** Module types after pooling that this project does not reproduce. */
  unsupportedModules: string[];
  /** The files that describe this pipeline, relative to the folder (modules.json, the pooling config…). */
  files: string[];
}

/** Files of a sentence-transformers repository besides the transformer's own. */
export const SENTENCE_TRANSFORMERS_FILES = ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"] as const;

const MODULE_PREFIX = "sentence_transformers.models.";
const POOLING_MODULE_TYPE = `${MODULE_PREFIX}Pooling`;

/** Pooling config keys (sentence-transformers ≥ 2) mapped onto the modes we emit. */
const POOLING_KEYS: ReadonlyArray<[key: string, mode: PoolingMode | undefined]> = [
  ["pooling_mode_cls_token", "cls"],
  ["pooling_mode_mean_tokens", "mean"],
  ["pooling_mode_max_tokens", "max"],
  ["pooling_mode_mean_sqrt_len_tokens", undefined],
  ["pooling_mode_weightedmean_tokens", undefined],
  ["pooling_mode_lasttoken", "lasttoken"],
];

export interface ModuleEntry {
  path: string;
  type: string;
}

/** modules.json's entries (paths checked to stay in the folder); undefined when the folder has none. */
export function readModules(files: ModelFiles): ModuleEntry[] | undefined {
  return files.has("modules.json") ? parseModules(readConfigText(files, "modules.json"), files.path("modules.json")) : undefined;
}

/** A module type's class name ("sentence_transformers.sparse_encoder.models.SpladePooling" → "SpladePooling"). */
export function moduleClass(entry: ModuleEntry): string {
  return entry.type.slice(entry.type.lastIndexOf(".") + 1);
}

/**
 * Reads the pipeline of a sentence-transformers folder; undefined when it has no modules.json.
 * `has` says which files count as present (a runtime passes its export manifest's list).
 */
export function readSentencePipeline(
  files: ModelFiles,
  has: (file: string) => boolean = (file) => files.has(file),
): SentencePipeline | undefined {
  const modulesPath = files.path("modules.json");
  if (!has("modules.json")) return undefined;
  const modules = parseModules(readConfigText(files, "modules.json"), modulesPath);
  const poolingModule = findPoolingModule(modules);
  if (!poolingModule) throw new ConfigError(`${modulesPath} lists no Pooling module; it is not a sentence-transformers embedding model`);
  const poolingConfig = joinName(poolingModule.path, "config.json");
  const pooling = readPoolingMode(ConfigReader.fromFile(files, poolingConfig));
  const afterModules = modules.slice(modules.indexOf(poolingModule) + 1);
  const after = afterModules.map((m) => m.type.replace(MODULE_PREFIX, ""));
  const denseModules = afterModules.filter((m) => m.type === `${MODULE_PREFIX}Dense`);
  const dense = denseModules.map((m) => readDenseLayer(files, m.path));
  const maxSeqLength = has("sentence_bert_config.json") ? readMaxSeqLength(files, "sentence_bert_config.json") : undefined;
  return {
    pooling,
    normalize: after.includes("Normalize"),
    dense,
    ...(maxSeqLength ? { maxSeqLength } : {}),
    unsupportedModules: after.filter((t) => t !== "Normalize" && t !== "Dense"),
    files: [
      "modules.json",
      poolingConfig,
      ...denseModules.flatMap((m) => [joinName(m.path, "config.json"), joinName(m.path, denseWeightsFile(subfolder(files, m.path)))]),
      ...SENTENCE_TRANSFORMERS_FILES.filter((f) => f !== "modules.json" && has(f)),
    ],
  };
}

/** The weights file of a Dense module folder: model.safetensors, else pytorch_model.bin (older saves). */
function denseWeightsFile(folder: ModelFiles): string {
  return folder.has("model.safetensors") || !folder.has("pytorch_model.bin") ? "model.safetensors" : "pytorch_model.bin";
}

/** A Dense module's config.json: in/out features and the activation (Identity or Tanh, sentence-transformers' default). */
function readDenseLayer(files: ModelFiles, path: string): DenseLayer {
  const folder = subfolder(files, path);
  const config = ConfigReader.fromFile(folder, "config.json");
  const activation = config.oneOf("activation_function", Object.keys(DENSE_ACTIVATIONS), "torch.nn.modules.activation.Tanh");
  return {
    folder,
    inFeatures: config.int("in_features", { min: 1 }),
    outFeatures: config.int("out_features", { min: 1 }),
    activation: DENSE_ACTIVATIONS[activation]!,
  };
}

/**
 * The Pooling module among modules.json's entries (the first, as sentence-transformers runs
 * them in order); its `path` holds the pooling config.json. Entries may be unchecked JSON.
 */
export function findPoolingModule<M>(modules: readonly M[]): M | undefined {
  return modules.find((m) => (m as { type?: unknown } | null)?.type === POOLING_MODULE_TYPE);
}

/**
 * The files of a sentence-transformers folder whose pipeline is Transformer → Pooling(`pooling`)
 * [→ Normalize], as relative path → text: what sentence-transformers' save() writes for it.
 */
export function sentencePipelineFiles(pooling: PoolingMode, normalize: boolean, hiddenSize: number): Record<string, string> {
  const modules = [
    { idx: 0, name: "0", path: "", type: `${MODULE_PREFIX}Transformer` },
    { idx: 1, name: "1", path: "1_Pooling", type: POOLING_MODULE_TYPE },
    ...(normalize ? [{ idx: 2, name: "2", path: "2_Normalize", type: `${MODULE_PREFIX}Normalize` }] : []),
  ];
  const config: Record<string, unknown> = { word_embedding_dimension: hiddenSize };
  for (const [key, mode] of POOLING_KEYS) config[key] = mode === pooling;
  config.include_prompt = true;
  return {
    "modules.json": `${JSON.stringify(modules, null, 2)}\n`,
    "1_Pooling/config.json": `${JSON.stringify(config, null, 2)}\n`,
  };
}

function parseModules(text: string, source: string): ModuleEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON (${oneLine(errorMessage(error))}); re-download it`);
  }
  if (!Array.isArray(parsed)) throw new ConfigError(`${source} must be a JSON array of modules`);
  return parsed.map((entry, i) => {
    const e = entry as Record<string, unknown>;
    if (!e || typeof e.type !== "string" || typeof (e.path ?? "") !== "string") {
      throw new ConfigError(`${source}: module ${i} needs a string "type" and "path"`);
    }
    const path = (e.path as string | undefined) ?? "";
    if (path.split(/[\\/]/).includes("..")) throw new ConfigError(`${source}: module ${i} path "${path}" leaves the model folder`);
    return { path, type: e.type };
  });
}

function readPoolingMode(config: ConfigReader): PoolingMode {
  const enabled = POOLING_KEYS.filter(([key]) => config.has(key) && config.boolean(key));
  if (enabled.length !== 1) {
    const names = enabled.map(([key]) => key).join(", ") || "none";
    throw config.fail(`exactly one pooling mode must be true (found: ${names}); supported: ${POOLING_MODES.join(", ")}`);
  }
  const [key, mode] = enabled[0]!;
  if (!mode) throw config.fail(`${key} is not supported; supported pooling modes: ${POOLING_MODES.join(", ")}`);
  return mode;
}

function readMaxSeqLength(files: ModelFiles, name: string): number | undefined {
  if (!files.has(name)) return undefined;
  const config = ConfigReader.fromFile(files, name);
  return config.has("max_seq_length") ? config.int("max_seq_length", { min: 1 }) : undefined;
}
