// Prompts of instruction-aware embedders: config_sentence_transformers.json's `prompts` (name →
// text) and `default_prompt_name`, e.g. Qwen3-Embedding's "query" ("Instruct: …\nQuery:") or
// EmbeddingGemma's "task: search result | query: ". Read at export and carried in the ONNX
// file's metadata, where the runtime finds them; a prompt is prepended to the text as
// sentence-transformers does (plain string concatenation, prompt + text).
import { type ModelFiles, fileName } from "../common/files.js";
import { METADATA } from "../artifact/names.js";
import { ConfigReader } from "./config.js";

export const PROMPTS_CONFIG = "config_sentence_transformers.json";

export interface ModelPrompts {
  /** Prompt name → the text put before a text. */
  prompts: Record<string, string>;
  /** The prompt used when none is asked for (sentence-transformers' default_prompt_name). */
  defaultPromptName?: string;
}

/** The prompts of a model folder's config_sentence_transformers.json; undefined when it has none. */
export function readPrompts(files: ModelFiles): ModelPrompts | undefined {
  return files.has(PROMPTS_CONFIG) ? parsePrompts(ConfigReader.fromFile(files, PROMPTS_CONFIG)) : undefined;
}

function parsePrompts(c: ConfigReader): ModelPrompts | undefined {
  const prompts = c.section("prompts");
  const raw = (c.raw("prompts") ?? {}) as Record<string, unknown>;
  for (const [name, text] of Object.entries(raw)) {
    if (typeof text !== "string") throw c.fail(`prompts.${name} must be a string (the text put before each input)`);
  }
  const defaultPromptName = c.has("default_prompt_name") ? c.string("default_prompt_name") : undefined;
  if (defaultPromptName !== undefined && !Object.hasOwn(raw, defaultPromptName)) {
    throw c.fail(`default_prompt_name "${defaultPromptName}" is not among its prompts (${promptNames(raw)})`);
  }
  if (!prompts || Object.keys(raw).length === 0) return undefined;
  return { prompts: raw as Record<string, string>, ...(defaultPromptName !== undefined ? { defaultPromptName } : {}) };
}

/** The prompts as ONNX metadata. */
export function promptsMetadata(prompts: ModelPrompts | undefined): Record<string, string> {
  return prompts
    ? { [METADATA.prompts]: JSON.stringify({ prompts: prompts.prompts, default_prompt_name: prompts.defaultPromptName ?? null }) }
    : {};
}

/** The prompts an exported graph's metadata carries (none: {}). */
export function promptsOf(metadata: Record<string, string>, source: string): ModelPrompts {
  const text = metadata[METADATA.prompts];
  return (text !== undefined && parsePrompts(ConfigReader.fromText(text, `${source} metadata ${METADATA.prompts}`))) || { prompts: {} };
}

/** "query, document" (or "none"), for messages. */
export function promptNames(prompts: Record<string, unknown>): string {
  const names = Object.keys(prompts);
  return names.length > 0 ? names.map((n) => JSON.stringify(n)).join(", ") : "none";
}

/** A prompt asked for that the model does not have, or a prompt text that is not a string. */
export class PromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PromptError";
  }
}

/** What a caller may ask for: a prompt by name, or the text itself. */
export interface PromptRequest {
  prompt?: string;
  promptText?: string;
}

/**
 * The text to put before each input: `promptText` when given (it wins over a name, as in
 * sentence-transformers), else the named prompt, else the model's default prompt, else "".
 * `modelPath` names the model in messages.
 */
export function resolvePrompt(model: ModelPrompts, request: PromptRequest, modelPath: string): string {
  const { prompt, promptText } = request;
  if (promptText !== undefined) {
    if (typeof promptText !== "string") throw new PromptError(`promptText must be a string, not ${typeof promptText}`);
    return promptText;
  }
  const name = prompt ?? model.defaultPromptName;
  if (name === undefined) return "";
  if (typeof name !== "string" || !Object.hasOwn(model.prompts, name)) {
    throw new PromptError(
      `prompt ${JSON.stringify(name)} is not one of ${fileName(modelPath)}'s prompts (${promptNames(model.prompts)}); ` +
        `name one of them (CLI: --prompt <name>), or pass the text itself with { promptText } (CLI: --prompt-text <text>)`,
    );
  }
  return model.prompts[name]!;
}
