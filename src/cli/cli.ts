#!/usr/bin/env node
// jazzmine-embed: export Hugging Face embedding models to verified ONNX files, and embed text.
// stdout carries only results (the artifact path last, a JSON summary with --json, vectors for
// embed); logs, warnings and progress go to stderr. Exit codes: 0 ok, 1 failure, 2 usage.
import { existsSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_OPSET, MAX_OPSET, MIN_OPSET } from "../graph/opset.js";
import { DEFAULT_QUANTIZATION, QUANTIZATION_MODES, type QuantizationMode, type QuantizationOptions } from "../quant/options.js";
import { CALIBRATION_METHODS, type CalibrationMethod } from "../quant/range-selection.js";
import { INT4_METHODS, type Int4Method } from "../quant/int4-methods.js";
import { POOLING_MODES, type PoolingMode } from "../arch/sentence-transformers.js";
import { PromptError, type PromptRequest, resolvePrompt } from "../arch/prompts.js";
import { VECTOR_KINDS, type VectorKind } from "../heads/vectors.js";
import { DTYPES, type Dtype } from "../export/float16-export.js";
import type { GraphVariant } from "../arch/graph-variant.js";
import { BENCH_FLAGS, BENCH_USAGE, benchOptions, commandLine } from "./bench-command.js";
import { runBench } from "../bench/suite.js";
import { DEFAULT_BATCH_SIZE, Embedder } from "../runtime/embedder.js";
import { Reranker } from "../runtime/reranker.js";
import { TASKS, type Task } from "../heads/tasks.js";
import { BGE_M3_OUTPUTS, type BgeM3Output } from "../heads/bge-m3.js";
import { MultiVectorEmbedder } from "../runtime/multi-vector-embedder.js";
import { SparseEmbedder } from "../runtime/sparse-embedder.js";
import { type FlagConflict, type FlagSpec, type Flags, formatFlags, parseArgs } from "./args.js";
import { UsageError } from "../common/usage.js";
import { HubClient } from "../export/hub/client.js";
import { invalidRevisionMessage } from "../export/hub/names.js";
import { DEFAULT_REVISION } from "../export/hub/settings.js";
import { isLocalFolder } from "../export/model-source.js";
import { Reporter, type TextStream } from "../export/progress.js";
import { DEFAULT_MODEL_ID, EmbeddingService, type ExportOptions } from "../export/service.js";
import { DEFAULT_LAYOUT, EXPORT_LAYOUTS, type ExportLayout, MODEL_PRECISIONS } from "../artifact/layout.js";
import { TOKENIZER_FILES } from "../artifact/tokenizer-files.js";
import { VERIFY_MODES, type VerifyMode } from "../artifact/verified-files.js";
import { InterruptedError } from "../common/abort.js";
import { ExportError, fileSystemError } from "../common/errors.js";
import { type Interruption, type SignalSource, watchInterrupts } from "./interrupt.js";
import { PACKAGE_VERSION } from "../export/version.js";
import { redactCredentials } from "../common/redact.js";
import { errorMessage, escapeControlCharacters } from "../common/messages.js";
import { parseShapes } from "../bench/shapes.js";
import {
  CANDIDATES,
  type CandidateName,
  DEFAULT_MIN_COSINE,
  OPTIMIZE_GOALS,
  type OptimizeGoal,
  OptimizeRefusal,
  type OptimizeOptions,
  optimizeExport,
} from "../optimize/optimize.js";
import { TextFileError, readTextLines, splitLines } from "../common/text-file.js";
import { type TextSource, embedToFile } from "./embed-output.js";
import { VECTOR_FORMATS, type VectorFormat, type VectorType, vectorFormatOf } from "./vector-output.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Where the CLI reads and writes; main() takes it so tests can run commands in-process. */
export interface CliIo {
  stdout: TextStream;
  stderr: TextStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Texts for `embed … -` (default: this process's stdin). */
  readStdin?: () => string;
  /** SIGINT/SIGTERM stop an export or embed (default: this process's signals; none in tests). */
  signals?: SignalSource;
}

interface Context {
  io: CliIo;
  reporter: Reporter;
  /** Fires on SIGINT/SIGTERM (interruptible commands, run from the command line). */
  signal?: AbortSignal;
}

interface CommandResult {
  /** What stdout gets without --json (the artifact path last). */
  stdout: string;
  /** The --json summary. */
  summary: Record<string, unknown>;
  /** Files the output names: each must still exist when it is printed. */
  artifacts?: string[];
}

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpec[];
  /** Settings that exclude each other (usage errors naming both). */
  conflicts?: FlagConflict[];
  /** Stops cleanly on SIGINT/SIGTERM (other commands keep the signals' default: end at once). */
  interruptible?: boolean;
  run(positionals: string[], flags: Flags, context: Context): Promise<CommandResult>;
}

const OUTPUT: FlagSpec = { name: "output", alias: "o", value: "dir", help: "folder to write into (created if missing)" };
const REVISION: FlagSpec = { name: "revision", value: "rev", help: `Hub branch, tag or commit sha (default ${DEFAULT_REVISION})` };
const QUIET: FlagSpec = { name: "quiet", alias: "q", help: "no progress or info on stderr (warnings and errors only)" };
const JSON_FLAG: FlagSpec = { name: "json", help: "print a machine-readable JSON summary on stdout" };
const HELP: FlagSpec = { name: "help", alias: "h", help: "show this help" };
const PRECISION: FlagSpec = {
  name: "precision",
  value: MODEL_PRECISIONS.join("|"),
  help: "the most recent export of this precision when the folder holds several (default: the most recent export)",
};
const VERIFY: FlagSpec = {
  name: "verify",
  value: VERIFY_MODES.join("|"),
  help: "sha256 of the exported files: once per file version (cached, default) or at every load (full)",
};

