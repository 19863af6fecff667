// RoBERTa / XLM-RoBERTa / CamemBERT: graphs vs the reference forward, and position ids that
// start after pad_token_id and skip padding, computed in the graph from input_ids.
import { describe, expect, it } from "vitest";
import type { TokenBatch } from "../src/arch/architecture.js";
import { buildEncoderGraph, referenceForward } from "../src/heads/graph.js";
import { positionIdsAfterPadding } from "../src/arch/reference/math.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import { relativeMaxError } from "../src/export/verify.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { VARIANTS } from "./helpers/architectures.js";
import { expectGraphMatchesReference, runInProcess, syntheticEncoder } from "./helpers/index.js";

describe("RoBERTa graph vs reference forward", () => {
  const encoder = syntheticEncoder(syntheticRoberta({ seed: 31 }));

  it("parses pad_token_id 1 and 512 tokens for 514 positions' worth of table", () => {
    expect(encoder.architecture.name).toBe("roberta");
    expect(encoder.config).toMatchObject({ padTokenId: 1, typeVocabSize: 1, maxSequence: 128 });
  });

  it("a real token equal to pad_token_id keeps padding_idx as its position, as transformers does", async () => {
    const batch: TokenBatch = {
      batch: 2,
      sequence: 5,
      inputIds: Int32Array.of(0, 17, 1, 23, 2, 0, 40, 2, 1, 1),
      attentionMask: Int32Array.of(1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
    };
    expect(Array.from(positionIdsAfterPadding(batch.inputIds, 2, 5, 1))).toEqual([2, 3, 1, 4, 5, 2, 3, 4, 1, 1]);
    for (const variant of VARIANTS) await expectGraphMatchesReference(encoder, [batch], { variant });
  });

  it("position ids start at pad_token_id + 1: same outputs as BERT with the table shifted by two rows", async () => {
    // An independent check of the offset: RoBERTa's rows 2.. are BERT's rows 0.. for a row of real tokens.
    const model = syntheticRoberta({ seed: 31 });
    const h = encoder.config.hiddenSize;
    const shifted = {
      config: { ...model.config, model_type: "bert", max_position_embeddings: 128 },
      tensors: model.tensors.map((t) =>
        t.name === "embeddings.position_embeddings.weight" ? { ...t, shape: [128, h], data: (t.data as Float32Array).subarray(2 * h) } : t,
      ),
    };
    const asBert = syntheticEncoder(shifted);
    const batch = randomBatch(encoder.config, { batch: 2, sequence: 30, padded: false });
    batch.inputIds.forEach((id, i) => (batch.inputIds[i] = id === 1 ? 5 : id)); // no pad ids among real tokens
    const fromRoberta = await runInProcess(buildEncoderGraph(encoder, { opset: 17, variant: "primary" }), batch);
    const fromBert = await runInProcess(buildEncoderGraph(asBert, { opset: 17, variant: "primary" }), batch);
    expect(relativeMaxError(fromRoberta.lastHiddenState, fromBert.lastHiddenState)).toBeLessThan(1e-6);
  });

  for (const modelType of ["xlm-roberta", "camembert"] as const) {
    it(`model_type ${modelType} uses the same template`, async () => {
      const other = syntheticEncoder(syntheticRoberta({ seed: 32, modelType }));
      expect(other.architecture.name).toBe("roberta");
      await expectGraphMatchesReference(other, [randomBatch(other.config, { batch: 2, sequence: 9 })], { variant: "primary" });
    });
  }

  it("sequences up to max_position_embeddings - pad_token_id - 1 run; longer ones are not the model's", async () => {
    const batch = randomBatch(encoder.config, { batch: 1, sequence: 128 });
    const out = await runInProcess(buildEncoderGraph(encoder, { opset: 17, variant: "portable" }), batch);
    expect(out.lastHiddenState.length).toBe(128 * encoder.config.hiddenSize);
    expect(() => referenceForward(encoder, randomBatch(encoder.config, { batch: 1, sequence: 129 }))).toThrow(/position ids: index 130/);
  });
});
