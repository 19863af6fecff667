// The attention forms onnxruntime's CPU provider offers (Blocks' AttentionForm), as whole-model
// graphs, per shape class: the encoder template on the bge-small shape (12 layers, hidden 384,
// 12 heads × 32) and the decoder template on Qwen3-Embedding-0.6B's widths (hidden 1024, 16 query
// heads on 8 key/value heads × 128, MLP 3072) with 2 layers. Each form in FP32 and INT8 static,
// against the portable FP32 graph (standard ops, the form generic exporters emit, optimized by
// onnxruntime at level all). 2 intra-op threads; every session of a shape runs once per round in
// rotating order (interleaved), medians of the ms and of the per-round ratios to the portable
// graph. Encoder batches are right-padded, decoder batches left-padded (Qwen3-Embedding's side).
// Rounds are kept whatever the machine's load (the header says it): compare ratios.
// Also probes which MultiHeadAttention input layouts the CPU kernel accepts (packed Q/K/V, packed K/V).
//   npm run bench:attention [-- --models encoder,decoder] [--shapes 1x16,8x128] [--no-int8]
//   BENCH_ROUNDS=N: rounds at 8×128 (more at smaller shapes, fewer at larger, at least 3).
import { mkdirSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import type { AttentionForm } from "../src/arch/blocks.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { BUNDLED_VOCAB_SIZE, randomBatch } from "../src/fixtures/index.js";
import { QWEN3_0_6B_SHAPE, syntheticQwen3, writeDecoderFolder } from "../src/fixtures/decoders.js";
import { CONTRIB_DOMAIN, GraphBuilder, attr } from "../src/graph/builder.js";
import { DataType } from "../src/graph/ir.js";
import { encodeModel } from "../src/graph/onnx-writer.js";
import { buildEncoderGraph } from "../src/heads/graph.js";
import { ortFeeds } from "../src/ort/ort-feeds.js";
import { CACHE, type Column, bgeSmallModel, interleaved, keepOutput, profileOps, quantizeForBench } from "./common.js";

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const WITH_INT8 = !args.includes("--no-int8");
const MODELS = (option("--models") ?? "encoder,decoder").split(",");
const SHAPES = (option("--shapes") ?? "1x16,8x128,32x128,1x512,1x2048").split(",").map((s) => s.split("x").map(Number) as [number, number]);
const WORK = join(CACHE, "attention");
/** Per-op kernel times of every row at this shape instead of the timing table. */
const PROFILE = option("--profile")?.split("x").map(Number) as [number, number] | undefined;

interface BenchModel {
  label: string;
  folder: string;
  forms: AttentionForm[];
  paddingSide: "left" | "right";
}

/** Qwen3-Embedding-0.6B's widths, 2 layers, the bundled BERT vocabulary (for calibration). */
function decoderFolder(): string {
  const dir = join(WORK, "qwen3");
  writeDecoderFolder(dir, syntheticQwen3({ ...QWEN3_0_6B_SHAPE, layers: 2, vocab: BUNDLED_VOCAB_SIZE, seed: 3 }), { pooling: "lasttoken" });
  return dir;
}

// No spinning: a run's CPU time is then the work it did, whatever else the machine runs.
const sessionOptions: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: "all",
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  extra: { session: { intra_op: { allow_spinning: "0" } } },
};

/** Rounds for a shape: ROUNDS at 1024 tokens, scaled inversely with the tokens, 3 to 5× ROUNDS. */
const roundsFor = (tokens: number) => Math.max(3, Math.min(5 * ROUNDS, Math.round((ROUNDS * 1024) / tokens)));

