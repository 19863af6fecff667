// sentence-transformers layout: modules.json lists the pipeline (Transformer → Pooling →
// [Normalize]); the Pooling module's config.json says how token vectors become one vector.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { errorMessage, oneLine } from "../common/messages.js";
import { ConfigError, ConfigReader, readConfigFile } from "./config.js";

export type PoolingMode = "cls" | "mean" | "max";
export const POOLING_MODES: readonly PoolingMode[] = ["cls", "mean", "max"];

export interface SentencePipeline {
  pooling: PoolingMode;
  /** A Normalize module follows pooling (L2, unit-length vectors). */
  normalize: boolean;
  /** sentence_bert_config.json's max_seq_length, when present. */
  maxSeqLength?: number;
  /** Module types after pooling that this project does not reproduce (e.g. Dense). */
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
  ["pooling_mode_lasttoken", undefined],
];

export interface ModuleEntry {
  path: string;
  type: string;
}

/** modules.json's entries (paths checked to stay in the folder); undefined when the folder has none. */
export function readModules(dir: string): ModuleEntry[] | undefined {
  const modulesPath = join(dir, "modules.json");
  return existsSync(modulesPath) ? parseModules(readConfigFile(modulesPath).toString("utf8"), modulesPath) : undefined;
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
  dir: string,
  has: (file: string) => boolean = (file) => existsSync(join(dir, file)),
): SentencePipeline | undefined {
  const modulesPath = join(dir, "modules.json");
  if (!has("modules.json")) return undefined;
  const modules = parseModules(readConfigFile(modulesPath).toString("utf8"), modulesPath);
  const poolingModule = findPoolingModule(modules);
  if (!poolingModule) throw new ConfigError(`${modulesPath} lists no Pooling module; it is not a sentence-transformers embedding model`);
  const poolingConfig = join(poolingModule.path, "config.json");
  const pooling = readPoolingMode(ConfigReader.fromFile(join(dir, poolingConfig)));
  const after = modules.slice(modules.indexOf(poolingModule) + 1).map((m) => m.type.replace(MODULE_PREFIX, ""));
  const maxSeqLength = has("sentence_bert_config.json") ? readMaxSeqLength(join(dir, "sentence_bert_config.json")) : undefined;
  return {
    pooling,
    normalize: after.includes("Normalize"),
    ...(maxSeqLength ? { maxSeqLength } : {}),
    unsupportedModules: after.filter((t) => t !== "Normalize"),
    files: ["modules.json", poolingConfig, ...SENTENCE_TRANSFORMERS_FILES.filter((f) => f !== "modules.json" && has(f))],
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
    throw config.fail(`exactly one pooling mode must be true (found: ${names}); supported: cls, mean, max`);
  }
  const [key, mode] = enabled[0]!;
  if (!mode) throw config.fail(`${key} is not supported; supported pooling modes: cls, mean, max`);
  return mode;
}

function readMaxSeqLength(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const config = ConfigReader.fromFile(path);
  return config.has("max_seq_length") ? config.int("max_seq_length", { min: 1 }) : undefined;
}
