// The retrieval heads' TypeScript reference forwards against values worked out by hand: SPLADE's
// MLM head + log1p(relu) pooling, ColBERT's projected, masked, normalized token vectors, bge-m3's
// per-id max of relu(linear) with special tokens dropped; and bge-m3's .pt heads through the
// restricted unpickler (a hostile one refused, never run).
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WeightError } from "../src/checkpoint/weights.js";
import { encodeTorchZip } from "../src/fixtures/pytorch-bin.js";
import { writeBgeM3Folder } from "../src/fixtures/retrieval.js";
import { bgeM3SparseReference, readColbertLinear, readSparseLinear } from "../src/heads/bge-m3.js";
import { type MlmHeadArrays, type SpladePooling, spladeReference } from "../src/heads/splade.js";
import { tokenVectorsReference } from "../src/heads/token-vectors.js";
import { compareSparse, topOverlap } from "../src/quant/sparse-fidelity.js";
import { tempDir } from "./helpers/index.js";
import { folderFiles } from "../src/common/node-files.js";

describe("SPLADE reference (sentence-transformers' SpladePooling over BERT's MLM head)", () => {
  // hidden 2, vocab 3. transform = identity with relu, LayerNorm(γ 1, β 0): a token [a, b] with
  // a > b becomes [1, −1], with a < b [−1, 1]. Decoder rows v0 [1, 0], v1 [0, 1], v2 [0, 3];
  // bias [0, 0.5, −1]. So A = [3, 1] → logits [1, −0.5, −4]; B = [0, 2] → [−1, 1.5, 2].
  const head: MlmHeadArrays = {
    transform: { weight: Float32Array.of(1, 0, 0, 1), bias: Float32Array.of(0, 0), inFeatures: 2, outFeatures: 2 },
    activation: "relu",
    norm: { gamma: Float32Array.of(1, 1), beta: Float32Array.of(0, 0), eps: 1e-12 },
    decoder: Float32Array.of(1, 0, 0, 1, 0, 3),
    bias: Float32Array.of(0, 0.5, -1),
  };
  const A = [3, 1];
  const B = [0, 2];
  // Row 0: A, B, B (all real). Row 1: B, then two pads that hold A (which would give v0 if counted).
  const hidden = Float32Array.from([...A, ...B, ...B, ...B, ...A, ...A]);
  const batch = { batch: 2, sequence: 3, attentionMask: Int32Array.of(1, 1, 1, 1, 0, 0) };
  const run = (pooling: SpladePooling) => Array.from(spladeReference(hidden, batch, head, pooling));
  const ln = Math.log;

  it("max: log(1 + relu(logit)) at the best real token per term; padding counts for nothing", () => {
    const expected = [ln(2), ln(2.5), ln(3), 0, ln(2.5), ln(3)];
    run({ strategy: "max", activation: "relu" }).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });

  it("sum: every real token adds its term weight", () => {
    const expected = [ln(2), 2 * ln(2.5), 2 * ln(3), 0, ln(2.5), ln(3)];
    run({ strategy: "sum", activation: "relu" }).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });

  it("log1p_relu applies log1p twice (OpenSearch's models)", () => {
    const expected = [ln(1 + ln(2)), ln(1 + ln(2.5)), ln(1 + ln(3)), 0, ln(1 + ln(2.5)), ln(1 + ln(3))];
    run({ strategy: "max", activation: "log1p_relu" }).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });
});

describe("token_vectors reference (ColBERT / bge-m3)", () => {
  // Projection diag(1, 2), no bias: [3, 2] → [3, 4] → [0.6, 0.8]; [1, 0] → [1, 0].
  const projection = { weight: Float32Array.of(1, 0, 0, 2), inFeatures: 2, outFeatures: 2 };
  const hidden = Float32Array.of(3, 2, 1, 0, 5, 5, 3, 2);
  // Ids: 101 (CLS), 7, then 103 ([MASK], attention 0: query augmentation), then the pad id 0.
  const batch = { batch: 1, sequence: 4, inputIds: Int32Array.of(101, 7, 103, 0), attentionMask: Int32Array.of(1, 1, 0, 0) };

  it("ColBERT: every token that is not the pad id yields a unit vector, [MASK] augmentation included; padding is 0", () => {
    const out = Array.from(tokenVectorsReference(hidden, batch, projection, { kind: "notPad", padTokenId: 0 }));
    const third = [5 / Math.hypot(5, 10), 10 / Math.hypot(5, 10)];
    const expected = [0.6, 0.8, 1, 0, ...third, 0, 0];
    out.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });

  it("bge-m3: real tokens after the first ([CLS] yields none)", () => {
    const out = Array.from(tokenVectorsReference(hidden, batch, projection, { kind: "afterFirst" }));
    expect(out).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
  });
});

