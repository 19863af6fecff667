// Tokenizer assets: which files travel with an exported model, and loading the tokenizer.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { copyFileAtomic } from "../common/atomic.js";
import { ExportError } from "../common/errors.js";
import { FileKindError, readRegularText } from "../common/regular-file.js";

/** The fast-tokenizer file: the one tokenizer file an export and the runtimes cannot do without. */
export const TOKENIZER_JSON = "tokenizer.json";

/** The largest tokenizer.json read (the largest on the Hub are tens of MiB): a larger file is refused unread. */
const MAX_TOKENIZER_FILE_BYTES = 512 * 2 ** 20;

/** What transformers' save_pretrained writes for the tokenizers of BERT-family models. */
export const TOKENIZER_FILES = [
  TOKENIZER_JSON,
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "vocab.txt",
  "vocab.json",
  "merges.txt",
  "sentencepiece.bpe.model",
  "spiece.model",
] as const;

export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  /** tokenizer_config.json (or {}), e.g. for model_max_length. */
  config: Record<string, unknown>;
  /** The highest id the tokenizer can produce (checked against the model's embedding table). */
  highest: HighestToken | undefined;
}

export interface HighestToken {
  id: number;
  token: string;
  file: string;
}

/**
 * Loads tokenizer.json (+ tokenizer_config.json) from a model folder; `has` says which files
 * count as present (a runtime passes its export manifest's list).
 */
export function loadTokenizer(dir: string, has?: (file: string) => boolean): LoadedTokenizer {
  const { json, config, jsonPath } = readTokenizerFiles(dir, has);
  try {
    return { tokenizer: new Tokenizer(json, config), config, highest: highestTokenId(json, jsonPath) };
  } catch (error) {
    throw new ExportError(`${jsonPath} could not be loaded as a tokenizer (${(error as Error).message}); re-download it`);
  }
}

/**
 * Checks that a model folder's tokenizer.json (+ tokenizer_config.json) exist and parse (cheaper
 * than loading the tokenizer); returns the highest token id it can produce.
 */
export function checkTokenizerFiles(dir: string): HighestToken | undefined {
  const { json, jsonPath } = readTokenizerFiles(dir);
  return highestTokenId(json, jsonPath);
}

function readTokenizerFiles(
  dir: string,
  has: (file: string) => boolean = (file) => existsSync(join(dir, file)),
): { json: Record<string, unknown>; config: Record<string, unknown>; jsonPath: string } {
  const jsonPath = join(dir, TOKENIZER_JSON);
  if (!existsSync(jsonPath)) {
    throw new ExportError(`${dir} has no tokenizer.json: export needs the fast-tokenizer file of the model's repository`);
  }
  const config = (has("tokenizer_config.json") ? readJson(join(dir, "tokenizer_config.json"), true) : undefined) ?? {};
  return { json: readJson(jsonPath, false)!, config, jsonPath };
}

/** The highest token id a parsed tokenizer.json can produce: its vocabulary's and its added tokens'. */
function highestTokenId(json: Record<string, unknown>, jsonPath: string): HighestToken | undefined {
  let best: { id: number; token: string } | undefined;
  const consider = (token: string, id: unknown) => {
    if (typeof id === "number" && Number.isInteger(id) && (!best || id > best.id)) best = { id, token };
  };
  const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
  // WordPiece, BPE and WordLevel map token → id; Unigram lists [piece, score] pairs, the index being the id.
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => consider(String((entry as unknown[])?.[0]), id));
  else if (vocab && typeof vocab === "object") {
    // for…in, not Object.entries: no pair array per token (30k+ of them, on every export's path).
    const ids = vocab as Record<string, unknown>;
    for (const token in ids) consider(token, ids[token]);
  }
  for (const added of Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id?: unknown; content?: unknown }>) : []) {
    consider(String(added?.content), added?.id);
  }
  return best && { ...best, file: jsonPath };
}

/** Copies the tokenizer files present in `fromDir` into `toDir`; returns their names. */
export function copyTokenizerFiles(fromDir: string, toDir: string): string[] {
  const present = TOKENIZER_FILES.filter((file) => existsSync(join(fromDir, file)));
  for (const file of present) copyFileAtomic(join(fromDir, file), join(toDir, file));
  return present;
}

function readJson(path: string, optional: boolean): Record<string, unknown> | undefined {
  if (optional && !existsSync(path)) return undefined;
  let text: string;
  try {
    text = readRegularText(path, MAX_TOKENIZER_FILE_BYTES);
  } catch (error) {
    if (error instanceof FileKindError) throw new ExportError(`${error.message}; replace it with the model's real file`);
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
    throw new Error("not a JSON object");
  } catch (error) {
    throw new ExportError(`${path} is not a valid JSON object (${(error as Error).message}); re-download it`);
  }
}
