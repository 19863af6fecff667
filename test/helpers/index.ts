// Shared test utilities: temp folders, synthetic model folders, in-process onnxruntime runs,
// the CLI run in this process, a logger that records.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, expect } from "vitest";
import type { EncoderOutputs, TokenBatch } from "../../src/arch/architecture.js";
import type { GraphVariant } from "../../src/arch/graph-variant.js";
import type { FusedOps } from "../../src/arch/blocks.js";
import { type LoadedEncoder } from "../../src/arch/encoder.js";
import { loadEncoder } from "../../src/arch/encoder-folder.js";
import { buildEncoderGraph, referenceForward } from "../../src/heads/graph.js";
import type { SentencePooling } from "../../src/heads/pooling.js";
import { type CliIo, main } from "../../src/cli/cli.js";
import type { Logger } from "../../src/common/log.js";
import { type SyntheticModel, type WriteOptions, writeModelFolder } from "../../src/fixtures/model-folder.js";
import type { Model } from "../../src/graph/ir.js";
import { encodeModel } from "../../src/graph/onnx-writer.js";
import { validateModel } from "../../src/graph/validate.js";
import { ortFeeds } from "../../src/ort/ort-feeds.js";
import { relativeMaxError } from "../../src/export/verify.js";

const created: string[] = [];
afterAll(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp folder, removed after the test file. */
export function tempDir(prefix = "jazzmine-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Writes `model` into a fresh temp folder and returns the folder. */
export function modelFolder(model: SyntheticModel, options: WriteOptions = {}, name = "model"): string {
  return writeModelFolder(join(tempDir(), name), model, options);
}

/** Loads a synthetic model as an encoder (closed after the test file). */
export function syntheticEncoder(model: SyntheticModel, options: WriteOptions = {}): LoadedEncoder {
  const encoder = loadEncoder(modelFolder(model, options));
  afterAll(() => encoder.close());
  return encoder;
}

/** Runs a model in this process (tests only; the product isolates onnxruntime in a child). */
export async function runInProcess(
  model: Model | Uint8Array,
  batch: TokenBatch,
): Promise<EncoderOutputs & { raw: ort.InferenceSession.ReturnType }> {
  const session = await ort.InferenceSession.create(model instanceof Uint8Array ? model : encodeModel(model));
  try {
    const raw = await session.run(ortFeeds(batch, session.inputNames));
    return {
      lastHiddenState: raw.last_hidden_state!.data as Float32Array,
      poolerOutput: raw.pooler_output!.data as Float32Array,
      ...(raw.sentence_embedding ? { sentenceEmbedding: raw.sentence_embedding.data as Float32Array } : {}),
      raw,
    };
  } finally {
    await session.release();
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI's main() in this process with captured streams. `stdin` feeds `embed … -`; without it
 * stdin reads as empty, so a test never waits on the runner's own stdin.
 */
export async function runCli(args: string[], options: { env: CliIo["env"]; stdin?: string }): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env,
    readStdin: () => options.stdin ?? "",
  });
  return { code, stdout, stderr };
}

/** A logger that keeps every line (warnings prefixed "warning: ", as on stderr) and the warnings alone. */
export function recordingLogger(): Logger & { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  return {
    lines,
    warnings,
    info: (message) => lines.push(message),
    warn: (message) => {
      lines.push(`warning: ${message}`);
      warnings.push(message);
    },
  };
}

export const FP32_RELATIVE_TOLERANCE = 1e-4;

/**
 * Emits `encoder` as `variant`, runs it in onnxruntime on each batch and expects every output
 * (sentence_embedding too, when `sentenceEmbedding` asks for it) within 1e-4 relative max error
 * of the reference forward. Returns the worst error seen.
 */
export async function expectGraphMatchesReference(
  encoder: LoadedEncoder,
  batches: TokenBatch[],
  options: {
    variant: GraphVariant;
    opset?: number;
    tokenTypeIds?: boolean;
    sentenceEmbedding?: SentencePooling;
    fused?: Partial<FusedOps>;
  },
): Promise<number> {
  const model = buildEncoderGraph(encoder, {
    opset: options.opset ?? 17,
    variant: options.variant,
    ...(options.fused ? { fused: options.fused } : {}),
    tokenTypeIds: options.tokenTypeIds ?? false,
    sentenceEmbedding: options.sentenceEmbedding,
  });
  validateModel(model);
  const bytes = encodeModel(model);
  let worst = 0;
  for (const batch of batches) {
    const expected = referenceForward(encoder, batch, options.sentenceEmbedding);
    const actual = await runInProcess(bytes, batch);
    const hidden = encoder.config.hiddenSize;
    expect(actual.lastHiddenState.length).toBe(batch.batch * batch.sequence * hidden);
    expect(actual.poolerOutput.length).toBe(batch.batch * hidden);
    const outputs = options.sentenceEmbedding
      ? (["lastHiddenState", "poolerOutput", "sentenceEmbedding"] as const)
      : (["lastHiddenState", "poolerOutput"] as const);
    for (const output of outputs) {
      const error = relativeMaxError(actual[output] ?? [], expected[output]!);
      worst = Math.max(worst, error);
      const fused = options.fused ? ` ${JSON.stringify(options.fused)}` : "";
      expect(
        error,
        `${output} at ${batch.batch}x${batch.sequence} (${options.variant}${fused}, opset ${options.opset ?? 17})`,
      ).toBeLessThanOrEqual(FP32_RELATIVE_TOLERANCE);
    }
  }
  return worst;
}
