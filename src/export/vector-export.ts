// The quantized vector output of an export (--vector int8|binary): the int8 ranges calibrated on
// the float graph's sentence embeddings of the calibration texts (what sentence-transformers'
// quantize_embeddings does with calibration_embeddings), and after the export the retrieval
// agreement on the held-out texts: of each text's 10 nearest neighbours by the float vectors'
// cosine, how many the int8 vectors (dot product) or the binary vectors (Hamming distance) keep.
import { basename, dirname, join } from "node:path";
import type { LoadedEncoder } from "../arch/encoder.js";
import { buildTaskGraph } from "../heads/graph.js";
import { SENTENCE_EMBEDDING_OUTPUT } from "../heads/pooling.js";
import { VECTOR_OUTPUT, type VectorKind, type VectorOutput, int8Ranges } from "../heads/vectors.js";
import { writeFileAtomic } from "../common/atomic.js";
import type { Logger } from "../common/log.js";
import { batchFeeds } from "../ort/feeds.js";
import { IsolatedSession } from "../ort/isolated-session.js";
import { withTemporarySession } from "../quant/calibration.js";
import { type TextSource, heldOutTexts } from "../quant/corpus.js";
import { NEIGHBOURS, cosine, rankAgreement } from "../quant/fidelity.js";
import { DEFAULT_MAX_LENGTH, type TokenEncoder, batchByLength, tokenizeTexts } from "../quant/tokenize.js";
import { dotProduct, hammingDistance } from "../runtime/vector-distance.js";
import type { EmitOptions } from "./emit.js";
import { currentAbortSignal } from "../common/abort.js";

export const VECTOR_REPORT_FILE = "vector_report.json";
const BATCH_SIZE = 8;

export interface VectorTexts {
  tokenizer: TokenEncoder;
  padTokenId: number;
  maxSequence: number;
  calibration: TextSource;
}

/** The int8 ranges of the float graph `emit` describes (its task without a vector output), over the calibration texts. */
export async function calibrateVectorRanges(
  encoder: LoadedEncoder,
  emit: EmitOptions,
  texts: VectorTexts,
  near: string,
): Promise<VectorOutput> {
  const { vector: _, ...float } = emit.task;
  const model = buildTaskGraph(encoder, float, { ...emit, variant: emit.variants[0]! });
  const embeddings = await withTemporarySession(
    model,
    [],
    near,
    "vector-ranges",
    (session) => sentenceEmbeddings(session, texts, texts.calibration.texts),
    undefined,
    currentAbortSignal(),
  );
  const ranges = int8Ranges(embeddings, embeddings[0]!.length);
  emit.logger.info(`int8 vector ranges calibrated on ${embeddings.length} texts (${texts.calibration.origin})`);
  return { kind: "int8", ranges };
}

export interface VectorReport {
  model: string;
  vector: VectorKind;
  output: string;
  distance: "dot" | "hamming";
  heldOutTexts: number;
  /** Mean fraction of each held-out text's k nearest neighbours (float cosine) the quantized vectors keep. */
  neighbourAgreement: { k: number; value: number };
}

/** Measures the exported model's vector output against its own float vectors on the held-out texts, and writes the report beside it. */
export async function reportVectorAgreement(
  modelPath: string,
  kind: VectorKind,
  texts: VectorTexts,
  logger: Logger,
): Promise<VectorReport> {
  const heldOut = heldOutTexts(texts.calibration.texts).texts;
  const output = VECTOR_OUTPUT[kind];
  const worker = IsolatedSession.start();
  let floats: Float32Array[];
  let quantized: Array<ArrayLike<number>>;
  try {
    await worker.load(modelPath);
    [floats, quantized] = await sentenceEmbeddings(worker, texts, heldOut, output);
  } finally {
    worker.close();
  }
  const k = Math.max(0, Math.min(NEIGHBOURS, heldOut.length - 1));
  const similarity = kind === "int8" ? dotProduct : (a: ArrayLike<number>, b: ArrayLike<number>) => -hammingDistance(a, b);
  const value = rankAgreement(
    floats.length,
    k,
    (i, j) => cosine(floats[i]!, floats[j]!),
    (i, j) => similarity(quantized[i]!, quantized[j]!),
  );
  const report: VectorReport = {
    model: basename(modelPath),
    vector: kind,
    output,
    distance: kind === "int8" ? "dot" : "hamming",
    heldOutTexts: heldOut.length,
    neighbourAgreement: { k, value: Number(value.toFixed(4)) },
  };
  writeFileAtomic(join(dirname(modelPath), VECTOR_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
  logger.info(
    `${output}: top-${k} neighbour agreement with the float vectors ${value.toFixed(4)} on ${heldOut.length} held-out texts (${report.distance})`,
  );
  return report;
}

/** sentence_embedding (and `extra`, when given) per text, in the texts' order. */
async function sentenceEmbeddings(session: IsolatedSession, texts: VectorTexts, list: readonly string[]): Promise<Float32Array[]>;
async function sentenceEmbeddings(
  session: IsolatedSession,
  texts: VectorTexts,
  list: readonly string[],
  extra: string,
): Promise<[Float32Array[], Array<ArrayLike<number>>]>;
async function sentenceEmbeddings(session: IsolatedSession, texts: VectorTexts, list: readonly string[], extra?: string) {
  const maxLength = Math.min(DEFAULT_MAX_LENGTH, texts.maxSequence);
  const { sequences } = tokenizeTexts(texts.tokenizer, list, maxLength);
  const floats = new Array<Float32Array>(list.length);
  const others = new Array<ArrayLike<number>>(list.length);
  for (const { batch, rows } of batchByLength(sequences, BATCH_SIZE, texts.padTokenId)) {
    const out = await session.run(
      batchFeeds(batch, session.inputNames),
      extra ? [SENTENCE_EMBEDDING_OUTPUT, extra] : [SENTENCE_EMBEDDING_OUTPUT],
    );
    const embedding = out[SENTENCE_EMBEDDING_OUTPUT]!.data;
    const width = embedding.length / batch.batch;
    rows.forEach((text, b) => (floats[text] = embedding.slice(b * width, (b + 1) * width)));
    if (extra) {
      const data = out[extra]!.data;
      const w = data.length / batch.batch;
      rows.forEach((text, b) => (others[text] = data.slice(b * w, (b + 1) * w)));
    }
  }
  return extra ? [floats, others] : floats;
}
