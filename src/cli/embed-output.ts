// `embed --output FILE`: texts from arguments, a file or stdin streamed through
// Embedder.embedStream into a vector file (vector-output.ts) as they are computed, with bounded
// memory; `--resume` continues the <FILE>.partial a kill left, after checking that it is this
// run's (its header, its count against the input, its last row embedded again).
import { createReadStream } from "node:fs";
import { InterruptedError } from "../common/abort.js";
import { ExportError } from "../common/errors.js";
import { startTask } from "../common/progress.js";
import { type TextLine, streamTextLines, textFileFormat, TextFileError, splitLines } from "../common/text-file.js";
import type { Reporter } from "../export/progress.js";
import type { EmbedStreamOptions, Embedder } from "../runtime/embedder.js";
import { type OutputSettings, type VectorFormat, VectorFile, type VectorRow, type VectorType } from "./vector-output.js";

/** Where the texts come from. */
export type TextSource = { texts: readonly string[] } | { file: string } | { stdin: () => AsyncIterable<Uint8Array> | string };

export interface EmbedToFileOptions {
  embedder: Embedder;
  source: TextSource;
  output: string;
  format: VectorFormat;
  type: VectorType;
  resume: boolean;
  embedOptions: EmbedStreamOptions;
  /** Recorded in a raw file's header; a resumed file must have been started with the same. */
  settings: OutputSettings;
  reporter: Reporter;
  signal?: AbortSignal;
}

export interface EmbedToFileResult {
  /** Rows in the finished file. */
  count: number;
  /** Rows the interrupted file already held. */
  resumedFrom: number;
  /** Values per row (bytes for binary). */
  width: number | undefined;
}

/** Rows written per append: one write per window of the stream. */
const ROWS_PER_WRITE = 512;

/** Largest difference a row embedded again may show (batches of other shapes round differently). */
const RESUME_TOLERANCE: Record<VectorType, number> = { float32: 1e-4, int8: 1, binary: 1 };

export async function embedToFile(options: EmbedToFileOptions): Promise<EmbedToFileResult> {
  const { embedder, output, format, type, reporter } = options;
  const { file, resumed } = VectorFile.open(output, { format, type, settings: options.settings, resume: options.resume });
  try {
    const lines = textLines(options.source)[Symbol.asyncIterator]();
    const already = resumed?.rows ?? 0;
    if (options.resume) {
      reporter.info(resumed ? `resuming ${file.partial}: ${already} vector(s) in it` : `nothing to resume at ${file.partial}; starting it`);
    }
    const fromJsonl = "file" in options.source && textFileFormat(options.source.file, "input file") === ".jsonl";
    let index = 0;
    let last: TextLine | undefined;
    for (; index < already; index++) {
      const next = await lines.next();
      if (next.done) {
        throw new ExportError(
          `${file.partial} holds ${already} vectors but the input has only ${index} texts: it was written for another input; remove it or drop --resume`,
        );
      }
      last = next.value;
    }
    if (last && resumed?.last) await checkLastRow(options, file.partial, already, last, resumed.last, fromJsonl);

    // Ids wait here, in order, for their vectors (at most the two windows the stream holds).
    const ids: unknown[] = [];
    const texts = (async function* () {
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        ids.push(fromJsonl ? (next.value.id ?? index) : undefined);
        index++;
        yield next.value.text;
      }
    })();
    // On a terminal the progress line gives the time left: the file's lines are counted first (fast, bytes only).
    const total = "file" in options.source && reporter.mode === "tty" ? await countLines(options.source.file) : undefined;
    const task = startTask(reporter.onProgress, { stage: "embed", label: "embedding", unit: "texts", total, done: already });
    let pending: Array<{ vector: VectorRow; id?: unknown }> = [];
    let width: number | undefined;
    try {
      for await (const vector of embedder.embedStream(texts, {
        ...options.embedOptions,
        ...(type !== "float32" ? { vector: type } : {}),
      } as EmbedStreamOptions)) {
        width ??= vector.length;
        const id = ids.shift();
        pending.push(id === undefined ? { vector } : { vector, id });
        if (pending.length >= ROWS_PER_WRITE) {
          file.append(pending);
          task.advance(pending.length);
          pending = [];
        }
      }
      file.append(pending);
      task.advance(pending.length);
      if (file.count === 0) {
        file.discard();
        throw new TextFileError(`${sourceName(options.source)} holds no texts`);
      }
      file.finish();
      task.done();
    } catch (error) {
      task.fail();
      throw error;
    }
    return { count: file.count, resumedFrom: already, width };
  } catch (error) {
    file.close();
    if (options.signal?.aborted) throw interrupted(options.signal.reason, file);
    throw error;
  }
}