/** INT8 settings of `export` (SPEC: INT8 QDQ is the default; --fp32 opts out). */
const QUANTIZATION_FLAGS: FlagSpec[] = [
  {
    name: "mode",
    value: QUANTIZATION_MODES.join("|"),
    help: "static (INT8 calibrated QDQ, default), dynamic (INT8, no calibration) or int4 (4-bit block weights, <slug>_int4.onnx)",
  },
  {
    name: "int4-method",
    value: INT4_METHODS.join("|"),
    help: `--mode int4: how weights are rounded to 4 bits (default ${DEFAULT_QUANTIZATION.int4.method}; rtn needs no calibration)`,
  },
  { name: "calibration", value: "texts.txt|.jsonl", help: "calibration texts: one per line, or JSON lines (default: the built-in corpus)" },
  {
    name: "calibration-method",
    value: CALIBRATION_METHODS.join("|"),
    help: `activation range selection (default ${DEFAULT_QUANTIZATION.method})`,
  },
  { name: "calibration-max-length", value: "N", help: `tokens per calibration text (default ${DEFAULT_QUANTIZATION.maxLength})` },
  {
    name: "fidelity-threshold",
    value: "cosine",
    help: `worst held-out cosine INT8 must keep vs FP32 (rerankers: Spearman of the scores) (default ${DEFAULT_QUANTIZATION.fidelityThreshold})`,
  },
];

/** `export --optimize`: pick the precision by measurement. */
const OPTIMIZE_FLAGS: FlagSpec[] = [
  {
    name: "optimize",
    value: OPTIMIZE_GOALS.join("|"),
    help: "export every candidate (fp32, fp16, int8 static/dynamic, int4), measure them here, write the smallest or fastest that keeps --min-cosine",
  },
  {
    name: "min-cosine",
    value: "score",
    help: `with --optimize: worst held-out cosine vs FP32 a candidate must keep (rerankers, ColBERT: Spearman) (default ${DEFAULT_MIN_COSINE})`,
  },
  { name: "optimize-candidates", value: "list", help: `with --optimize: which candidates, of ${CANDIDATES.join(",")} (default all)` },
  { name: "optimize-shapes", value: "BxS,…", help: "with --optimize: the shapes latency is measured at (default 1x16,8x128)" },
];

/** Precisions that leave no room for another: an FP32 or FP16 export has no quantization mode. */
const EXPORT_CONFLICTS: FlagConflict[] = [
  [{ flag: "fp32" }, { flag: "dtype", value: "fp16" }],
  [{ flag: "fp32" }, { flag: "mode" }],
  [{ flag: "dtype", value: "fp16" }, { flag: "mode" }],
];

/** `embed --output`: where and how the vectors are written. */
const EMBED_OUTPUT_FLAGS: FlagSpec[] = [
  {
    name: "output",
    alias: "o",
    value: "file",
    help: "write the vectors to this file as they are computed (bounded memory): .jsonl, .npy, else raw rows after a JSON header line",
  },
  { name: "format", value: VECTOR_FORMATS.join("|"), help: "with --output: the file's format (default: from its extension)" },
  {
    name: "vector",
    value: "float32|int8|binary",
    help: "with --output: float32 vectors (default), or the graph's sentence_embedding_int8 / _binary (exported with --vector)",
  },
  { name: "resume", help: "with --output: continue the <file>.partial an interrupted run left (checked against this run first)" },
];

