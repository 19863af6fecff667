// The checks every architecture template runs through, one table row per template: graph vs
// reference at the standard shapes (or, for rotary / ALiBi templates, at lengths past the
// declared positions), padding independence, token_type_ids and other opsets where the model
// has them, its task-head checkpoint, and FP32 / INT8 exports through EmbeddingService. What is
// particular to one model stays in its own test/arch-<name>.test.ts.
import { describe, expect, it } from "vitest";
import { albert } from "../src/arch/albert.js";
import type { Architecture } from "../src/arch/architecture.js";
import type { GraphVariant } from "../src/arch/graph-variant.js";
import { distilbert } from "../src/arch/distilbert.js";
import { electra } from "../src/arch/electra.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { gte } from "../src/arch/gte.js";
import { jinaBert } from "../src/arch/jina-bert.js";
import { modernBert } from "../src/arch/modernbert.js";
import { mpnet } from "../src/arch/mpnet.js";
import { nomicBert } from "../src/arch/nomic-bert.js";
import { roberta } from "../src/arch/roberta.js";
import { syntheticAlbert } from "../src/fixtures/albert.js";
import { randomBatch } from "../src/fixtures/batches.js";
import { syntheticDistilBert } from "../src/fixtures/distilbert.js";
import { syntheticElectra } from "../src/fixtures/electra.js";
import { syntheticGte } from "../src/fixtures/gte.js";
import { syntheticJinaBert } from "../src/fixtures/jina-bert.js";
import { BUNDLED_VOCAB_SIZE, type SyntheticModel } from "../src/fixtures/model-folder.js";
import { syntheticModernBert } from "../src/fixtures/modernbert.js";
import { syntheticMpnet } from "../src/fixtures/mpnet.js";
import { syntheticNomicBert } from "../src/fixtures/nomic-bert.js";
import { syntheticRoberta } from "../src/fixtures/roberta.js";
import {
  VARIANTS,
  expectFp32Export,
  expectInt8Export,
  expectPaddingDoesNotLeak,
  expectSameEncoder,
  itMatchesAtEveryLength,
  standardBatches,
} from "./helpers/architectures.js";
import { expectGraphMatchesReference, syntheticEncoder } from "./helpers/index.js";

type FixtureOptions = { seed?: number; vocab?: number } & Record<string, unknown>;

interface ArchitectureCase {
  title: string;
  architecture: Architecture<any>;
  /** The template's synthetic checkpoint. */
  synthetic: (options: FixtureOptions) => SyntheticModel;
  /** The fixture of the shared checks (seed and any options). */
  fixture: FixtureOptions;
  /** Rotary / ALiBi templates: lengths up to 512, past this declared limit; otherwise the standard shapes. */
  beyond?: string;
  /** A token_type_ids input, in these variants (models with token types). */
  tokenTypes?: GraphVariant[];
  /** Opsets 13 and 21 at `batch` [batch, sequence], in `variants`, with token_type_ids when asked. */
  opsets?: { batch: [number, number]; variants: GraphVariant[]; tokenTypeIds?: boolean };
  /** The task-head checkpoint: the same encoder under `prefix`; `cls`: it has no pooler. */
  prefixed: { title: string; prefix: string; fixture: FixtureOptions; batch: [number, number]; variants: GraphVariant[]; cls?: boolean };
  /** The end-to-end exports: artifact slug, the FP32 and INT8 fixtures (INT8 with the bundled tokenizer's vocabulary). */
  exports: { slug: string; fp32: FixtureOptions; int8: FixtureOptions; fp32Title?: string };
}

const PRIMARY: GraphVariant[] = ["primary"];

