// `npm start`: export the bundled demo model (a small BERT with random weights and the real
// bert-base-uncased tokenizer, generated on first run) to INT8, show what was written and
// what it measured, then embed a few texts with the exported folder.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { EmbeddingService } from "./export/service.js";
import { DEMO_MODEL_NAME, DEMO_MODEL_SHAPE, demoModel } from "./fixtures/demo-model.js";
import { writeModelFolder } from "./fixtures/model-folder.js";
import { REPORT_FILE, type QuantizationReport } from "./quant/report.js";
import { Embedder } from "./runtime/embedder.js";
import { errorMessage } from "./common/messages.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SOURCE = join(ROOT, ".cache", "demo", DEMO_MODEL_NAME);
const OUTPUT = join(ROOT, "models", DEMO_MODEL_NAME);

function ensureDemoModel(): string {
  if (!existsSync(join(SOURCE, "model.safetensors"))) {
    process.stderr.write(`generating the demo model in ${relative(ROOT, SOURCE)} (${DEMO_MODEL_SHAPE})...\n`);
    writeModelFolder(SOURCE, demoModel());
  }
  return SOURCE;
}

async function main(): Promise<void> {
  const source = ensureDemoModel();
  const started = performance.now();
  const path = await new EmbeddingService(source).exportOnnxModel(OUTPUT); // INT8 static QDQ, opset 17
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`\nexported ${relative(ROOT, source)} → ${relative(ROOT, path)} in ${seconds} s\n`);
  for (const file of readdirSync(OUTPUT).sort()) {
    console.log(`  ${file.padEnd(36)} ${(statSync(join(OUTPUT, file)).size / 2 ** 20).toFixed(2).padStart(8)} MiB`);
  }
  const report = JSON.parse(readFileSync(join(OUTPUT, REPORT_FILE), "utf8")) as QuantizationReport;
  console.log(
    `\nINT8 vs FP32 on ${report.fidelity.texts ?? "held-out"} held-out texts: worst cosine ${report.fidelity.worstCosine.toFixed(4)}, ` +
      `file ${(100 * report.sizes.ratio).toFixed(0)}% of FP32`,
  );

  const embedder = await Embedder.load(OUTPUT);
  const texts = ["How do I export an embedding model to ONNX?", "Exporting embedding models to ONNX", "The weather is nice today."];
  const vectors = await embedder.embed(texts);
  await embedder.close();
  console.log(
    `\nembedded ${texts.length} texts → ${vectors[0]!.length}-dimensional unit vectors, e.g. [${[...vectors[0]!.subarray(0, 4)].map((v) => v.toFixed(3)).join(", ")}, …]`,
  );
  console.log("(the demo model's weights are random: similarities mean nothing until you export a real model)");
  console.log(`\nNext: npx jazzmine-embed export BAAI/bge-small-en-v1.5 -o models/bge-small`);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${errorMessage(error)}\n`);
  process.exitCode = 1;
});