const COMMANDS: Record<string, Command> = {
  export: {
    summary: "export a model to ONNX (with its tokenizer files)",
    interruptible: true,
    usage: `jazzmine-embed export <model-id-or-folder> --output <dir> [options]`,
    conflicts: EXPORT_CONFLICTS,
    flags: [
      OUTPUT,
      { name: "fp32", help: "write the FP32 model instead of the INT8 one (default: INT8 QDQ)" },
      { name: "opset", value: "N", help: `ONNX opset, ${MIN_OPSET}-${MAX_OPSET} (default ${DEFAULT_OPSET})` },
      {
        name: "task",
        value: TASKS.join("|"),
        help: "what the graph computes (default: detected from config.json's architectures and the retrieval files beside the weights)",
      },
      { name: "outputs", value: BGE_M3_OUTPUTS.join(","), help: "bge-m3: which of its outputs the graph has (default all three)" },
      {
        name: "rerank-tokens",
        value: "yes,no",
        help: "--task rerank on a causal LM (Qwen3-Reranker): the answer tokens, positive then negative (default yes,no)",
      },
      {
        name: "token-type-ids",
        help: "add a token_type_ids input (models with token types; rerankers with token types get it by default)",
      },
      { name: "variant", value: "primary|portable", help: "emit only this graph variant, no fallback" },
      { name: "sentence-embedding", help: "add a sentence_embedding output, pooled as the model's modules.json says" },
      { name: "pooling", value: POOLING_MODES.join("|"), help: "add a sentence_embedding output with this pooling, L2-normalized" },
      { name: "no-normalize", help: "with --pooling: do not L2-normalize sentence_embedding" },
      {
        name: "dimensions",
        value: "N",
        help: "Matryoshka: cut sentence_embedding to its first N dimensions and renormalize (implies --sentence-embedding)",
      },
      {
        name: "dtype",
        value: DTYPES.join("|"),
        help: "fp16: float16 weights and activations (LayerNorm, Softmax, outputs float32), <slug>_fp16.onnx; not with INT8",
      },
      {
        name: "vector",
        value: VECTOR_KINDS.join("|"),
        help: "add sentence_embedding_int8 (calibrated ranges) or sentence_embedding_binary (packed sign bits); implies --sentence-embedding",
      },
      {
        name: "layout",
        value: EXPORT_LAYOUTS.join("|"),
        help: `file names for other runtimes: onnx/model*.onnx (transformers.js), model*.onnx + ort_config.json (optimum) (default ${DEFAULT_LAYOUT})`,
      },
      ...QUANTIZATION_FLAGS,
      ...OPTIMIZE_FLAGS,
      REVISION,
      QUIET,
      JSON_FLAG,
      HELP,
    ],
    async run([model, ...rest], flags, context) {
      const modelId = requireModel(model, rest);
      const optimize = optimizeOptions(flags);
      const output = requireOutput(flags);
      const hub = hubClient(modelId, flags, context);
      const service = new EmbeddingService(modelId, { logger: context.reporter, resolver: hub });
      // Flag values go to the library as they are: resolveExportPlan checks them (once) and names the option, UsageError says which flag.
      const common: ExportOptions = {
        ...(context.signal ? { signal: context.signal } : {}),
        ...(flags.opset !== undefined ? { opset: parseInteger("opset", flags.opset) } : {}),
        ...(flags["token-type-ids"] === true ? { tokenTypeIds: true } : {}),
        ...(flags.task !== undefined ? { task: flags.task as Task } : {}),
        ...(flags.outputs !== undefined
          ? {
              outputs: String(flags.outputs)
                .split(",")
                .map((o) => o.trim()) as BgeM3Output[],
            }
          : {}),
        ...(flags["rerank-tokens"] !== undefined ? { rerankTokens: parseRerankTokens(flags["rerank-tokens"]) } : {}),
        ...(flags.variant !== undefined ? { variant: flags.variant as GraphVariant } : {}),
        sentenceEmbedding: sentenceEmbeddingOption(flags),
        ...(flags.dimensions !== undefined ? { dimensions: parseInteger("dimensions", flags.dimensions, 1) } : {}),
        ...(flags.vector !== undefined ? { vector: flags.vector as VectorKind } : {}),
        ...(flags.layout !== undefined ? { layout: flags.layout as ExportLayout } : {}),
        ...quantizationOptions(flags),
      };
      const exported = optimize
        ? await optimizeExport(service, output, { ...common, ...optimize, logger: context.reporter }).catch((error: unknown) => {
            throw error instanceof OptimizeRefusal ? new UsageError(error.message) : error;
          })
        : await service.runExport(output, {
            ...common,
            ...(flags.fp32 === true ? { quantized: false } : {}),
            ...(flags.dtype !== undefined ? { dtype: flags.dtype as Dtype } : {}),
          });
      return {
        stdout: exported.path,
        artifacts: [exported.path],
        summary: {
          ...sourceSummary(modelId, hub),
          output,
          artifact: exported.path,
          precision: exported.precision,
          variant: exported.variant,
          reports: exported.reports,
          ...("report" in exported ? { optimization: exported.report } : {}),
          files: readdirSync(output).sort(),
        },
      };
    },
  },
  tokenizer: {
    summary: "write only the tokenizer files (never downloads or reads weights)",
    usage: `jazzmine-embed tokenizer <model-id-or-folder> --output <dir> [options]`,
    flags: [OUTPUT, REVISION, QUIET, JSON_FLAG, HELP],
    async run([model, ...rest], flags, context) {
      const modelId = requireModel(model, rest);
      const hub = hubClient(modelId, flags, context);
      const output = await new EmbeddingService(modelId, { logger: context.reporter, resolver: hub }).exportTokenizerOnly(
        requireOutput(flags),
      );
      const files = TOKENIZER_FILES.filter((file) => existsSync(join(output, file)));
      return { stdout: output, summary: { ...sourceSummary(modelId, hub), output, files } };
    },
  },
  embed: {
    summary: "embed texts with an exported folder and print the vectors as JSON",
    interruptible: true,
    usage: `jazzmine-embed embed <exported-dir> <text…> | --input <texts.txt|texts.jsonl|->   ('-': one text per line from stdin)`,
    flags: [
      { name: "pooling", value: POOLING_MODES.join("|"), help: "pooling (default: the folder's sentence-transformers config, else cls)" },
      { name: "no-normalize", help: "do not L2-normalize the vectors" },
      { name: "sparse", help: "sparse vectors ({indices, values}) of a SPLADE / bge-m3 export" },
      { name: "top-k", value: "N", help: "with --sparse: keep the N largest weights" },
      { name: "threshold", value: "x", help: "with --sparse: keep weights above x (default 0)" },
      { name: "tokens", help: "with --sparse: add each kept id's token" },
      { name: "colbert", help: "token vectors of a ColBERT / bge-m3 export (documents; --query for queries)" },
      { name: "query", help: "with --colbert: encode the texts as queries (marker, [MASK] augmentation)" },
      { name: "dimensions", value: "N", help: "Matryoshka: keep the first N dimensions, renormalized (default: the graph's)" },
      {
        name: "prompt",
        value: "name",
        help: "put the model's prompt of this name before each text (its config_sentence_transformers.json prompts, e.g. query; default: its default_prompt_name)",
      },
      { name: "prompt-text", value: "text", help: "put this text before each text instead of a named prompt ('' for none)" },
      { name: "batch-size", value: "N", help: `texts per onnxruntime run (default ${DEFAULT_BATCH_SIZE})` },
      { name: "max-length", value: "N", help: "truncate texts to N tokens (default: the model's limit)" },
      { name: "file", value: "name.onnx", help: "the ONNX file to use when the folder has several" },
      PRECISION,
      VERIFY,
      {
        name: "input",
        value: "texts.txt|.jsonl|-",
        help: "texts to embed: one per line, or JSON lines ('-': lines from stdin); one vector per text, in order",
      },
      ...EMBED_OUTPUT_FLAGS,
      QUIET,
      JSON_FLAG,
      HELP,
    ],
    async run([dir, ...texts], flags, context) {
      if (!dir) throw new UsageError("missing <exported-dir> (a folder written by 'jazzmine-embed export')");
      const toFile = embedOutputOptions(flags);
      const inputs = toFile ? [] : textsToEmbed(texts, flags.input, context.io);
      if (flags.sparse || flags.colbert) {
        if (flags.prompt !== undefined || flags["prompt-text"] !== undefined)
          throw new UsageError("--prompt and --prompt-text go with dense embeddings, not --sparse / --colbert");
        return embedRetrieval(dir, inputs, flags, context);
      }
      const pooling = parsePooling(flags.pooling);
      const normalize = !flags["no-normalize"];
      const batchSize = flags["batch-size"] !== undefined ? parseInteger("batch-size", flags["batch-size"], 1) : undefined;
      const embedOptions = {
        normalize,
        ...(batchSize !== undefined ? { batchSize } : {}),
        // Progress only when the texts take more than one onnxruntime run.
        ...(!toFile && inputs.length > (batchSize ?? DEFAULT_BATCH_SIZE) ? { onProgress: context.reporter.onProgress } : {}),
        ...(context.signal ? { signal: context.signal } : {}),
        ...(flags.dimensions !== undefined ? { dimensions: parseInteger("dimensions", flags.dimensions, 1) } : {}),
      };
      const embedder = await Embedder.load(dir, {
        // onnxruntime in a child: its native crashes (one comes with long command lines) are one error line here.
        isolated: true,
        optionNames: { file: "--file <name>", pooling: "--pooling" },
        ...(typeof flags.file === "string" ? { file: flags.file } : {}),
        ...(typeof flags.precision === "string" ? { precision: flags.precision } : {}),
        ...verifyOption(flags),
        ...(flags["max-length"] !== undefined ? { maxLength: parseInteger("max-length", flags["max-length"], 2) } : {}),
        ...(pooling ? { pooling } : {}),
      });
      try {
        const prompt = {
          ...(typeof flags.prompt === "string" ? { prompt: flags.prompt } : {}),
          ...(typeof flags["prompt-text"] === "string" ? { promptText: flags["prompt-text"] } : {}),
        };
        checkPrompt(embedder, prompt);
        if (toFile) {
          const written = await embedToFile({
            embedder,
            source: textSource(texts, flags.input, context.io),
            ...toFile,
            embedOptions: { ...embedOptions, ...prompt },
            settings: {
              model: basename(embedder.modelPath),
              pooling: embedder.pooling,
              normalized: normalize,
              maxLength: embedder.maxLength,
            },
            reporter: context.reporter,
            ...(context.signal ? { signal: context.signal } : {}),
          });
          context.reporter.info(
            `embedded ${written.count - written.resumedFrom} text(s) into ${toFile.output}` +
              `${written.resumedFrom > 0 ? ` after the ${written.resumedFrom} it held` : ""} (${written.count} vectors of ${written.width ?? "?"})`,
          );
          return {
            stdout: toFile.output,
            artifacts: [toFile.output],
            summary: { model: embedder.modelPath, output: toFile.output, format: toFile.format, vector: toFile.type, ...written },
          };
        }
        const vectors = await embedder.embed(inputs, { ...embedOptions, ...prompt });
        // Nine significant digits round-trip a float32 exactly and keep the JSON short.
        const rows = vectors.map((v) => Array.from(v, (x) => Number(x.toPrecision(9))));
        context.reporter.info(
          `embedded ${rows.length} text(s) with ${embedder.modelPath} (${embedder.pooling} pooling${normalize ? ", normalized" : ""})`,
        );
        return {
          stdout: JSON.stringify(rows),
          summary: {
            model: embedder.modelPath,
            pooling: embedder.pooling,
            normalized: normalize,
            maxLength: embedder.maxLength,
            dimensions: rows[0]?.length ?? null,
            vectors: rows,
          },
        };
      } finally {
        await embedder.close();
      }
    },
  },
};

