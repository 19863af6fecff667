// Checks every architecture template runs through: the standard batch shapes, padding
// independence, prefixed checkpoints and one end-to-end FP32 export via EmbeddingService; for
// rotary / ALiBi templates also long sequences, INT8 exports, single blocks run as graphs and
// transcriptions of a model's own forward.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import type { EncoderConfig, TokenBatch } from "../../src/arch/architecture.js";
import type { GraphVariant } from "../../src/arch/graph-variant.js";
import { Blocks } from "../../src/arch/blocks.js";
import { GraphWeights } from "../../src/arch/graph-weights.js";
import type { RotarySpec } from "../../src/arch/positions.js";
import type { WeightReader } from "../../src/arch/weight-refs.js";
import { GraphBuilder, type Value } from "../../src/graph/builder.js";
import { DataType } from "../../src/graph/ir.js";
import { Ops } from "../../src/graph/ops.js";
import { type LoadedEncoder } from "../../src/arch/encoder.js";
import { loadEncoder } from "../../src/arch/encoder-folder.js";
import { buildEncoderGraph, referenceForward } from "../../src/heads/graph.js";
import { silentLogger } from "../../src/common/log.js";
import { EmbeddingService } from "../../src/export/service.js";
import { relativeMaxError } from "../../src/export/verify.js";
import { randomBatch } from "../../src/fixtures/batches.js";
import type { SyntheticModel } from "../../src/fixtures/model-folder.js";
import { encodeModel } from "../../src/graph/onnx-writer.js";
import { readModel } from "../../src/graph/onnx-file.js";
import { poolTokens } from "../../src/heads/pooling.js";
import * as ref from "../../src/arch/reference/math.js";
import { cosine } from "../../src/quant/fidelity.js";
import { Embedder } from "../../src/runtime/embedder.js";
import { FP32_RELATIVE_TOLERANCE, expectGraphMatchesReference, modelFolder, runInProcess, syntheticEncoder, tempDir } from "./index.js";

export const VARIANTS: GraphVariant[] = ["primary", "portable"];

/** 1×1, 2×9 and 3×40 with padded rows, and a padded 2×128. */
export function standardBatches(config: EncoderConfig): TokenBatch[] {
  const shapes: Array<[number, number]> = [
    [1, 1],
    [2, 9],
    [3, 40],
    [2, 128],
  ];
  return shapes.map(([batch, sequence]) => randomBatch(config, { batch, sequence }));
}

/**
 * 1, 17, 128 and 512 tokens, rows after the first padded: lengths that rotary / ALiBi models take
 * beyond their fixtures' 128 declared positions, as their torch code does.
 */
export function sequenceLengthBatches(config: EncoderConfig): TokenBatch[] {
  const shapes: Array<[number, number]> = [
    [1, 1],
    [3, 17],
    [2, 128],
    [2, 512],
  ];
  return shapes.map(([batch, sequence]) => randomBatch(config, { batch, sequence }));
}

/**
 * Registers, for each graph variant, the check at 1, 17, 128 and 512 tokens (past `limit`, the
 * fixture's declared length) and the padding check.
 */
export function itMatchesAtEveryLength(encoder: LoadedEncoder, limit: string): void {
  for (const variant of VARIANTS) {
    it(`${variant}: sequence lengths 1, 17, 128 and 512 (beyond ${limit}) with padded rows`, async () => {
      await expectGraphMatchesReference(encoder, sequenceLengthBatches(encoder.config), { variant });
    });

    it(`${variant}: padding does not leak into a row's output`, async () => {
      await expectPaddingDoesNotLeak(encoder, variant);
    });
  }
}

/** Row 1 of a padded batch has the same hidden states as the same tokens run alone. */
export async function expectPaddingDoesNotLeak(encoder: LoadedEncoder, variant: GraphVariant): Promise<void> {
  const s = 12;
  const batch = randomBatch(encoder.config, { batch: 2, sequence: s, seed: 3 });
  const length = batch.attentionMask.subarray(s).reduce((a, b) => a + b, 0);
  expect(length).toBeLessThan(s);
  const alone: TokenBatch = {
    batch: 1,
    sequence: length,
    inputIds: batch.inputIds.slice(s, s + length),
    attentionMask: batch.attentionMask.slice(s, s + length),
  };
  const model = buildEncoderGraph(encoder, { opset: 17, variant });
  const padded = await runInProcess(model, batch);
  const single = await runInProcess(model, alone);
  const h = encoder.config.hiddenSize;
  const row = padded.lastHiddenState.subarray(s * h, (s + length) * h);
  expect(relativeMaxError(row, single.lastHiddenState)).toBeLessThan(FP32_RELATIVE_TOLERANCE);
}

