// bench/stream.ts's transformers.js side, in a process of its own: the texts of a file through
// the feature-extraction pipeline in batches of 32 (CLS pooling, normalized, as the export's
// modules.json-less default), each batch's vectors appended to a raw float32 file.
//   tsx bench/stream-tjs.ts <models-root> <model-name> <texts.txt> <out.f32>
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { type FeatureExtractionPipeline, env, pipeline } from "@huggingface/transformers";

const [root, name, input, output] = process.argv.slice(2) as [string, string, string, string];
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
env.useFSCache = false;
const extract = (await pipeline("feature-extraction", name, { dtype: "fp32" })) as FeatureExtractionPipeline;
const texts = readFileSync(input, "utf8").split("\n");
if (texts.at(-1) === "") texts.pop();
writeFileSync(output, "");
for (let start = 0; start < texts.length; start += 32) {
  const vectors = await extract(texts.slice(start, start + 32), { pooling: "cls", normalize: true });
  appendFileSync(output, Buffer.from((vectors.data as Float32Array).buffer));
}
