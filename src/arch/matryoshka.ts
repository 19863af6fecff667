// The Matryoshka dimensions a model folder advertises, where its files state them. There is no
// single convention: jina-embeddings-v3 writes `matryoshka_dimensions` into config.json, some
// sentence-transformers folders `matryoshka_dimensions` or a default `truncate_dim` into
// config_sentence_transformers.json, and model cards of models trained with sentence-transformers'
// MatryoshkaLoss list `"matryoshka_dims": [768, 512, …]` in README.md.
import type { ModelFiles } from "../common/files.js";

export interface AdvertisedDimensions {
  /** Ascending, distinct. */
  dimensions: number[];
  /** The file (relative to the folder) that states them. */
  source: string;
}

/** A model card names the list in a JSON-like loss configuration. */
const CARD_PATTERN = /["']?matryoshka_dims["']?\s*[:=]\s*\[([\d\s,]+)\]/;

/** Files larger than this are not read for a hint (model cards are a few KiB to a few hundred). */
const MAX_HINT_BYTES = 16 * 1024 * 1024;

export function readAdvertisedDimensions(files: ModelFiles): AdvertisedDimensions | undefined {
  for (const [file, keys] of [
    ["config.json", ["matryoshka_dimensions"]],
    ["config_sentence_transformers.json", ["matryoshka_dimensions", "truncate_dim"]],
  ] as const) {
    const config = readJsonObject(files, file);
    for (const key of keys) {
      const dimensions = positiveIntegers(config?.[key]);
      if (dimensions) return { dimensions, source: file };
    }
  }
  const card = readHint(files, "README.md");
  const match = card === undefined ? null : CARD_PATTERN.exec(card);
  const dimensions = match ? positiveIntegers(match[1]!.split(",").map(Number)) : undefined;
  return dimensions ? { dimensions, source: "README.md" } : undefined;
}

/** A positive integer or a non-empty list of them, ascending and distinct; undefined otherwise. */
function positiveIntegers(value: unknown): number[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => Number.isInteger(v) && (v as number) > 0)) return undefined;
  return [...new Set(list as number[])].sort((a, b) => a - b);
}

/** A text file, or undefined when absent, unreadable or too large (advertised dimensions are a hint). */
function readHint(files: ModelFiles, name: string): string | undefined {
  if (!files.has(name)) return undefined;
  try {
    return new TextDecoder().decode(files.read(name, MAX_HINT_BYTES));
  } catch {
    return undefined;
  }
}

/** A JSON object file, or undefined when absent or unreadable. */
function readJsonObject(files: ModelFiles, name: string): Record<string, unknown> | undefined {
  const text = readHint(files, name);
  try {
    const parsed: unknown = text === undefined ? undefined : JSON.parse(text);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
