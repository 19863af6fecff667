// `npm start`: export the bundled demo model (a small BERT with random weights and the real
// bert-base-uncased tokenizer, generated on first run) and show what was written.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EmbeddingService } from "./export/service.js";
import { syntheticBert } from "./fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE, writeModelFolder } from "./fixtures/model-folder.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SOURCE = join(ROOT, ".cache", "demo", "jazzmine-demo-bert");
const OUTPUT = join(ROOT, "models", "jazzmine-demo-bert");

function ensureDemoModel(): string {
  if (!existsSync(join(SOURCE, "model.safetensors"))) {
    process.stderr.write(`generating the demo model in ${SOURCE} (4 layers, hidden 256, random weights)...\n`);
    writeModelFolder(
      SOURCE,
      syntheticBert({ layers: 4, hidden: 256, heads: 4, intermediate: 1024, vocab: BUNDLED_VOCAB_SIZE, maxPositions: 512, seed: 2024 }),
    );
  }
  return SOURCE;
}

async function main(): Promise<void> {
  const source = ensureDemoModel();
  const service = new EmbeddingService(source);
  const started = performance.now();
  const path = await service.exportOnnxModel(OUTPUT, { quantized: false });
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  console.log(`\nexported ${source}\n      to ${resolve(path)} in ${seconds} s\n\n${OUTPUT}:`);
  for (const file of readdirSync(OUTPUT).sort()) {
    console.log(`  ${file.padEnd(36)} ${(statSync(join(OUTPUT, file)).size / 2 ** 20).toFixed(2).padStart(8)} MiB`);
  }
  console.log(`\nNext: npx jazzmine-embed export <hf-model-folder> -o <dir> --fp32`);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${(error as Error).message ?? String(error)}\n`);
  process.exitCode = 1;
});