/** Hidden states of two checkpoints of the same encoder weights (e.g. bare and task-head prefixed). */
export function expectSameEncoder(a: LoadedEncoder, b: LoadedEncoder): void {
  const batch = randomBatch(a.config, { batch: 2, sequence: 7 });
  expect(referenceForward(b, batch).lastHiddenState).toEqual(referenceForward(a, batch).lastHiddenState);
}

/**
 * exportOnnxModel(dir, {quantized: false}) on a synthetic folder: the service verifies the
 * primary graph in its child process; the written file is checked again here against the
 * reference. Returns the artifact path.
 */
export async function expectFp32Export(model: SyntheticModel, name: string, architecture: string): Promise<string> {
  const source = modelFolder(model, {}, name);
  const out = tempDir();
  const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
  expect(path).toBe(join(out, `${name}_fp32.onnx`));
  expect(readModel(path).metadata).toMatchObject({ architecture, graph_variant: "primary" });
  const encoder = loadEncoder(source);
  try {
    const batch = randomBatch(encoder.config, { batch: 3, sequence: 11, seed: 9 });
    const actual = await runInProcess(readFileSync(path), batch);
    const expected = referenceForward(encoder, batch);
    expect(relativeMaxError(actual.lastHiddenState, expected.lastHiddenState)).toBeLessThanOrEqual(FP32_RELATIVE_TOLERANCE);
    expect(relativeMaxError(actual.poolerOutput, expected.poolerOutput)).toBeLessThanOrEqual(FP32_RELATIVE_TOLERANCE);
  } finally {
    encoder.close();
  }
  return path;
}

/** Natural sentences, as the quantizer's own held-out check uses (a word repeated 60 times is not). */
const INT8_TEXTS = [
  "The quick brown fox jumps over the lazy dog.",
  "Rotary position embeddings rotate queries and keys by angles that grow with the position.",
  "A short one.",
  "Quantization maps float weights and activations to eight-bit integers with a scale and a zero point.",
  "Paris is the capital of France; Berlin is the capital of Germany.",
  "The committee met on Tuesday to review the budget, and after a long discussion about maintenance costs, " +
    "staffing and the new library, it agreed to postpone the final vote until the auditors had reported.",
];

/**
 * exportOnnxModel(dir, {quantized: true}) on a synthetic folder (vocabulary of the bundled
 * tokenizer): the INT8 file's pooler_output and mean-pooled last_hidden_state keep a cosine of at
 * least 0.99 with the FP32 reference forward, text by text. Returns the worst cosine.
 */
export async function expectInt8Export(model: SyntheticModel, name: string): Promise<number> {
  const source = modelFolder(model, {}, name);
  const out = tempDir();
  const path = await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: true });
  expect(path).toBe(join(out, `${name}_int8_qdq.onnx`));
  const embedder = await Embedder.load(out);
  const encoder = loadEncoder(source);
  try {
    const batch = embedder.tokenize(INT8_TEXTS);
    const int8 = await runInProcess(readFileSync(path), batch);
    const fp32 = referenceForward(encoder, batch);
    const h = encoder.config.hiddenSize;
    const shape = { batch: batch.batch, sequence: batch.sequence, hidden: h };
    const mean = (hidden: Float32Array) => poolTokens(hidden, batch.attentionMask, shape, { pooling: "mean", normalize: false });
    const [int8Mean, fp32Mean] = [mean(int8.lastHiddenState), mean(fp32.lastHiddenState)];
    let worst = 1;
    for (let row = 0; row < batch.batch; row++) {
      const at = (v: Float32Array) => v.subarray(row * h, (row + 1) * h);
      worst = Math.min(worst, cosine(at(int8Mean), at(fp32Mean)), cosine(at(int8.poolerOutput), at(fp32.poolerOutput)));
    }
    expect(worst).toBeGreaterThanOrEqual(0.99);
    return worst;
  } finally {
    encoder.close();
    await embedder.close();
  }
}

/**
 * Runs one weight-free block (a position bias, a mask) as a graph of its own on input_ids
 * [batch, sequence] and, when `mask` is given, attention_mask; returns its output and dims.
 */