const CASES: ArchitectureCase[] = [
  {
    title: "ALBERT",
    architecture: albert,
    synthetic: syntheticAlbert,
    fixture: { seed: 61 },
    tokenTypes: PRIMARY,
    prefixed: {
      title: "AlbertForMaskedLM checkpoint: albert. prefix, predictions head ignored, CLS fallback",
      prefix: "albert.",
      fixture: { seed: 61, maskedLmHead: true },
      batch: [2, 9],
      variants: PRIMARY,
      cls: true,
    },
    exports: { slug: "tiny-albert", fp32: { seed: 64 }, int8: { seed: 65 } },
  },
  {
    title: "DistilBERT",
    architecture: distilbert,
    synthetic: syntheticDistilBert,
    fixture: { seed: 41 },
    prefixed: {
      title: "DistilBertForMaskedLM checkpoint: distilbert. prefix, vocab_* head ignored",
      prefix: "distilbert.",
      fixture: { seed: 41, maskedLmHead: true },
      batch: [2, 9],
      variants: PRIMARY,
    },
    exports: { slug: "tiny-distilbert", fp32: { seed: 45 }, int8: { seed: 46 } },
  },
  {
    title: "ELECTRA",
    architecture: electra,
    synthetic: syntheticElectra,
    fixture: { seed: 51 },
    tokenTypes: ["portable"],
    prefixed: {
      title: "ElectraForPreTraining discriminator checkpoint: electra. prefix, discriminator head ignored",
      prefix: "electra.",
      fixture: { seed: 51, discriminatorHead: true },
      batch: [3, 40],
      variants: PRIMARY,
    },
    exports: { slug: "tiny-electra", fp32: { seed: 53 }, int8: { seed: 54 } },
  },
  {
    title: "RoBERTa",
    architecture: roberta,
    synthetic: syntheticRoberta,
    fixture: { seed: 31 },
    tokenTypes: VARIANTS,
    opsets: { batch: [3, 12], variants: VARIANTS },
    prefixed: {
      title: "RobertaForMaskedLM checkpoint: roberta. prefix, lm_head ignored, no pooler (CLS fallback)",
      prefix: "roberta.",
      fixture: { seed: 31, maskedLmHead: true },
      batch: [3, 40],
      variants: VARIANTS,
      cls: true,
    },
    exports: { slug: "tiny-xlmr", fp32: { seed: 33, modelType: "xlm-roberta" }, int8: { seed: 34, modelType: "xlm-roberta" } },
  },
  {
    title: "MPNet",
    architecture: mpnet,
    synthetic: syntheticMpnet,
    fixture: { seed: 71 },
    opsets: { batch: [3, 12], variants: VARIANTS },
    prefixed: {
      title: "MPNetForMaskedLM checkpoint: mpnet. prefix, lm_head ignored, CLS fallback",
      prefix: "mpnet.",
      fixture: { seed: 71, maskedLmHead: true },
      batch: [3, 40],
      variants: ["portable"],
      cls: true,
    },
    exports: { slug: "tiny-mpnet", fp32: { seed: 75 }, int8: { seed: 76 } },
  },
  {
    title: "JinaBERT",
    architecture: jinaBert,
    synthetic: syntheticJinaBert,
    fixture: { seed: 91 },
    beyond: "max_position_embeddings 128",
    opsets: { batch: [2, 12], variants: PRIMARY, tokenTypeIds: true },
    prefixed: {
      title: "JinaBertForMaskedLM checkpoint: bert. prefix, cls head ignored, CLS fallback",
      prefix: "bert.",
      fixture: { seed: 91, maskedLmHead: true },
      batch: [2, 9],
      variants: PRIMARY,
      cls: true,
    },
    exports: { slug: "tiny-jina", fp32: { seed: 94 }, int8: { seed: 95 } },
  },
  {
    title: "NomicBERT",
    architecture: nomicBert,
    synthetic: syntheticNomicBert,
    fixture: { seed: 81, vocab: 1000 },
    beyond: "n_positions 128",
    opsets: { batch: [2, 12], variants: PRIMARY, tokenTypeIds: true },
    prefixed: {
      title: "NomicBertForPreTraining checkpoint (nomic-bert-2048): bert. prefix, cls head ignored",
      prefix: "bert.",
      fixture: { seed: 81, vocab: 1000, preTrainingHeads: true },
      batch: [2, 9],
      variants: PRIMARY,
    },
    exports: { slug: "tiny-nomic", fp32: { seed: 84 }, int8: { seed: 85 } },
  },
  {
    title: "GTE",
    architecture: gte,
    synthetic: syntheticGte,
    fixture: { seed: 101 },
    beyond: "max_position_embeddings 128",
    opsets: { batch: [2, 12], variants: VARIANTS },
    prefixed: {
      title: "NewForMaskedLM checkpoint: new. prefix, lm_head ignored",
      prefix: "new.",
      fixture: { seed: 101, maskedLmHead: true },
      batch: [2, 9],
      variants: PRIMARY,
    },
    exports: { slug: "tiny-gte", fp32: { seed: 104 }, int8: { seed: 105 } },
  },
  {
    title: "ModernBERT",
    architecture: modernBert,
    synthetic: syntheticModernBert,
    fixture: { seed: 113 },
    beyond: "max_position_embeddings 128",
    opsets: { batch: [2, 20], variants: VARIANTS },
    prefixed: {
      title: "ModernBertForMaskedLM checkpoint: model. prefix, head and decoder ignored",
      prefix: "model.",
      fixture: { seed: 113, maskedLmHead: true },
      batch: [2, 9],
      variants: PRIMARY,
    },
    exports: {
      slug: "tiny-modernbert",
      fp32: { seed: 116 },
      int8: { seed: 117 },
      fp32Title: "EmbeddingService.exportOnnxModel FP32 end to end: the primary rotary graph loads and verifies at level all",
    },
  },
];

