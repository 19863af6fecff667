// Tokenizer assets: which files travel with an exported model, and loading the tokenizer from a
// model folder's files (ModelFiles; a folder on disk: src/artifact/tokenizer-folder.ts).
import { Tokenizer } from "@huggingface/tokenizers";
import { ExportError } from "../common/errors.js";
import { FileKindError, type ModelFiles } from "../common/files.js";

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
export function openTokenizer(files: ModelFiles, has?: (file: string) => boolean): LoadedTokenizer {
  const { json, config, jsonPath } = readTokenizerFiles(files, has);
  const templated = withConfigTemplate(json, config, files);
  try {
    return { tokenizer: new Tokenizer(templated, config), config, highest: highestTokenId(json, jsonPath) };
  } catch (error) {
    throw new ExportError(`${jsonPath} could not be loaded as a tokenizer (${(error as Error).message}); re-download it`);
  }
}

/**
 * Checks that a model folder's tokenizer.json (+ tokenizer_config.json) exist and parse (cheaper
 * than loading the tokenizer); returns the highest token id it can produce.
 */
export function checkTokenizerFiles(files: ModelFiles): HighestToken | undefined {
  const { json, jsonPath } = readTokenizerFiles(files);
  return highestTokenId(json, jsonPath);
}

function readTokenizerFiles(
  files: ModelFiles,
  has: (file: string) => boolean = (file) => files.has(file),
): { json: Record<string, unknown>; config: Record<string, unknown>; jsonPath: string } {
  const jsonPath = files.path(TOKENIZER_JSON);
  if (!files.has(TOKENIZER_JSON)) {
    throw new ExportError(`${files.label} has no tokenizer.json: export needs the fast-tokenizer file of the model's repository`);
  }
  const config = (has("tokenizer_config.json") ? readJson(files, "tokenizer_config.json", true) : undefined) ?? {};
  return { json: readJson(files, TOKENIZER_JSON, false)!, config, jsonPath };
}

/**
 * Tokenizer classes whose fast tokenizer transformers builds its post-processor for from
 * tokenizer_config.json's add_bos_token (default true) and add_eos_token (default false) on load
 * (LlamaTokenizerFast / GemmaTokenizerFast.update_post_processor), whatever tokenizer.json says:
 * e5-mistral's tokenizer.json adds only <s>, its config add_eos_token, and its vectors are the </s>
 * token's. The runtimes tokenize with the same template.
 */
const TEMPLATE_FROM_CONFIG = new Set(["LlamaTokenizer", "GemmaTokenizer", "CodeLlamaTokenizer"]);

/** tokenizer_config.json's name of a special token: a string, or an AddedToken's { content }. */
export function configTokenName(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  const content = (value as { content?: unknown } | null | undefined)?.content;
  return typeof content === "string" ? content : undefined;
}

/** tokenizer.json with the post-processor transformers builds for it from tokenizer_config.json (see TEMPLATE_FROM_CONFIG). */
export function withConfigTemplate(
  json: Record<string, unknown>,
  config: Record<string, unknown>,
  files: ModelFiles,
): Record<string, unknown> {
  const tokenizerClass = String(config.tokenizer_class ?? "").replace(/Fast$/, "");
  if (!TEMPLATE_FROM_CONFIG.has(tokenizerClass)) return json;
  const idOf = (token: string) => {
    const added = (Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id?: unknown; content?: unknown }>) : []).find(
      (t) => t?.content === token,
    );
    const id = added?.id ?? ((json.model as { vocab?: Record<string, unknown> } | undefined)?.vocab ?? {})[token];
    return typeof id === "number" ? id : undefined;
  };
  const marker = (flag: "add_bos_token" | "add_eos_token", field: "bos_token" | "eos_token", fallback: boolean) => {
    if (!(config[flag] ?? fallback)) return [];
    const token = configTokenName(config[field]);
    const id = token === undefined ? undefined : idOf(token);
    if (token === undefined || id === undefined) {
      throw new ExportError(
        `${files.path("tokenizer_config.json")} sets ${flag} but its ${field} ${token === undefined ? "is not set" : `"${token}" is not in tokenizer.json`}; fix the file`,
      );
    }
    return [{ token, id }];
  };
  const [bos, eos] = [marker("add_bos_token", "bos_token", true), marker("add_eos_token", "eos_token", false)];
  return { ...json, post_processor: templateProcessing(bos, eos) };
}

export interface TemplateToken {
  token: string;
  id: number;
}

/** A tokenizer.json TemplateProcessing putting `before` and `after` around each text (a pair: the second with type id 1). */
export function templateProcessing(before: readonly TemplateToken[], after: readonly TemplateToken[]): Record<string, unknown> {
  const special = (typeId: number) => (t: TemplateToken) => ({ SpecialToken: { id: t.token, type_id: typeId } });
  const around = (sequence: "A" | "B", typeId: number) => [
    ...before.map(special(typeId)),
    { Sequence: { id: sequence, type_id: typeId } },
    ...after.map(special(typeId)),
  ];
  return {
    type: "TemplateProcessing",
    single: around("A", 0),
    pair: [...around("A", 0), ...around("B", 1)],
    special_tokens: Object.fromEntries([...before, ...after].map(({ token, id }) => [token, { id: token, ids: [id], tokens: [token] }])),
  };
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

/**
 * The folder's tokenizer.json as a JSON object, or undefined where it has none; an ExportError
 * naming it when it is a FIFO, a device, larger than MAX_TOKENIZER_FILE_BYTES or not a JSON object.
 */
export function readTokenizerJson(files: ModelFiles): Record<string, unknown> | undefined {
  return readJson(files, TOKENIZER_JSON, true);
}

function readJson(files: ModelFiles, name: string, optional: boolean): Record<string, unknown> | undefined {
  if (optional && !files.has(name)) return undefined;
  const path = files.path(name);
  let text: string;
  try {
    text = new TextDecoder().decode(files.read(name, MAX_TOKENIZER_FILE_BYTES));
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