export async function runBlock(
  build: (nn: Blocks, inputs: { ids: Value; mask: Value }) => Value,
  batch: { batch: number; sequence: number; attentionMask?: number[] },
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const g = new GraphBuilder(17, "block");
  const nn = new Blocks(new Ops(g), new GraphWeights(g, {} as WeightReader), "primary");
  const ids = g.input("input_ids", DataType.INT64, ["batch", "sequence"]);
  const mask = g.input("attention_mask", DataType.INT64, ["batch", "sequence"]);
  g.output(build(nn, { ids, mask }), "out", DataType.FLOAT, []);
  const model = g.build({}, "0");
  model.graph.outputs[0] = { name: "out", elemType: DataType.FLOAT };
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    const n = batch.batch * batch.sequence;
    const dims = [batch.batch, batch.sequence];
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor("int64", new BigInt64Array(n), dims) };
    if (session.inputNames.includes("attention_mask")) {
      feeds.attention_mask = new ort.Tensor("int64", BigInt64Array.from(batch.attentionMask ?? Array(n).fill(1), BigInt), dims);
    }
    const out = (await session.run(feeds)).out!;
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await session.release();
  }
}

/**
 * A test's transcription of a model's own forward (its modeling code, line by line) from the
 * fixture's tensors by name and the reference primitives — independent of the template's weight
 * table — run on a 1 × `sequence` batch and compared with the template's reference forward.
 */
export function transcription(model: SyntheticModel, sequence: number, heads: number) {
  const byName = new Map(model.tensors.map((t) => [t.name, t]));
  const tensor = (name: string) => {
    const found = byName.get(name);
    if (!found) throw new Error(`the fixture has no tensor ${name}`);
    return { data: found.data as Float32Array, shape: found.shape };
  };
  const optional = (name: string) => byName.get(name)?.data as Float32Array | undefined;
  const encoder = syntheticEncoder(model);
  const batch = randomBatch(encoder.config, { batch: 1, sequence });
  const s = sequence;
  const kit = {
    batch,
    /** nn.Linear `name` applied to x [rows, in] (rows: the sequence by default). */
    linear(x: Float32Array, name: string, rows = s): Float32Array {
      const { data, shape } = tensor(`${name}.weight`);
      const bias = optional(`${name}.bias`);
      return ref.linear(x, rows, { weight: data, ...(bias ? { bias } : {}), inFeatures: shape[1]!, outFeatures: shape[0]! });
    },
    /** nn.LayerNorm `name` (zero bias when stored without one). */
    norm(x: Float32Array, name: string, eps: number): Float32Array {
      const gamma = tensor(`${name}.weight`).data;
      return ref.layerNorm(x, { gamma, beta: optional(`${name}.bias`) ?? new Float32Array(gamma.length), eps });
    },
    /** Rows of embedding table `name`. */
    rows(name: string, ids: ArrayLike<number>): Float32Array {
      const { data, shape } = tensor(name);
      return ref.embed(data, shape[1]!, ids, name);
    },
    /** Word embeddings plus token type 0, then LayerNorm `norm` (models without a position table). */
    tokenEmbeddings(norm: string, eps: number): Float32Array {
      const words = kit.rows("embeddings.word_embeddings.weight", batch.inputIds);
      return kit.norm(ref.add(words, kit.rows("embeddings.token_type_embeddings.weight", new Int32Array(s))), norm, eps);
    },
    /** Per-head attention of projected q, k, v, rotating q and k when `rotary` is given. */
    attend(
      q: Float32Array,
      k: Float32Array,
      v: Float32Array,
      options: Omit<ref.AttentionOptions, "rotary"> & { rotary?: RotarySpec } = {},
    ): Float32Array {
      const tables = options.rotary && ref.rotaryTables(s, options.rotary);
      const rotate = (y: Float32Array) => (tables ? ref.applyRotary(y, 1, s, heads, tables) : y);
      return ref.attend(rotate(q), rotate(k), v, 1, s, heads, batch.attentionMask, options);
    },
    /** The template's reference forward equals the transcription's hidden states (and pooled output). */
    expectReference(hidden: Float32Array, pooled?: Float32Array): void {
      const actual = referenceForward(encoder, batch);
      expect(relativeMaxError(actual.lastHiddenState, hidden)).toBeLessThan(1e-6);
      if (pooled) expect(relativeMaxError(actual.poolerOutput, pooled)).toBeLessThan(1e-6);
    },
  };
  return kit;
}