COMMANDS.rerank = {
  summary: "score documents against a query with an exported reranker and print them best first as JSON",
  usage: `jazzmine-embed rerank <exported-dir> --query <text> <document…>   ('-' reads one document per line from stdin)`,
  flags: [
    { name: "query", value: "text", help: "the query the documents are scored against" },
    { name: "top-k", value: "N", help: "print only the N best documents (default: all)" },
    { name: "raw", help: "scores are the raw logits (default: sigmoid, or softmax over labels)" },
    { name: "instruction", value: "text", help: "LLM rerankers (Qwen3-Reranker): the prompt's instruction (default: the model card's)" },
    { name: "batch-size", value: "N", help: "pairs per onnxruntime run (default 32)" },
    { name: "max-length", value: "N", help: "truncate pairs to N tokens, documents first (default: the model's limit)" },
    { name: "file", value: "name.onnx", help: "the ONNX file to use when the folder has several" },
    PRECISION,
    VERIFY,
    QUIET,
    JSON_FLAG,
    HELP,
  ],
  async run([dir, ...documents], flags, context) {
    if (!dir) throw new UsageError("missing <exported-dir> (a folder written by 'jazzmine-embed export' for a reranker)");
    if (typeof flags.query !== "string") throw new UsageError("missing --query <text>");
    if (documents.length === 0) throw new UsageError("missing <document…> to score (or '-' to read lines from stdin)");
    const inputs = documents.length === 1 && documents[0] === "-" ? readLines(context.io) : documents;
    const rerankOptions = {
      raw: flags.raw === true,
      ...(flags["top-k"] !== undefined ? { topK: parseInteger("top-k", flags["top-k"], 1) } : {}),
      ...(flags["batch-size"] !== undefined ? { batchSize: parseInteger("batch-size", flags["batch-size"], 1) } : {}),
    };
    const reranker = await Reranker.load(dir, {
      // As embed: onnxruntime in a child, so that a native crash is one error line.
      isolated: true,
      ...(typeof flags.file === "string" ? { file: flags.file } : {}),
      ...(typeof flags.precision === "string" ? { precision: flags.precision } : {}),
      ...verifyOption(flags),
      ...(flags["max-length"] !== undefined ? { maxLength: parseInteger("max-length", flags["max-length"], 2) } : {}),
    });
    try {
      const ranked = await reranker.rerank(flags.query, inputs, {
        ...rerankOptions,
        ...(typeof flags.instruction === "string" ? { instruction: flags.instruction } : {}),
      });
      const rows = ranked.map(({ index, score }) => ({ index, score: Number(score.toPrecision(9)), document: inputs[index]! }));
      context.reporter.info(`scored ${inputs.length} document(s) with ${reranker.modelPath}`);
      return {
        stdout: JSON.stringify(rows),
        summary: { model: reranker.modelPath, maxLength: reranker.maxLength, raw: flags.raw === true, results: rows },
      };
    } finally {
      await reranker.close();
    }
  },
};

