// sha256 of every FP32 graph the templates emit for the synthetic fixtures: each architecture in
// its fixture variants, both graph variants, with and without a sentence_embedding head, and every
// reranker fixture. A refactor of templates, blocks or heads must leave these lines unchanged:
//   npx tsx scripts/graph-fingerprints.ts > before.txt; (change); … > after.txt; diff before.txt after.txt
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEncoder } from "../src/arch/encoder.js";
import type { GraphVariant } from "../src/arch/graph-variant.js";
import { syntheticGemma3, syntheticQwen2, syntheticQwen3 } from "../src/fixtures/decoders.js";
import * as fixtures from "../src/fixtures/index.js";
import type { SyntheticModel } from "../src/fixtures/model-folder.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { buildTaskGraph } from "../src/heads/graph.js";
import { detectTask } from "../src/heads/tasks.js";

const MODELS: Array<[string, () => SyntheticModel]> = [
  ["bert", () => fixtures.syntheticBert({ seed: 1 })],
  ["roberta", () => fixtures.syntheticRoberta({ seed: 2 })],
  ["xlm-roberta", () => fixtures.syntheticRoberta({ seed: 3, modelType: "xlm-roberta" })],
  ["distilbert", () => fixtures.syntheticDistilBert({ seed: 4 })],
  ["electra", () => fixtures.syntheticElectra({ seed: 5 })],
  ["albert", () => fixtures.syntheticAlbert({ seed: 6 })],
  ["mpnet", () => fixtures.syntheticMpnet({ seed: 7 })],
  ["jina-bert", () => fixtures.syntheticJinaBert({ seed: 8 })],
  ["nomic-bert", () => fixtures.syntheticNomicBert({ seed: 9 })],
  ["gte", () => fixtures.syntheticGte({ seed: 10 })],
  ["modernbert", () => fixtures.syntheticModernBert({ seed: 11 })],
  ["modernbert-biases-layer-types", () => fixtures.syntheticModernBert({ seed: 12, biases: true, layerTypes: true })],
  ["qwen3", () => syntheticQwen3({ seed: 13 })],
  ["qwen2", () => syntheticQwen2({ seed: 14 })],
  ["gemma3", () => syntheticGemma3({ seed: 15 })],
  ...fixtures.RERANKER_FIXTURES.map((kind): [string, () => SyntheticModel] => [`reranker-${kind}`, () => fixtures.syntheticReranker(kind)]),
];

const VARIANTS: GraphVariant[] = ["primary", "portable"];
const root = mkdtempSync(join(tmpdir(), "jazzmine-fingerprints-"));
let count = 0;
try {
  for (const [name, make] of MODELS) {
    const dir = fixtures.writeModelFolder(join(root, name), make(), { tokenizer: false });
    const encoder = loadEncoder(dir);
    try {
      const task = encoder.architecture.decoder ? ("feature-extraction" as const) : detectTask(encoder);
      const specs = encoder.architecture.decoder
        ? [{ label: "pipeline", spec: { task, sentenceEmbedding: { pooling: "lasttoken" as const, normalize: true } } }]
        : task === "feature-extraction"
          ? [
              { label: "encoder", spec: { task } },
              { label: "mean", spec: { task, sentenceEmbedding: { pooling: "mean" as const, normalize: true } } },
            ]
          : [{ label: task, spec: { task } }];
      for (const variant of VARIANTS) {
        for (const { label, spec } of specs) {
          const bytes = encodeModel(buildTaskGraph(encoder, spec, { opset: 17, variant }));
          console.log(`${name} ${variant} ${label} ${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`);
          count++;
        }
      }
    } finally {
      encoder.close();
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
console.error(`${count} graphs`);
