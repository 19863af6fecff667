// Embedding a stream of texts of any length with bounded memory (Embedder.embedStream): texts are
// taken a window at a time, tokenized while onnxruntime works on the previous window (both cores
// busy: onnxruntime's threads on one window, this thread tokenizing the next), and their vectors
// come out in the input's order as each window finishes. Memory holds two windows, whatever the
// length of the stream.

/** Texts per window: enough to sort by length (less padding), few enough to stay small. */
export const STREAM_WINDOW_TEXTS = 512;

export interface StreamStages<Row> {
  /** Texts per window (default STREAM_WINDOW_TEXTS). */
  windowTexts?: number;
  /** How many texts are tokenized before this thread lets onnxruntime's next batch start. */
  tokenizeChunk: number;
  tokenize(text: string): number[];
  /** One row per token sequence, in order. */
  compute(ids: number[][]): Promise<Row[]>;
  signal?: AbortSignal;
  /** The error for a bad input or option (the runtime's own error class). */
  fail(message: string): Error;
}

/** `texts` through `stages`, window by window, one row per text in order. */
export async function* pipelineWindows<Row>(
  texts: AsyncIterable<string> | Iterable<string>,
  stages: StreamStages<Row>,
): AsyncGenerator<Row> {
  const windowTexts = stages.windowTexts ?? STREAM_WINDOW_TEXTS;
  let inFlight: Promise<Row[]> | undefined;
  try {
    for await (const window of windowsOf(texts, windowTexts, stages.fail)) {
      stages.signal?.throwIfAborted();
      // The previous window's batches run while this one is tokenized.
      const ids = await tokenizeYielding(window, stages);
      const previous = inFlight ? await inFlight : undefined;
      inFlight = stages.compute(ids);
      // Guards against an unhandled rejection while the consumer still works on `previous`.
      inFlight.catch(() => {});
      if (previous) yield* previous;
    }
    if (inFlight) {
      const last = inFlight;
      inFlight = undefined;
      yield* await last;
    }
  } finally {
    // A consumer that stops early (or a failure): the window in flight is not waited for.
    inFlight?.catch(() => {});
  }
}

/** Consecutive windows of at most `size` texts; a text that is not a string is refused with its position. */
async function* windowsOf(
  texts: AsyncIterable<string> | Iterable<string>,
  size: number,
  fail: (message: string) => Error,
): AsyncGenerator<string[]> {
  if (!Number.isInteger(size) || size < 1) throw fail(`windowTexts must be a positive integer, not ${String(size)}`);
  if (
    texts === null ||
    typeof texts !== "object" ||
    !(Symbol.asyncIterator in texts || Symbol.iterator in texts) ||
    typeof texts === "string"
  )
    throw fail("embedStream() takes an iterable or async iterable of strings (a stream of lines, a generator, an array)");
  let window: string[] = [];
  let index = 0;
  for await (const text of texts) {
    if (typeof text !== "string") throw fail(`embedStream() takes strings, but text ${index} is ${text === null ? "null" : typeof text}`);
    index++;
    window.push(text);
    if (window.length === size) {
      yield window;
      window = [];
    }
  }
  if (window.length > 0) yield window;
}

/** Tokenizes `texts`, handing the thread back between chunks so that finished batches are followed by the next. */
async function tokenizeYielding(texts: readonly string[], stages: StreamStages<unknown>): Promise<number[][]> {
  const ids: number[][] = [];
  for (let start = 0; start < texts.length; start += stages.tokenizeChunk) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const text of texts.slice(start, start + stages.tokenizeChunk)) ids.push(stages.tokenize(text));
  }
  return ids;
}