COMMANDS.bench = {
  summary: "measure a model: export time and memory, session load, latency and throughput per variant",
  usage: `jazzmine-embed bench ${BENCH_USAGE}`,
  flags: [...BENCH_FLAGS, REVISION, QUIET, JSON_FLAG, HELP],
  async run([model, ...rest], flags, context) {
    const modelId = model === undefined ? undefined : requireModel(model, rest);
    const options = benchOptions(modelId, flags);
    const { files, result } = await runBench({
      ...options,
      resolver: hubClient(options.model!, flags, context),
      command: commandLine("jazzmine-embed bench", modelId, flags),
      log: (message) => context.reporter.info(message),
    });
    return { stdout: `${readFileSync(files.markdown, "utf8")}\n${files.json}`, summary: { ...files, result } };
  },
};

/** A prompt name the model does not have is a usage error, reported before any text is embedded. */
function checkPrompt(embedder: Embedder, request: PromptRequest): void {
  try {
    resolvePrompt(embedder.prompts, request, embedder.modelPath);
  } catch (error) {
    throw error instanceof PromptError ? new UsageError(error.message) : error;
  }
}

/** --sentence-embedding: modules.json's pooling; --pooling X [--no-normalize]: explicit. */
function sentenceEmbeddingOption(flags: Flags): boolean | { pooling: PoolingMode; normalize: boolean } {
  const pooling = parsePooling(flags.pooling);
  if (pooling === undefined) {
    if (flags["no-normalize"]) throw new UsageError("--no-normalize goes with --pooling");
    return flags["sentence-embedding"] === true;
  }
  return { pooling, normalize: flags["no-normalize"] !== true };
}

function parseRerankTokens(value: string | true): [string, string] {
  const tokens = value === true ? [] : value.split(",");
  if (tokens.length !== 2 || tokens.some((t) => t === ""))
    throw new UsageError(`--rerank-tokens takes two tokens, positive then negative, e.g. yes,no — not ${String(value)}`);
  return tokens as [string, string];
}

/** --verify cached|full as the runtimes' `verify` option (absent: their default). */
function verifyOption(flags: Flags): { verify?: VerifyMode } {
  const value = flags.verify;
  if (value === undefined) return {};
  if (!VERIFY_MODES.includes(value as VerifyMode))
    throw new UsageError(`--verify must be one of ${VERIFY_MODES.join(", ")}, not ${String(value)}`);
  return { verify: value as VerifyMode };
}

