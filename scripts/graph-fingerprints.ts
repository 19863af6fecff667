// Exports every fixture model (src/fixtures) through EmbeddingService — FP32 of both graph
// variants and INT8 (static, primary graph) — and prints one sha256 per model file, so that a
// refactor of the export path can prove it writes byte-identical graphs: run it before and after
// and diff the outputs.
//   npx tsx scripts/graph-fingerprints.ts [--no-int8] > before.txt
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { silentLogger } from "../src/common/log.js";
import { errorMessage } from "../src/common/messages.js";
import { EmbeddingService, type ExportOptions } from "../src/export/service.js";
import {
  syntheticAlbert,
  syntheticBert,
  syntheticDistilBert,
  syntheticElectra,
  syntheticGte,
  syntheticJinaBert,
  syntheticModernBert,
  syntheticMpnet,
  syntheticNomicBert,
  syntheticReranker,
  syntheticRoberta,
  RERANKER_FIXTURES,
  writeModelFolder,
} from "../src/fixtures/index.js";
import { writeBgeM3Folder, writeColbertFolder, writePylateFolder, writeSpladeFolder } from "../src/fixtures/retrieval.js";
import { syntheticGemma3, syntheticQwen2, syntheticQwen3, writeDecoderFolder } from "../src/fixtures/decoders.js";

const withInt8 = !process.argv.includes("--no-int8");
// A fixed folder: the source folder's path is written into the graph's metadata.
const root = join(tmpdir(), "jazzmine-graph-fingerprints");
rmSync(root, { recursive: true, force: true });

/** Fixture name → a function writing its model folder into the given path. */
const FIXTURES: Array<[string, (dir: string) => string, { fp32Only?: boolean; options?: ExportOptions }?]> = [
  ["bert", (dir) => writeModelFolder(dir, syntheticBert({ seed: 1 }))],
  [
    "bert-sentence",
    (dir) => writeModelFolder(dir, syntheticBert({ seed: 2 }), { sentence: { pooling: "mean", normalize: true } }),
    { options: { sentenceEmbedding: true } },
  ],
  [
    "bert-vector",
    (dir) => writeModelFolder(dir, syntheticBert({ seed: 2 })),
    { options: { vector: "int8", sentenceEmbedding: { pooling: "cls", normalize: true } } },
  ],
  ["roberta", (dir) => writeModelFolder(dir, syntheticRoberta({ seed: 3 }))],
  ["xlm-roberta", (dir) => writeModelFolder(dir, syntheticRoberta({ seed: 4, modelType: "xlm-roberta" }))],
  ["distilbert", (dir) => writeModelFolder(dir, syntheticDistilBert({ seed: 5 }))],
  ["electra", (dir) => writeModelFolder(dir, syntheticElectra({ seed: 6 }))],
  ["albert", (dir) => writeModelFolder(dir, syntheticAlbert({ seed: 7 }))],
  ["mpnet", (dir) => writeModelFolder(dir, syntheticMpnet({ seed: 8 }))],
  ["jina-bert", (dir) => writeModelFolder(dir, syntheticJinaBert({ seed: 9 }))],
  ["nomic-bert", (dir) => writeModelFolder(dir, syntheticNomicBert({ seed: 10 }))],
  ["gte", (dir) => writeModelFolder(dir, syntheticGte({ seed: 11 }))],
  ["modernbert", (dir) => writeModelFolder(dir, syntheticModernBert({ seed: 12 }))],
  ...RERANKER_FIXTURES.map((kind): [string, (dir: string) => string] => [
    `reranker-${kind}`,
    (dir) => writeModelFolder(dir, syntheticReranker(kind, { seed: 13 })),
  ]),
  ["splade", (dir) => writeSpladeFolder(dir)],
  ["colbert", (dir) => writeColbertFolder(dir)],
  ["pylate", (dir) => writePylateFolder(dir)],
  ["bge-m3", (dir) => writeBgeM3Folder(dir), { fp32Only: true }],
  ["qwen3", (dir) => writeDecoderFolder(dir, syntheticQwen3({ seed: 14 }), { pooling: "lasttoken" })],
  ["qwen2", (dir) => writeDecoderFolder(dir, syntheticQwen2({ seed: 15 }), { pooling: "lasttoken" })],
  // FP16 is refused for Gemma 3.
  ["gemma3", (dir) => writeDecoderFolder(dir, syntheticGemma3({ seed: 16 }), { pooling: "mean", dense: [48, 24] }), { fp32Only: true }],
];

const EXPORTS: Array<[string, ExportOptions]> = [
  ["fp32-primary", { quantized: false, variant: "primary" }],
  ["fp32-portable", { quantized: false, variant: "portable" }],
  ["fp16-primary", { quantized: false, dtype: "fp16", variant: "primary" }],
  ...(withInt8 ? [["int8-static", { quantized: true, variant: "primary" }] as [string, ExportOptions]] : []),
];

let count = 0;
try {
  for (const [name, write, flags] of FIXTURES) {
    const source = write(join(root, name, "source"));
    const service = new EmbeddingService(source, { logger: silentLogger, resolver: { resolve: async () => source } });
    for (const [label, options] of EXPORTS) {
      if (flags?.fp32Only && options.quantized) continue;
      try {
        const path = await service.exportOnnxModel(join(root, name, label), { ...flags?.options, ...options });
        const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
        console.log(`${sha256}  ${name}/${label}/${basename(path)}`);
        count++;
      } catch (error) {
        // A refusal is part of the fingerprint too (the same export must fail the same way).
        console.log(`failed  ${name}/${label}: ${errorMessage(error)}`);
      }
    }
  }
  console.log(`# ${count} graph files`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
