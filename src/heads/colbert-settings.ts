// How a late-interaction (ColBERT) model wants its texts encoded and its vectors scored: query and
// document markers, query augmentation with [MASK], punctuation dropped from documents, MaxSim's
// reduction. Read at export from the model's own files — colbert-ai's artifact.metadata, PyLate's
// config_sentence_transformers.json — and carried in the ONNX file's metadata, where the runtime
// reads it back: one source of truth inside the artifact.
import type { ModelFiles } from "../common/files.js";
import { ConfigReader } from "../arch/config.js";
import { METADATA } from "../artifact/names.js";

/** colbert-ai's config file beside the weights. */
export const COLBERT_ARTIFACT_METADATA = "artifact.metadata";
/** PyLate (a sentence-transformers subclass) keeps its ColBERT settings here. */
export const PYLATE_CONFIG = "config_sentence_transformers.json";

/** Python's string.punctuation: what colbert-ai's mask_punctuation drops from documents. */
export const PYTHON_PUNCTUATION = Array.from("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

export interface ColbertSettings {
  /** Token put right after the first special token of a query ([CLS]); absent: none (bge-m3). */
  queryMarker?: string;
  documentMarker?: string;
  /** Tokens per query, markers and specials included (colbert-ai query_maxlen, PyLate query_length). */
  queryLength: number;
  /** At most this many tokens per document (doc_maxlen, document_length). */
  documentLength: number;
  /** Pad queries to queryLength with [MASK] tokens that still yield vectors (query augmentation). */
  queryExpansion: boolean;
  /** The encoder attends to those [MASK] tokens (attend_to_mask_tokens, attend_to_expansion_tokens). */
  attendToExpansion: boolean;
  /** Words whose tokens yield no document vector (punctuation). */
  skiplist: string[];
  /** MaxSim adds the per-query-token maxima (ColBERT) or averages them (bge-m3). */
  scoreReduction: "sum" | "mean";
  /** The first token ([CLS]) yields no vector (bge-m3's colbert_linear runs on tokens 1…). */
  skipFirstToken: boolean;
}

/** colbert-ai's ColBERTConfig defaults, for keys an artifact.metadata leaves out. */
const COLBERT_AI_DEFAULTS = { queryMarker: "[unused0]", documentMarker: "[unused1]", queryLength: 32, documentLength: 180 } as const;

/** colbert-ai's artifact.metadata, when the folder has one. */
export function readColbertAiSettings(files: ModelFiles): ColbertSettings | undefined {
  if (!files.has(COLBERT_ARTIFACT_METADATA)) return undefined;
  const c = ConfigReader.fromFile(files, COLBERT_ARTIFACT_METADATA);
  return {
    queryMarker: c.string("query_token_id", COLBERT_AI_DEFAULTS.queryMarker),
    documentMarker: c.string("doc_token_id", COLBERT_AI_DEFAULTS.documentMarker),
    queryLength: c.int("query_maxlen", { min: 2, fallback: COLBERT_AI_DEFAULTS.queryLength }),
    documentLength: c.int("doc_maxlen", { min: 2, fallback: COLBERT_AI_DEFAULTS.documentLength }),
    queryExpansion: true,
    attendToExpansion: c.boolean("attend_to_mask_tokens", false),
    skiplist: c.boolean("mask_punctuation", true) ? [...PYTHON_PUNCTUATION] : [],
    scoreReduction: "sum",
    skipFirstToken: false,
  };
}

/** HF_ColBERT checkpoints without an artifact.metadata: colbert-ai's defaults. */
export function defaultColbertAiSettings(): ColbertSettings {
  return {
    ...COLBERT_AI_DEFAULTS,
    queryExpansion: true,
    attendToExpansion: false,
    skiplist: [...PYTHON_PUNCTUATION],
    scoreReduction: "sum",
    skipFirstToken: false,
  };
}

/**
 * bge-m3 (FlagEmbedding's BGEM3FlagModel): no markers, no query augmentation, every token but the
 * first yields a vector, MaxSim averaged over the query's tokens.
 */
export function bgeM3ColbertSettings(maxSequence: number): ColbertSettings {
  return {
    queryLength: maxSequence,
    documentLength: maxSequence,
    queryExpansion: false,
    attendToExpansion: false,
    skiplist: [],
    scoreReduction: "mean",
    skipFirstToken: true,
  };
}

/** PyLate's defaults (pylate.models.ColBERT), for keys its config leaves out. */
const PYLATE_DEFAULTS = { queryLength: 32, documentLength: 180 } as const;

/** PyLate's settings from config_sentence_transformers.json, when they are there. */
export function readPylateSettings(files: ModelFiles): ColbertSettings | undefined {
  if (!files.has(PYLATE_CONFIG)) return undefined;
  const c = ConfigReader.fromFile(files, PYLATE_CONFIG);
  if (!c.has("query_prefix") && !c.has("document_prefix") && !c.has("query_length")) return undefined;
  const skiplist = c.raw("skiplist_words") ?? [];
  if (!Array.isArray(skiplist) || !skiplist.every((w) => typeof w === "string")) throw c.fail("skiplist_words must be a list of strings");
  // PyLate's prefixes are added tokens written with a trailing space ("[Q] ").
  const marker = (field: string) => (c.has(field) ? c.string(field).trim() || undefined : undefined);
  return {
    ...optional("queryMarker", marker("query_prefix")),
    ...optional("documentMarker", marker("document_prefix")),
    queryLength: c.int("query_length", { min: 2, fallback: PYLATE_DEFAULTS.queryLength }),
    documentLength: c.int("document_length", { min: 2, fallback: PYLATE_DEFAULTS.documentLength }),
    queryExpansion: c.boolean("do_query_expansion", true),
    attendToExpansion: c.boolean("attend_to_expansion_tokens", false),
    skiplist: skiplist as string[],
    scoreReduction: "sum",
    skipFirstToken: false,
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The settings as ONNX metadata. */
export function colbertMetadata(settings: ColbertSettings): Record<string, string> {
  return { [METADATA.colbert]: JSON.stringify(settings) };
}

/** The settings an exported graph carries; undefined when it carries none. */
export function colbertSettingsOf(metadata: Record<string, string>, source: string): ColbertSettings | undefined {
  const text = metadata[METADATA.colbert];
  if (text === undefined) return undefined;
  const c = ConfigReader.fromText(text, `${source} metadata ${METADATA.colbert}`);
  const skiplist = c.raw("skiplist");
  if (!Array.isArray(skiplist) || !skiplist.every((w) => typeof w === "string"))
    throw c.fail("skiplist must be a list of strings; export the model again");
  return {
    ...optional("queryMarker", c.has("queryMarker") ? c.string("queryMarker") : undefined),
    ...optional("documentMarker", c.has("documentMarker") ? c.string("documentMarker") : undefined),
    queryLength: c.int("queryLength", { min: 1 }),
    documentLength: c.int("documentLength", { min: 1 }),
    queryExpansion: c.boolean("queryExpansion"),
    attendToExpansion: c.boolean("attendToExpansion"),
    skiplist: skiplist as string[],
    scoreReduction: c.oneOf("scoreReduction", ["sum", "mean"]),
    skipFirstToken: c.boolean("skipFirstToken"),
  };
}