function parsePooling(value: string | true | undefined): PoolingMode | undefined {
  if (value === undefined) return undefined;
  if (!POOLING_MODES.includes(value as PoolingMode))
    throw new UsageError(`--pooling must be one of ${POOLING_MODES.join(", ")}, not ${String(value)}`);
  return value as PoolingMode;
}

function requireModel(model: string | undefined, rest: string[]): string {
  if (!model) throw new UsageError(`missing <model-id-or-folder> (for example ${DEFAULT_MODEL_ID} or ./my-model)`);
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);
  return model;
}

function requireOutput(flags: Flags): string {
  const output = flags.output;
  if (typeof output !== "string") throw new UsageError("missing --output <dir>");
  return output;
}

/** --optimize and its flags, checked; undefined without --optimize. */
function optimizeOptions(flags: Flags): OptimizeOptions | undefined {
  const goal = flags.optimize;
  if (goal === undefined) {
    for (const flag of ["min-cosine", "optimize-candidates", "optimize-shapes"])
      if (flags[flag] !== undefined) throw new UsageError(`--${flag} goes with --optimize size|latency`);
    return undefined;
  }
  for (const flag of ["fp32", "dtype", "mode", "fidelity-threshold"])
    if (flags[flag] !== undefined)
      throw new UsageError(`--optimize chooses the precision itself: drop --${flag} (the bound is --min-cosine)`);
  // The values are checked by optimizeExport (a UsageError naming the option, reported with its flag).
  const options: OptimizeOptions = { goal: goal as OptimizeGoal };
  if (flags["min-cosine"] !== undefined) options.minCosine = parseNumber("min-cosine", flags["min-cosine"]);
  if (flags["optimize-candidates"] !== undefined) {
    options.candidates = String(flags["optimize-candidates"])
      .split(",")
      .map((name) => name.trim()) as CandidateName[];
  }
  if (flags["optimize-shapes"] !== undefined) {
    try {
      options.shapes = parseShapes(String(flags["optimize-shapes"]));
    } catch (error) {
      throw new UsageError(`--optimize-shapes: ${errorMessage(error)}`);
    }
  }
  return options;
}

/** The INT8 flags as options (checked with the other export options, by resolveExportPlan). */
function quantizationOptions(flags: Flags): QuantizationOptions {
  return {
    ...(flags.mode !== undefined ? { mode: flags.mode as QuantizationMode } : {}),
    ...(flags["int4-method"] !== undefined ? { int4Method: flags["int4-method"] as Int4Method } : {}),
    ...(flags["calibration-method"] !== undefined ? { calibrationMethod: flags["calibration-method"] as CalibrationMethod } : {}),
    ...(typeof flags.calibration === "string" ? { calibrationFile: flags.calibration } : {}),
    ...(flags["calibration-max-length"] !== undefined
      ? { maxLength: parseInteger("calibration-max-length", flags["calibration-max-length"]) }
      : {}),
    ...(flags["fidelity-threshold"] !== undefined
      ? { fidelityThreshold: parseNumber("fidelity-threshold", flags["fidelity-threshold"]) }
      : {}),
  };
}

/** The flag of each library option a UsageError names (options not listed: --kebab-case of their name). */
const OPTION_FLAGS: Record<string, string> = {
  "{ quantized: false }": "--fp32",
  quantized: "the INT8 default (--fp32 turns it off)",
  "sentenceEmbedding.pooling": "--pooling",
  sentenceEmbedding: "--sentence-embedding / --pooling",
  maxLength: "--calibration-max-length",
  calibrationFile: "--calibration",
  minCosine: "--min-cosine",
  candidates: "--optimize-candidates",
  shapes: "--optimize-shapes",
  goal: "--optimize",
};

/** How the CLI names a library option in a usage message: its flag. */
export function flagOf(option: string): string {
  return OPTION_FLAGS[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** An integer flag; below `min` is a usage error naming the flag (not the library option it sets). */
function parseInteger(flag: string, value: string | true, min = -Infinity): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${flag} must be an integer${min > -Infinity ? ` of at least ${min}` : ""}, not ${String(value)}`);
  return n;
}

function parseNumber(flag: string, value: string | true): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, not ${String(value)}`);
  return n;
}

/** The Hub client for this run: settings from io.env (read only for a Hub id), --revision, progress on stderr. */
function hubClient(modelId: string, flags: Flags, { io, reporter }: Context): HubClient {
  const revision = typeof flags.revision === "string" ? flags.revision.trim() : undefined;
  // Refused before anything is resolved or created: a revision becomes part of cache paths.
  const invalid = revision !== undefined ? invalidRevisionMessage(revision) : undefined;
  if (invalid) throw new UsageError(invalid);
  if (revision && isLocalFolder(modelId)) reporter.warn(`--revision applies to Hub ids; ${modelId} is a local folder, used as it is`);
  return new HubClient({ env: io.env, logger: reporter, onProgress: reporter.onProgress, ...(revision ? { revision } : {}) });
}

function sourceSummary(modelId: string, hub: HubClient): Record<string, unknown> {
  const snapshot = hub.snapshotOf(modelId);
  if (!snapshot) return { model: modelId, source: "folder" };
  return { model: modelId, source: snapshot.source, revision: snapshot.revision, commit: snapshot.commit, downloaded: snapshot.downloaded };
}

