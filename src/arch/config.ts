// Reading Hugging Face config.json: typed field access whose errors name the file, the field
// and what was expected. Architecture templates build their own typed configs from it.
import { FileKindError, type ModelFiles } from "../common/files.js";
import { describe, errorMessage, oneLine } from "../common/messages.js";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Largest config.json accepted: real ones are a few KiB. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * The bytes of a model's JSON settings file `name` (config.json, modules.json…): a regular file of
 * at most MAX_CONFIG_BYTES, read no further (a FIFO, a device or a larger file is a ConfigError).
 */
function readConfigFile(files: ModelFiles, name: string): Uint8Array {
  try {
    return files.read(name, MAX_CONFIG_BYTES);
  } catch (error) {
    if (error instanceof FileKindError) throw new ConfigError(`${error.message}; replace it with the model's real file`);
    const code = (error as { code?: unknown }).code;
    const why =
      code === "ENOENT" || !files.has(name) ? "does not exist" : `cannot be read (${typeof code === "string" ? code : String(error)})`;
    throw new ConfigError(`${files.path(name)} ${why}: a model folder needs the config.json of its Hugging Face repository`);
  }
}

/** readConfigFile as text (modules.json, whose parser reads text). */
export function readConfigText(files: ModelFiles, name: string): string {
  return new TextDecoder().decode(readConfigFile(files, name));
}

export class ConfigReader {
  private constructor(
    private readonly fields: Record<string, Json>,
    /** e.g. "models/bge/config.json", used in every message. */
    readonly source: string,
  ) {}

  /** File `name` of `files` (a model folder's config.json…). */
  static fromFile(files: ModelFiles, name: string): ConfigReader {
    return ConfigReader.fromBytes(readConfigFile(files, name), files.path(name));
  }

  static fromBytes(bytes: Uint8Array, source: string): ConfigReader {
    if (bytes.byteLength > MAX_CONFIG_BYTES) {
      throw new ConfigError(`${source} is ${bytes.byteLength} bytes, too large for a config.json; check the file`);
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new ConfigError(`${source} is not UTF-8 text; it must be the model's JSON config.json`);
    }
    return ConfigReader.fromText(text, source);
  }

  static fromText(text: string, source: string): ConfigReader {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`${source} is not valid JSON (${oneLine(errorMessage(error))}); re-download the model's config.json`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new ConfigError(`${source} must hold a JSON object, found ${describe(parsed)}`);
    }
    return new ConfigReader(parsed as Record<string, Json>, source);
  }

  has(field: string): boolean {
    return Object.hasOwn(this.fields, field) && this.fields[field] !== null;
  }

  /** The raw JSON value (for templates with unusual fields). */
  raw(field: string): unknown {
    return Object.hasOwn(this.fields, field) ? this.fields[field] : undefined;
  }

  /**
   * A nested object (e.g. rope_scaling) read with the same checks, its messages naming
   * `source › field`; undefined when the field is absent or null.
   */
  section(field: string): ConfigReader | undefined {
    if (!this.has(field)) return undefined;
    const value = this.fields[field];
    if (typeof value !== "object" || Array.isArray(value)) throw this.invalid(field, value, "a JSON object");
    return new ConfigReader(value as Record<string, Json>, `${this.source} › ${field}`);
  }

  string(field: string, fallback?: string): string {
    const value = this.value(field, fallback);
    if (typeof value !== "string") throw this.invalid(field, value, "a string");
    return value;
  }

  /** An integer in [min, max]. */
  int(field: string, options: { fallback?: number; min?: number; max?: number } = {}): number {
    const { min = 0, max = 2 ** 31 - 1 } = options;
    const value = this.value(field, options.fallback);
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw this.invalid(field, value, `an integer from ${min} to ${max}`);
    }
    return value;
  }

  /** A finite number in (0, max] — epsilons, scales. */
  positive(field: string, options: { fallback?: number; max?: number } = {}): number {
    const { max = Number.MAX_VALUE } = options;
    const value = this.value(field, options.fallback);
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
      throw this.invalid(field, value, `a positive number up to ${max}`);
    }
    return value;
  }

  boolean(field: string, fallback?: boolean): boolean {
    const value = this.value(field, fallback);
    if (typeof value !== "boolean") throw this.invalid(field, value, "true or false");
    return value;
  }

  /** One of `allowed`; the error lists them. */
  oneOf<T extends string>(field: string, allowed: readonly T[], fallback?: T): T {
    const value = this.value(field, fallback);
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      throw new ConfigError(
        `${this.source}: "${field}" is ${describeField(value)}; supported values are ${allowed.map((a) => `"${a}"`).join(", ")}`,
      );
    }
    return value as T;
  }

  /** Error for a value that parsed but cannot be honoured (e.g. heads not dividing hidden size). */
  fail(message: string): ConfigError {
    return new ConfigError(`${this.source}: ${message}`);
  }

  private value(field: string, fallback: unknown): unknown {
    if (this.has(field)) return this.fields[field];
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${this.source} has no "${field}": it is required for this model type; use the model's original config.json`);
  }

  private invalid(field: string, value: unknown, expected: string): ConfigError {
    return new ConfigError(`${this.source}: "${field}" is ${describeField(value)}, expected ${expected}`);
  }
}

/**
 * The hidden width and attention head count, read from the fields a model type names them by;
 * the heads must split the width evenly.
 */
export function readWidthAndHeads(
  c: ConfigReader,
  widthField = "hidden_size",
  headsField = "num_attention_heads",
): { hiddenSize: number; heads: number } {
  const hiddenSize = c.int(widthField, { min: 1 });
  const heads = c.int(headsField, { min: 1 });
  if (hiddenSize % heads !== 0) throw c.fail(`${widthField} ${hiddenSize} is not divisible by ${headsField} ${heads}`);
  return { hiddenSize, heads };
}

/** A config value as a message quotes it; an absent field is "missing". */
function describeField(value: unknown): string {
  return value === undefined ? "missing" : describe(value);
}
