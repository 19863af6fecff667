// The Matryoshka dimensions a model folder advertises, where its files state them. There is no
// single convention: jina-embeddings-v3 writes `matryoshka_dimensions` into config.json, some
// sentence-transformers folders `matryoshka_dimensions` or a default `truncate_dim` into
// config_sentence_transformers.json, and model cards of models trained with sentence-transformers'
// MatryoshkaLoss list `"matryoshka_dims": [768, 512, …]` in README.md.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface AdvertisedDimensions {
  /** Ascending, distinct. */
  dimensions: number[];
  /** The file (relative to the folder) that states them. */
  source: string;
}

/** A model card names the list in a JSON-like loss configuration. */
const CARD_PATTERN = /["']?matryoshka_dims["']?\s*[:=]\s*\[([\d\s,]+)\]/;

export function readAdvertisedDimensions(dir: string): AdvertisedDimensions | undefined {
  for (const [file, keys] of [
    ["config.json", ["matryoshka_dimensions"]],
    ["config_sentence_transformers.json", ["matryoshka_dimensions", "truncate_dim"]],
  ] as const) {
    const config = readJsonObject(join(dir, file));
    for (const key of keys) {
      const dimensions = positiveIntegers(config?.[key]);
      if (dimensions) return { dimensions, source: file };
    }
  }
  const card = join(dir, "README.md");
  if (existsSync(card)) {
    const match = CARD_PATTERN.exec(readFileSync(card, "utf8"));
    const dimensions = match ? positiveIntegers(match[1]!.split(",").map(Number)) : undefined;
    if (dimensions) return { dimensions, source: "README.md" };
  }
  return undefined;
}

/** A positive integer or a non-empty list of them, ascending and distinct; undefined otherwise. */
function positiveIntegers(value: unknown): number[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => Number.isInteger(v) && (v as number) > 0)) return undefined;
  return [...new Set(list as number[])].sort((a, b) => a - b);
}

/** A JSON object file, or undefined when absent or unreadable (advertised dimensions are a hint). */
function readJsonObject(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