/** `embed --sparse` / `embed --colbert`: the retrieval runtimes, JSON on stdout. */
async function embedRetrieval(dir: string, texts: string[], flags: Flags, context: Context): Promise<CommandResult> {
  if (flags.sparse && flags.colbert) throw new UsageError("--sparse and --colbert are two different outputs; pick one");
  const sparseOnly = ["top-k", "threshold", "tokens"].filter((f) => flags[f] !== undefined && !flags.sparse);
  if (sparseOnly.length > 0) throw new UsageError(`--${sparseOnly[0]} goes with --sparse`);
  if (flags.query && !flags.colbert) throw new UsageError("--query goes with --colbert");
  const options = {
    isolated: true, // as for embed: onnxruntime's native crashes become one error line
    ...(typeof flags.file === "string" ? { file: flags.file } : {}),
    ...(typeof flags.precision === "string" ? { precision: flags.precision } : {}),
    ...verifyOption(flags),
    ...(flags["max-length"] !== undefined ? { maxLength: parseInteger("max-length", flags["max-length"], 2) } : {}),
  };
  const batchSize = flags["batch-size"] !== undefined ? { batchSize: parseInteger("batch-size", flags["batch-size"], 1) } : {};
  const round = (x: number) => Number(x.toPrecision(9)); // round-trips a float32
  if (flags.sparse) {
    const sparseOptions = {
      ...batchSize,
      ...(flags["top-k"] !== undefined ? { topK: parseInteger("top-k", flags["top-k"], 1) } : {}),
      ...(flags.threshold !== undefined ? { threshold: parseNumber("threshold", flags.threshold) } : {}),
      tokens: flags.tokens === true,
    };
    const embedder = await SparseEmbedder.load(dir, options);
    try {
      const vectors = await embedder.embed(texts, sparseOptions);
      const rows = vectors.map((v) => ({
        indices: Array.from(v.indices),
        values: Array.from(v.values, round),
        ...(v.tokens ? { tokens: v.tokens } : {}),
      }));
      context.reporter.info(`embedded ${rows.length} text(s) as sparse vectors with ${embedder.modelPath}`);
      return { stdout: JSON.stringify(rows), summary: { model: embedder.modelPath, maxLength: embedder.maxLength, vectors: rows } };
    } finally {
      await embedder.close();
    }
  }
  const embedder = await MultiVectorEmbedder.load(dir, options);
  try {
    const vectors = flags.query ? await embedder.embedQueries(texts, batchSize) : await embedder.embedDocuments(texts, batchSize);
    const rows = vectors.map((tokens) => tokens.map((v) => Array.from(v, round)));
    context.reporter.info(`embedded ${rows.length} ${flags.query ? "queries" : "documents"} as token vectors with ${embedder.modelPath}`);
    return {
      stdout: JSON.stringify(rows),
      summary: { model: embedder.modelPath, kind: flags.query ? "queries" : "documents", settings: embedder.settings, vectors: rows },
    };
  } finally {
    await embedder.close();
  }
}

function readLines(io: CliIo): string[] {
  return splitLines(io.readStdin ? io.readStdin() : readFileSync(0, "utf8"));
}

/** embed's texts: its arguments, '-' (stdin lines), or --input's file ('-': stdin lines). */
function textsToEmbed(texts: string[], input: string | true | undefined, io: CliIo): string[] {
  if (input === undefined) {
    if (texts.length === 0) throw new UsageError("missing <text…> to embed (or '-' to read lines from stdin, or --input <file>)");
    return texts.length === 1 && texts[0] === "-" ? readLines(io) : texts;
  }
  if (texts.length > 0) throw new UsageError("give the texts to embed as arguments or with --input, not both");
  if (input === "-") return readLines(io);
  const read = readTextLines(String(input), "input file");
  if (read.length === 0) throw new TextFileError(`input file ${String(input)} holds no texts`);
  return read;
}

/** embed's --output settings, checked; undefined without --output. */
function embedOutputOptions(flags: Flags): { output: string; format: VectorFormat; type: VectorType; resume: boolean } | undefined {
  if (flags.output === undefined) {
    const stray = ["format", "vector", "resume"].find((flag) => flags[flag] !== undefined);
    if (stray) throw new UsageError(`--${stray} goes with --output <file>`);
    return undefined;
  }
  const retrieval = ["sparse", "colbert"].find((flag) => flags[flag] !== undefined);
  if (retrieval) throw new UsageError(`--output writes dense vectors; --${retrieval} prints JSON on stdout, without --output`);
  const output = String(flags.output);
  if (flags.format !== undefined && !VECTOR_FORMATS.includes(flags.format as VectorFormat))
    throw new UsageError(`--format must be one of ${VECTOR_FORMATS.join(", ")}, not ${String(flags.format)}`);
  const type = flags.vector ?? "float32";
  if (type !== "float32" && type !== "int8" && type !== "binary")
    throw new UsageError(`--vector must be one of float32, int8, binary, not ${String(type)}`);
  return {
    output,
    format: vectorFormatOf(output, flags.format as string | undefined),
    type,
    resume: flags.resume === true,
  };
}