async function benchModel({ label, folder, forms, paddingSide }: BenchModel): Promise<void> {
  const encoder = loadEncoder(folder);
  const build = (variant: "primary" | "portable", form?: AttentionForm) =>
    buildEncoderGraph(encoder, {
      opset: 17,
      variant,
      ...(form ? { fused: { attentionForm: form } } : {}),
      // Decoders embed through their pooling (last token here).
      ...(encoder.architecture.decoder ? { sentenceEmbedding: { pooling: "lasttoken", normalize: true } as const } : {}),
    });
  const rows: Array<[string, Uint8Array | string]> = [["portable FP32", encodeModel(build("portable"))]];
  console.log(`\n${label}`);
  for (const form of forms) rows.push([`${form} FP32`, encodeModel(build("primary", form))]);
  if (WITH_INT8) {
    for (const form of forms) {
      const name = `${label.split(" ")[0]}-${form}`;
      const paths = { fp32: join(WORK, `${name}_fp32.onnx`), output: join(WORK, `${name}_int8.onnx`) };
      rows.push([
        `${form} INT8 static`,
        await quantizeForBench(encoder, folder, build("primary", form), paths, "static", `  INT8 static ${name}`),
      ]);
    }
  }
  if (PROFILE) {
    const [batch, sequence] = PROFILE;
    const feeds = (names: readonly string[]) => ortFeeds(randomBatch(encoder.config, { batch, sequence, paddingSide, seed: 11 }), names);
    console.log(`  kernel time per run (ms) at ${batch}×${sequence}, mean of 10 profiled runs (the graphs in turn)`);
    const profiles = await profileOps(
      rows.map(([, model]) => model),
      feeds,
      join(WORK, "traces"),
      8,
      2,
    );
    for (const [i, [name]] of rows.entries()) {
      const byOp = [...profiles[i]!].sort((a, b) => b[1] - a[1]);
      const total = byOp.reduce((sum, [, ms]) => sum + ms, 0);
      const ops = byOp.filter(([, ms]) => ms >= 0.05).map(([op, ms]) => `${op} ${ms.toFixed(2)}`);
      console.log(`  ${name}: total ${total.toFixed(1)}: ${ops.join(", ")}`);
    }
    encoder.close();
    return;
  }
  const shapes = SHAPES.filter(([, s]) => s <= encoder.config.maxSequence);
  const cut = SHAPES.filter(([, s]) => s > encoder.config.maxSequence);
  if (cut.length)
    console.log(`  (${cut.map(([b, s]) => `${b}×${s}`).join(", ")} cut: the model's position limit is ${encoder.config.maxSequence})`);
  const columns: Column[] = [];
  for (const [batch, sequence] of shapes) {
    // Fresh sessions per shape: after smaller shapes, onnxruntime's arena ran 8×128 up to 1.5× slower.
    const sessions = await Promise.all(rows.map(([, m]) => ort.InferenceSession.create(m as Uint8Array, sessionOptions)));
    const tokens = randomBatch(encoder.config, { batch, sequence, paddingSide, seed: 11 });
    columns.push(await interleaved(sessions, ortFeeds(tokens, sessions[0]!.inputNames), roundsFor(batch * sequence), Infinity));
    await Promise.all(sessions.map((s) => s.release()));
  }
  encoder.close();
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  for (const [title, value, ratio] of [
    ["wall ms", (c: Column, i: number) => c[i]!.ms, (c: Column, i: number) => c[i]!.ratio],
    ["process CPU ms", (c: Column, i: number) => c[i]!.cpuMs, (c: Column, i: number) => c[i]!.cpuRatio],
  ] as const) {
    console.log(`  ${title} per run (median ratio to portable FP32), ${paddingSide}-padded batches`);
    console.log(`  ${"".padEnd(width)}${shapes.map(([b, s]) => `${b}×${s}`.padStart(20)).join("")}`);
    rows.forEach(([name], i) =>
      console.log(
        `  ${name.padEnd(width)}${columns.map((c) => `${value(c, i).toFixed(2).padStart(9)} (${ratio(c, i).toFixed(2)}×)`.padStart(20)).join("")}`,
      ),
    );
  }
  console.log(`  ${"rounds".padEnd(width)}${shapes.map(([b, s]) => String(roundsFor(b * s)).padStart(20)).join("")}`);
}

/**
 * Whether the CPU MultiHeadAttention kernel runs a layout: packed Q/K/V ([B, S, heads, 3, size]
 * as query) or packed K/V ([B, S, heads, 2, size] as key), one node, 2 heads of 8.
 */
async function probeLayout(name: string, packed: 2 | 3): Promise<string> {
  const g = new GraphBuilder(17, name);
  const [heads, size] = [2, 8];
  const query = g.input("query", DataType.FLOAT, packed === 3 ? [1, 4, heads, 3, size] : [1, 4, heads * size]);
  const inputs = packed === 3 ? [query] : [query, g.input("kv", DataType.FLOAT, [1, 4, heads, 2, size])];
  const output = g.op("MultiHeadAttention", inputs, { num_heads: attr.int(heads) }, CONTRIB_DOMAIN);
  g.output(output, "output", DataType.FLOAT, [1, 4, heads * size]);
  try {
    const session = await ort.InferenceSession.create(encodeModel(g.build({}, "bench")), { ...sessionOptions, logSeverityLevel: 4 });
    const feeds: Record<string, ort.Tensor> = {};
    for (const [input, dims] of [
      ["query", packed === 3 ? [1, 4, heads, 3, size] : [1, 4, heads * size]],
      ["kv", [1, 4, heads, 2, size]],
    ] as const) {
      if (session.inputNames.includes(input))
        feeds[input] = new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
    }
    await session.run(feeds);
    await session.release();
    return "runs";
  } catch (error) {
    return `refused: ${(error as Error).message.split("\n")[0]!.slice(0, 160)}`;
  }
}

keepOutput("attention", !PROFILE && !option("--shapes") && !process.env.BENCH_ROUNDS && WITH_INT8 && MODELS.length === 2);
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}, onnxruntime-node ${ort.env.versions.common}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} at the start (a shared machine: rounds run under that load; compare ratios)`,
);
console.log(`MultiHeadAttention, packed Q/K/V query: ${await probeLayout("packed_qkv", 3)}`);
console.log(`MultiHeadAttention, packed K/V key: ${await probeLayout("packed_kv", 2)}`);
const benchModels: Record<string, () => BenchModel> = {
  encoder: () => ({
    label: "encoder (bge-small shape: 12 layers, hidden 384, 12 heads × 32, 512 positions)",
    folder: bgeSmallModel(),
    forms: ["attention", "mha-mask", "mha-bias", "flash", "matmul"],
    paddingSide: "right",
  }),
  decoder: () => ({
    label: "decoder (Qwen3-0.6B widths, 2 layers: hidden 1024, 16 query heads on 8 key/value heads × 128, causal)",
    folder: decoderFolder(),
    forms: ["mha-bias", "matmul"],
    paddingSide: "left",
  }),
};
for (const name of MODELS) await benchModel(benchModels[name]!());
console.log(
  `\nload average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
rmSync(WORK, { recursive: true, force: true });