describe("bge-m3 sparse reference (FlagEmbedding's _sparse_embedding)", () => {
  // weight(token) = relu(2h − 1). Ids: 0 (CLS, dropped), 5, 6, 5 again, 2 (EOS, dropped), 5 padded.
  const projection = { weight: Float32Array.of(2), bias: Float32Array.of(-1), inFeatures: 1, outFeatures: 1, source: "test" };
  const hidden = Float32Array.of(9, 1, 0.25, 3, 9, 9);
  const batch = { batch: 1, sequence: 6, inputIds: Int32Array.of(0, 5, 6, 5, 2, 5), attentionMask: Int32Array.of(1, 1, 1, 1, 1, 0) };

  it("each id keeps the max over its tokens; relu clamps at 0; special ids and padding stay 0", () => {
    const out = Array.from(bgeM3SparseReference(hidden, batch, projection, 8, [0, 1, 2, 3]));
    // id 5: max(relu(1), relu(5)) = 5 (the padded 5 would give 17); id 6: relu(−0.5) = 0.
    expect(out).toEqual([0, 0, 0, 0, 0, 5, 0, 0]);
  });
});

describe("bge-m3's .pt heads through the restricted unpickler", () => {
  it("sparse_linear.pt and colbert_linear.pt load as nn.Linear state dicts", () => {
    const dir = writeBgeM3Folder(join(tempDir(), "bge-m3"), { colbertDim: 24 });
    const sparse = readSparseLinear(folderFiles(dir), 32);
    expect([sparse.outFeatures, sparse.inFeatures, sparse.weight.length, sparse.bias?.length]).toEqual([1, 32, 32, 1]);
    const colbert = readColbertLinear(folderFiles(dir), 32);
    expect([colbert.outFeatures, colbert.weight.length, colbert.bias?.length]).toEqual([24, 24 * 32, 24]);
  });

  it("a projection for another hidden size is refused, naming the file and tensor", () => {
    const dir = writeBgeM3Folder(join(tempDir(), "bge-m3"));
    expect(() => readColbertLinear(folderFiles(dir), 48)).toThrow(
      /colbert_linear\.pt: tensor "weight" has shape \[32, 32\], not \[out, 48\]/,
    );
  });

  it("a sparse_linear.pt whose pickle calls os.system is refused and never run", () => {
    const dir = writeBgeM3Folder(join(tempDir(), "bge-m3"));
    const marker = join(dir, "pwned");
    const enc = new TextEncoder();
    const command = `touch ${marker}`;
    const pickle = [
      0x80,
      0x02,
      0x63,
      ...enc.encode("os\nsystem\n"),
      0x58,
      ...new Uint8Array(new Uint32Array([command.length]).buffer),
      ...enc.encode(command),
      0x85,
      0x52,
      0x2e,
    ];
    writeFileSync(
      join(dir, "sparse_linear.pt"),
      encodeTorchZip([
        ["sparse_linear/data.pkl", Uint8Array.from(pickle)],
        ["sparse_linear/version", enc.encode("3\n")],
      ]),
    );
    expect(() => readSparseLinear(folderFiles(dir), 32)).toThrow(WeightError);
    expect(() => readSparseLinear(folderFiles(dir), 32)).toThrow(/sparse_linear\.pt.*"os\.system"/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("sparse INT8 fidelity metrics", () => {
  it("cosine per text and the share of FP32's top-k terms INT8 keeps", () => {
    const reference = [Float32Array.of(3, 0, 2, 1), Float32Array.of(0, 0, 0, 0)];
    const candidate = [Float32Array.of(3, 1, 0, 2), Float32Array.of(0, 0, 0, 0)];
    // Text 0: top-2 of FP32 is {0, 2}, of INT8 {0, 3}: half kept; cosine (9 + 2) / (√14 · √14).
    expect(topOverlap(reference[0]!, candidate[0]!, 2)).toBe(0.5);
    const m = compareSparse(reference, candidate, 2);
    expect(m.cosine.min).toBeCloseTo(11 / 14, 6);
    expect(m.cosine.mean).toBeCloseTo((11 / 14 + 1) / 2, 6); // two empty vectors agree
    expect(m.topTerms).toEqual({ k: 2, mean: 0.75, min: 0.5 });
  });
});