/** embed --output's texts: its arguments, or --input's file ('-': stdin), read as they are needed. */
function textSource(texts: string[], input: string | true | undefined, io: CliIo): TextSource {
  if (input === undefined) {
    if (texts.length === 0) throw new UsageError("missing <text…> to embed (or --input <file>, '-' for stdin)");
    return texts.length === 1 && texts[0] === "-" ? { stdin: () => io.readStdin?.() ?? process.stdin } : { texts };
  }
  if (texts.length > 0) throw new UsageError("give the texts to embed as arguments or with --input, not both");
  return input === "-" ? { stdin: () => io.readStdin?.() ?? process.stdin } : { file: String(input) };
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    `jazzmine-embed ${PACKAGE_VERSION} — Hugging Face embedding models to verified ONNX, no Python`,
    "",
    "usage: jazzmine-embed <command> [options]",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'jazzmine-embed <command> --help' for a command's options.",
    "",
    FOOTER,
  ].join("\n");
}

const FOOTER = [
  "A model is a local folder or a Hub id (org/name), downloaded into the huggingface_hub cache.",
  "environment:",
  "  HF_ENDPOINT      Hub URL (default https://huggingface.co)",
  "  HF_HUB_CACHE     cache folder (default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface)",
  "  HF_TOKEN         access token for gated/private repos (default: $HF_HOME/token)",
  "  HF_HUB_OFFLINE   1: use only the cache, never the network",
  "  JAZZMINE_DEBUG   1: print stack traces with errors",
  "exit codes: 0 success, 1 failure (model, network, files), 2 usage error, 130 / 143 interrupted (SIGINT / SIGTERM)",
].join("\n");

function commandHelp(command: Command): string {
  return [`usage: ${command.usage}`, "", command.summary, "", "options:", formatFlags(command.flags), "", FOOTER].join("\n");
}

const DEFAULT_IO: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, signals: process };

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage error, 128 + the signal when interrupted). */
export async function main(argv: readonly string[], io: CliIo = DEFAULT_IO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? rest[0] : undefined;
    const command = topic ? COMMANDS[topic] : undefined;
    io.stdout.write(`${command ? commandHelp(command) : mainHelp()}\n`);
    return EXIT_OK;
  }
  if (name === "--version" || name === "-v") {
    io.stdout.write(`${PACKAGE_VERSION}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  const json = rest.includes("--json");
  const started = Date.now();
  let interruption: Interruption | undefined;
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
    const { positionals, flags } = parseArgs(rest, command.flags, command.conflicts);
    if (flags.help) {
      io.stdout.write(`${commandHelp(command)}\n`);
      return EXIT_OK;
    }
    const reporter = new Reporter(io.stderr, { quiet: flags.quiet === true });
    interruption = command.interruptible && io.signals ? watchInterrupts(io.signals, (code) => process.exit(code)) : undefined;
    const result = await command.run(positionals, flags, { io, reporter, ...(interruption ? { signal: interruption.signal } : {}) });
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const gone = result.artifacts?.find((path) => !existsSync(path));
    if (gone) throw new ExportError(`${gone} was written but is gone now (something removed it after the export); run the export again`);
    io.stdout.write(`${json ? JSON.stringify({ ok: true, command: name, ...result.summary, seconds }) : result.stdout}\n`);
    return EXIT_OK;
  } catch (error) {
    const interrupted = interruption?.exitCode();
    if (interrupted !== undefined) {
      // One line: what the export removed (InterruptedError says), or just that it stopped.
      io.stderr.write(
        `jazzmine-embed: ${escapeControlCharacters(error instanceof InterruptedError ? error.message : `interrupted (${String(interruption!.signal.reason)})`)}\n`,
      );
      return interrupted;
    }
    const usage = error instanceof UsageError;
    // Whatever produced the message, no credential (HF_ENDPOINT's user:password, a signed URL) is printed.
    // Nor a terminal control character from a model's files (an ESC in config.json's model_type).
    const message = escapeControlCharacters(redactCredentials((usage ? error.messageFor(flagOf) : errorMessage(error)).split("\n")[0]!));
    io.stderr.write(`jazzmine-embed: error: ${message}${usage ? "\nRun 'jazzmine-embed --help' for usage." : ""}\n`);
    if (io.env.JAZZMINE_DEBUG && error instanceof Error)
      io.stderr.write(`${escapeControlCharacters(redactCredentials(error.stack ?? ""))}\n`);
    const code = usage ? EXIT_USAGE : EXIT_FAILURE;
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, command: name, error: message, exitCode: code })}\n`);
    return code;
  } finally {
    interruption?.dispose();
  }
}

function isEntryPoint(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/**
 * A reader that stops early (`embed … | head`) closes the pipe: nothing more can be said there,
 * and that is no failure of the command, which ends as it would have (its exit code, no trace).
 * Any other failure to write stdout (a full disk, /dev/full) is one line on stderr and exit 1.
 */
function handleOutputErrors(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") return;
      if (stream === process.stdout) {
        try {
          process.stderr.write(`jazzmine-embed: error: ${fileSystemError("write the results to", "stdout", error).message}\n`);
        } catch {
          // stderr is gone too: the exit code says it
        }
      }
      process.exit(EXIT_FAILURE);
    });
  }
}

if (isEntryPoint()) {
  handleOutputErrors();
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Interrupted: exit now, whatever still holds the event loop (a download's socket).
    if (code > 128) process.exit(code);
  });
}