for (const c of CASES) {
  describe(`${c.title}: the checks every template passes`, () => {
    const encoder = syntheticEncoder(c.synthetic(c.fixture));

    if (c.beyond) {
      itMatchesAtEveryLength(encoder, c.beyond);
    } else {
      for (const variant of VARIANTS) {
        it(`${variant}: 1x1, 2x9, 3x40, 2x128 with padded rows`, async () => {
          await expectGraphMatchesReference(encoder, standardBatches(encoder.config), { variant });
        });

        it(`${variant}: padding does not leak into a row's output`, async () => {
          await expectPaddingDoesNotLeak(encoder, variant);
        });
      }
    }

    const tokenTypes = c.tokenTypes;
    if (tokenTypes) {
      it(`token_type_ids input (${tokenTypes.join(", ")})`, async () => {
        const batches = [randomBatch(encoder.config, { batch: 2, sequence: 10, tokenTypes: true })];
        for (const variant of tokenTypes) await expectGraphMatchesReference(encoder, batches, { variant, tokenTypeIds: true });
      });
    }

    const opsets = c.opsets;
    if (opsets) {
      it(`opsets 13 and 21 (${opsets.variants.join(", ")})${opsets.tokenTypeIds ? " with a token_type_ids input" : ""}`, async () => {
        const [batch, sequence] = opsets.batch;
        const batches = [randomBatch(encoder.config, { batch, sequence, tokenTypes: opsets.tokenTypeIds ?? false })];
        for (const opset of [13, 21]) {
          for (const variant of opsets.variants) {
            await expectGraphMatchesReference(encoder, batches, { variant, opset, ...(opsets.tokenTypeIds ? { tokenTypeIds: true } : {}) });
          }
        }
      });
    }

    const prefixed = c.prefixed;
    it(prefixed.title, async () => {
      expect(c.architecture.checkpointPrefixes).toEqual([prefixed.prefix]);
      const headed = syntheticEncoder(c.synthetic(prefixed.fixture));
      expectSameEncoder(encoder, headed);
      if (prefixed.cls) expect(buildEncoderGraph(headed, { opset: 17, variant: "primary" }).metadata.pooler).toBe("cls");
      const [batch, sequence] = prefixed.batch;
      for (const variant of prefixed.variants) {
        await expectGraphMatchesReference(headed, [randomBatch(headed.config, { batch, sequence })], { variant });
      }
    });

    const { slug, fp32, int8, fp32Title } = c.exports;
    it(fp32Title ?? "EmbeddingService.exportOnnxModel FP32 end to end (child-process verification)", async () => {
      await expectFp32Export(c.synthetic(fp32), slug, c.architecture.name);
    });

    it("EmbeddingService.exportOnnxModel INT8: cosine ≥ 0.99 with the FP32 reference", async () => {
      await expectInt8Export(c.synthetic({ ...int8, vocab: BUNDLED_VOCAB_SIZE }), slug);
    });
  });
}
