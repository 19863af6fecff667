// Which repository files an export needs, and nothing more: the tokenizer files for
// "tokenizer" (never weights), and for "model" config.json, one weights format (safetensors
// preferred, else pytorch_model.bin; sharded via its index) and the sentence-transformers files.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { WEIGHT_FILES } from "../../checkpoint/checkpoint.js";
import { SENTENCE_TRANSFORMERS_FILES, findPoolingModule } from "../../arch/sentence-transformers.js";
import type { FilePurpose } from "../model-source.js";
import { checkRepoFile } from "./names.js";
import { TOKENIZER_FILES } from "../../artifact/tokenizer-files.js";
import { BGE_M3_COLBERT_FILE, BGE_M3_SPARSE_FILE } from "../../heads/bge-m3.js";
import { COLBERT_ARTIFACT_METADATA } from "../../heads/colbert-settings.js";

export const CONFIG_FILE = "config.json";

export interface FilePlan {
  /** Files to have in the snapshot. */
  files: string[];
  /** Needed but not in the listing, described for a message ("config.json"). */
  missing: string[];
  /** Optional files the repo does not have (recorded as .no_exist markers). */
  absent: string[];
}

/**
 * The files for `purpose`, given the repo's file `listing`. Files named by other files (shards
 * in an index, the pooling config in modules.json) are added once those are in `snapshotDir`,
 * so the caller repeats planning after each download round until nothing new appears.
 */
export function planFiles(purpose: FilePurpose, listing: ReadonlySet<string>, snapshotDir: string): FilePlan {
  const plan: FilePlan = { files: [], missing: [], absent: [] };
  const optional = (file: string) => (listing.has(file) ? plan.files.push(file) : plan.absent.push(file));
  const required = (file: string) => (listing.has(file) ? plan.files.push(file) : plan.missing.push(file));

  if (purpose === "tokenizer") {
    TOKENIZER_FILES.forEach(optional);
    if (plan.files.length === 0) plan.missing.push(`tokenizer files (${TOKENIZER_FILES.slice(0, 3).join(", ")}…)`);
    return plan;
  }

  required(CONFIG_FILE);
  // The weights openCheckpoint will read: the first of its preferred files the repo has.
  const weights = WEIGHT_FILES.find((file) => listing.has(file));
  if (!weights) plan.missing.push(`model weights (${WEIGHT_FILES.join(", ")})`);
  else {
    plan.files.push(weights);
    if (weights.endsWith(".index.json")) shardsOf(join(snapshotDir, weights)).forEach(required);
  }
  SENTENCE_TRANSFORMERS_FILES.forEach(optional);
  poolingConfigOf(join(snapshotDir, "modules.json")).forEach(optional);
  RETRIEVAL_HEAD_FILES.forEach(optional);
  retrievalModuleFilesOf(join(snapshotDir, "modules.json"), listing).forEach(optional);
  return plan;
}

/** Retrieval heads kept beside the weights: bge-m3's .pt heads, colbert-ai's settings. */
const RETRIEVAL_HEAD_FILES = [BGE_M3_SPARSE_FILE, BGE_M3_COLBERT_FILE, COLBERT_ARTIFACT_METADATA];

/**
 * Files of the retrieval modules a downloaded modules.json lists ([] until it is there): a
 * SparseEncoder's SpladePooling config, a PyLate Dense module's config and weights.
 */
function retrievalModuleFilesOf(modulesPath: string, listing: ReadonlySet<string>): string[] {
  const modules = readJsonIfPresent(modulesPath);
  if (!Array.isArray(modules)) return [];
  const files: string[] = [];
  for (const m of modules as Array<{ type?: unknown; path?: unknown }>) {
    if (typeof m?.type !== "string" || typeof m.path !== "string" || m.path.replace(/\/+$/, "") === "") continue;
    const folder = m.path.replace(/\/+$/, "");
    const kind = m.type.slice(m.type.lastIndexOf(".") + 1);
    if (kind === "SpladePooling" || (kind === "Dense" && m.type.startsWith("pylate.")))
      files.push(checkRepoFile(`${folder}/config.json`, `modules.json's ${kind} module`));
    if (kind === "Dense" && m.type.startsWith("pylate.")) {
      const weights = WEIGHT_FILES.map((file) => `${folder}/${file}`).find((file) => listing.has(file));
      if (weights) files.push(checkRepoFile(weights, "modules.json's Dense module"));
    }
  }
  return files;
}

/** Shard file names of a downloaded index ([] until it is there). */
function shardsOf(indexPath: string): string[] {
  const index = readJsonIfPresent(indexPath) as { weight_map?: Record<string, unknown> } | undefined;
  const shards = new Set<string>();
  for (const shard of Object.values(index?.weight_map ?? {})) {
    // A non-string entry is the checkpoint loader's to report; a string is a path it will open.
    if (typeof shard === "string") shards.add(checkRepoFile(shard, `${basename(indexPath)}'s weight_map`));
  }
  return [...shards].sort();
}

/** `<path>/config.json` of the Pooling module the loader reads, from a downloaded modules.json ([] until it is there). */
function poolingConfigOf(modulesPath: string): string[] {
  const modules = readJsonIfPresent(modulesPath);
  const path: unknown = Array.isArray(modules) ? findPoolingModule(modules)?.path : undefined;
  if (typeof path !== "string" || path.replace(/\/+$/, "") === "") return [];
  return [checkRepoFile(`${path.replace(/\/+$/, "")}/config.json`, "modules.json's Pooling module")];
}

/** Parsing errors are left to the loaders, which name the file and say what to do. */
function readJsonIfPresent(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}
