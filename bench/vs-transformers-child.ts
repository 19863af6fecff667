// One side of bench/vs-transformers.ts, in a fresh process: load the folder (timed), then the
// same batch of 64 texts (short, then long) run `runs` times after one warm-up, CLS pooling,
// normalized. Prints one JSON line: load ms, per-batch ms, and the short batch's vectors (base64).
//   tsx bench/vs-transformers-child.ts <ours|ours-in-process|transformers.js> <models-root> <name> <fp32|int8> <short.json> <long.json> <runs> <threads>
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [tool, root, name, precision, shortFile, longFile, runsText, threadsText] = process.argv.slice(2) as string[];
const runs = Number(runsText);
const threads = Number(threadsText);
const short = JSON.parse(readFileSync(shortFile!, "utf8")) as string[];
const long = JSON.parse(readFileSync(longFile!, "utf8")) as string[];

type Embed = (texts: string[]) => Promise<Float32Array>;

async function loadOurs(): Promise<Embed> {
  const { Embedder } = await import("../dist/index.js");
  const started = performance.now();
  const embedder = await Embedder.load(join(root!, name!), { threads, ...(tool === "ours-in-process" ? { isolated: false } : {}) });
  loadMs = performance.now() - started;
  // One batch of all 64 texts, padded to the longest, as transformers.js runs it.
  return async (texts) => {
    const vectors = await embedder.embed(texts, { batchSize: texts.length, maxBatchTokens: 2 ** 30, pooling: "cls" });
    const out = new Float32Array(vectors.length * vectors[0]!.length);
    vectors.forEach((v, i) => out.set(v, i * v.length));
    return out;
  };
}

async function loadTransformersJs(): Promise<Embed> {
  const { env, pipeline } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root!;
  env.useFSCache = false;
  const started = performance.now();
  const extract = await pipeline("feature-extraction", name!, {
    dtype: precision === "int8" ? "q8" : "fp32",
    session_options: { intraOpNumThreads: threads },
  });
  loadMs = performance.now() - started;
  return async (texts) => (await extract(texts, { pooling: "cls", normalize: true })).data as Float32Array;
}

let loadMs = 0;
const embed = tool === "transformers.js" ? await loadTransformersJs() : await loadOurs();
const timed = async (texts: string[]) => {
  await embed(texts); // warm-up: first-run allocations
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await embed(texts);
    ms.push(performance.now() - started);
  }
  return ms;
};
const shortMs = await timed(short);
const longMs = await timed(long);
const vectors = await embed(short);
process.stdout.write(
  JSON.stringify({
    loadMs,
    shortMs,
    longMs,
    vectors: Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength).toString("base64"),
  }),
);
process.exit(0);