function sourceName(source: TextSource): string {
  return "file" in source ? `input file ${source.file}` : "stdin" in source ? "stdin" : "the command line";
}

/** The texts of the source, one line at a time. */
function textLines(source: TextSource): AsyncIterable<TextLine> {
  if ("texts" in source)
    return (async function* () {
      for (const text of source.texts) yield { text };
    })();
  if ("file" in source) {
    const format = textFileFormat(source.file, "input file");
    return streamTextLines(createReadStream(source.file), format, `input file ${source.file}`);
  }
  const stdin = source.stdin();
  if (typeof stdin === "string")
    return (async function* () {
      for (const text of splitLines(stdin)) yield { text };
    })();
  return streamTextLines(stdin, ".txt", "stdin");
}

/** The interrupted file's last row against that text embedded now: another model, settings or input shows. */
async function checkLastRow(
  options: EmbedToFileOptions,
  partial: string,
  rows: number,
  text: TextLine,
  stored: { vector: number[]; id: unknown },
  fromJsonl: boolean,
): Promise<void> {
  const expectedId = fromJsonl ? (text.id ?? rows - 1) : undefined;
  if (options.format === "jsonl" && JSON.stringify(stored.id) !== JSON.stringify(expectedId)) {
    throw new ExportError(
      `${partial} ends with the row of id ${JSON.stringify(stored.id)}, but text ${rows} of the input has id ${JSON.stringify(expectedId)}: ` +
        "it was written for another input; remove it or drop --resume",
    );
  }
  const stream = options.embedder.embedStream([text.text], {
    ...options.embedOptions,
    ...(options.type !== "float32" ? { vector: options.type } : {}),
  } as EmbedStreamOptions);
  let again: VectorRow | undefined;
  for await (const vector of stream) again = vector;
  const difference =
    again && again.length === stored.vector.length
      ? Math.max(
          ...Array.from(again, (x, i) =>
            options.type === "binary" ? bitsDiffering(x, stored.vector[i]!) : Math.abs(x - stored.vector[i]!),
          ),
        )
      : Infinity;
  if (!(difference <= RESUME_TOLERANCE[options.type])) {
    throw new ExportError(
      `${partial} does not continue this run: its last vector (text ${rows}) differs from that text embedded now with ${options.embedder.modelPath}; ` +
        "it was written with another model, settings or input; remove it, or resume with the ones it was started with",
    );
  }
}

/** Lines of a file (a last line without a newline counts): the texts of a .txt file, about those of a .jsonl one. */
async function countLines(path: string): Promise<number> {
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) lines++;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  return lines + (last === 0x0a ? 0 : 1);
}

function bitsDiffering(a: number, b: number): number {
  let x = (a ^ b) & 0xff;
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** The interrupt line: what stays on disk and how to go on. */
function interrupted(reason: unknown, file: VectorFile): InterruptedError {
  const error = new InterruptedError([], reason);
  error.message = `interrupted${typeof reason === "string" ? ` (${reason})` : ""}; kept ${file.partial} with ${file.count} vector(s): run the same command with --resume to continue`;
  return error;
}
