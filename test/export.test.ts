// EmbeddingService end to end (FP32): artifacts and names per SPEC, the primary → portable
// fallback, survival of native onnxruntime crashes, and one clear error per kind of bad input
// with nothing half-written left behind.
import { readFileSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterEach, describe, expect, it } from "vitest";
import { bert } from "../src/arch/bert.js";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { encodeSafetensors } from "../src/fixtures/safetensors-writer.js";
import { type GraphUnderVerification, emitVerifiedGraph } from "../src/export/emit.js";
import { batchFeeds } from "../src/ort/feeds.js";
import { createHash } from "node:crypto";
import { Embedder } from "../src/runtime/embedder.js";
import type { EncoderConfig } from "../src/arch/architecture.js";
import type { Logger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import type { SyntheticModel } from "../src/fixtures/model-folder.js";
import { readModel } from "../src/graph/onnx-file.js";
import { IsolatedSession } from "../src/ort/isolated-session.js";
import { verificationBatch, verificationRows, verifyGraph } from "../src/export/verify.js";
import { FEATURE_EXTRACTION } from "../src/heads/tasks.js";
import { modelFolder, recordingLogger, tempDir } from "./helpers/index.js";

/** Files an export may leave in a folder: never temp files or half artifacts. */
function leftovers(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.includes(".tmp") || f.endsWith(".onnx") || f.endsWith(".data")) : [];
}

describe("EmbeddingService FP32 export", () => {
  it("writes <slug>_fp32.onnx and the tokenizer files, verified, and returns the path", async () => {
    const source = modelFolder(syntheticBert({ seed: 21 }), {}, "my-bert");
    const out = join(tempDir(), "nested", "out");
    const logger = recordingLogger();
    const path = await new EmbeddingService(source, { logger }).exportOnnxModel(out, { quantized: false });
    expect(path).toBe(join(out, "my-bert_fp32.onnx"));
    expect(readdirSync(out).sort()).toEqual([
      "config.json",
      "export_manifest.json",
      "my-bert_fp32.onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expect(logger.lines.some((l) => /verified primary graph: max relative error/.test(l))).toBe(true);
    const model = readModel(path);
    expect(model.metadata).toMatchObject({ source_model: source, architecture: "bert", graph_variant: "primary" });
    const session = await ort.InferenceSession.create(path);
    expect(session.inputNames).toEqual(["input_ids", "attention_mask"]);
    expect(session.outputNames).toEqual(["last_hidden_state", "pooler_output"]);
    await session.release();
  });

  it("constructs without touching anything, and loads lazily", async () => {
    const service = new EmbeddingService("/does/not/exist");
    expect(service.modelId).toBe("/does/not/exist");
    expect(new EmbeddingService().modelId).toBe("BAAI/bge-small-en-v1.5");
    await expect(service.exportTokenizerOnly(tempDir())).rejects.toThrow(/does\/not\/exist/);
  });

  it("exportTokenizerOnly writes tokenizer files and never reads the weights", async () => {
    const source = modelFolder(syntheticBert({ seed: 22 }));
    writeFileSync(join(source, "model.safetensors"), "not a checkpoint at all");
    const out = join(tempDir(), "tok");
    expect(await new EmbeddingService(source, { logger: recordingLogger() }).exportTokenizerOnly(out)).toBe(out);
    expect(readdirSync(out).sort()).toEqual(["tokenizer.json", "tokenizer_config.json"]);
    expect(readFileSync(join(out, "tokenizer.json"))).toEqual(readFileSync(join(source, "tokenizer.json")));
  });

  it("emits the portable graph when asked for it, with token_type_ids when asked", async () => {
    const source = modelFolder(syntheticBert({ seed: 23 }), {}, "tt");
    const path = await new EmbeddingService(source, { logger: recordingLogger() }).exportOnnxModel(tempDir(), {
      quantized: false,
      variant: "portable",
      tokenTypeIds: true,
      opset: 14,
    });
    const model = readModel(path);
    expect(model.metadata.graph_variant).toBe("portable");
    expect(model.graph.inputs.map((i) => i.name)).toEqual(["input_ids", "attention_mask", "token_type_ids"]);
    expect(model.opsetImports).toContainEqual({ domain: "", version: 14 });
  });
});

describe("verification inputs", () => {
  it("a padded batch of rows of 9, 5 and 1 tokens; the reference runs each row's real tokens alone", () => {
    const encoder = loadEncoder(modelFolder(syntheticBert({ seed: 24 })));
    const batch = verificationBatch(encoder.config);
    const rows = verificationRows(batch);
    expect([batch.batch, batch.sequence]).toEqual([3, 9]);
    expect(rows.map((r) => [r.batch, r.sequence])).toEqual([
      [1, 9],
      [1, 5],
      [1, 1],
    ]);
    rows.forEach((row, r) => {
      expect([...row.inputIds]).toEqual([...batch.inputIds.subarray(r * 9, r * 9 + row.sequence)]);
      expect([...row.attentionMask].every((m) => m === 1)).toBe(true);
    });
    encoder.close();
  });

  it("compares every output of both shapes, and fails on a graph that computes something else", async () => {
    const source = modelFolder(syntheticBert({ seed: 25 }));
    const encoder = loadEncoder(source);
    const exported = await new EmbeddingService(source, { logger: recordingLogger() }).exportOnnxModel(tempDir(), {
      quantized: false,
      variant: "portable",
    });
    const good = await verifyGraph(exported, encoder);
    expect(good.ok).toBe(true);
    expect(good.comparisons.map((c) => `${c.output} ${c.shape}`)).toEqual([
      "last_hidden_state 3x9",
      "pooler_output 3x9",
      "last_hidden_state 1x1",
      "pooler_output 1x1",
    ]);
    // The same graph against the reference of another LayerNorm epsilon.
    const shifted = { ...encoder, config: { ...encoder.config, layerNormEps: 0.5 } };
    const bad = await verifyGraph(exported, shifted as typeof encoder);
    expect(bad.ok).toBe(false);
    expect(bad.worst.relativeError).toBeGreaterThan(1e-4);
    encoder.close();
  }, 30_000);
});

describe("primary → portable fallback", () => {
  /** A BERT whose primary graph is numerically wrong (a layer skipped). */
  const sabotaged = {
    ...bert,
    emit: (ctx: Parameters<typeof bert.emit>[0], config: Parameters<typeof bert.emit>[1], inputs: Parameters<typeof bert.emit>[2]) =>
      bert.emit(ctx, ctx.variant === "primary" ? { ...config, layers: config.layers - 1 } : config, inputs),
  };

  function encoderWith(architecture: typeof bert, model: SyntheticModel = syntheticBert({ seed: 24 })) {
    const encoder = loadEncoder(modelFolder(model));
    return { ...encoder, architecture: architecture as typeof encoder.architecture };
  }

  const options = (logger: Logger) => ({
    opset: 17,
    tokenTypeIds: false,
    variants: ["primary", "portable"] as const,
    metadata: {},
    producerVersion: "test",
    task: FEATURE_EXTRACTION,
    logger,
  });

  it("a primary graph that fails verification is replaced by the portable one, with a log line", async () => {
    const encoder = encoderWith(sabotaged);
    const logger = recordingLogger();
    const path = join(tempDir(), "m_fp32.onnx");
    const emitted = await emitVerifiedGraph(encoder, path, { ...options(logger), variants: ["primary", "portable"] });
    expect(emitted.variant).toBe("portable");
    expect(readModel(path).metadata.graph_variant).toBe("portable");
    expect(logger.lines.find((l) => l.startsWith("warning:"))).toMatch(
      /the primary graph failed verification \(max relative error .* exceeds 0\.0001\); emitting the portable graph instead/,
    );
    encoder.close();
  });

  it("when every variant fails: a clear error and no file", async () => {
    const encoder = encoderWith({ ...bert, emit: (ctx, c, i) => bert.emit(ctx, { ...c, layers: c.layers - 1 }, i) });
    const dir = tempDir();
    await expect(
      emitVerifiedGraph(encoder, join(dir, "m_fp32.onnx"), { ...options(recordingLogger()), variants: ["primary", "portable"] }),
    ).rejects.toThrow(/the portable graph did not verify \(max relative error/);
    expect(leftovers(dir)).toEqual([]);
    encoder.close();
  });

  describe("the work beside verification (the export's staging and load check)", () => {
    /** An `alongside` that records each variant and, when asked, runs the handed-over worker. */
    function recordingAlongside(logger: ReturnType<typeof recordingLogger>, config: EncoderConfig, fail?: string) {
      const seen: Array<{ variant: string; handedOver: boolean; verifiedLogged: boolean; ran?: string[] }> = [];
      const alongside = async (graph: GraphUnderVerification) => {
        const entry: (typeof seen)[number] = { variant: graph.variant, handedOver: false, verifiedLogged: false };
        seen.push(entry);
        const worker = await graph.verified.worker;
        entry.handedOver = true;
        entry.verifiedLogged = logger.lines.some((l) => l.includes(`verified ${graph.variant} graph`));
        entry.ran = Object.keys(await worker.run(batchFeeds(verificationBatch(config), worker.inputNames)));
        if (fail) throw new Error(fail);
      };
      return { seen, alongside };
    }

    it("runs for each variant; the worker is handed over only once its graph verified", async () => {
      const encoder = encoderWith(sabotaged);
      const logger = recordingLogger();
      const path = join(tempDir(), "m_fp32.onnx");
      const { seen, alongside } = recordingAlongside(logger, encoder.config);
      const emitted = await emitVerifiedGraph(
        encoder,
        path,
        { ...options(logger), variants: ["primary", "portable"] },
        undefined,
        alongside,
      );
      expect(emitted.variant).toBe("portable");
      expect(seen).toEqual([
        { variant: "primary", handedOver: false, verifiedLogged: false },
        { variant: "portable", handedOver: true, verifiedLogged: true, ran: ["last_hidden_state", "pooler_output"] },
      ]);
      encoder.close();
    });

    it("its failure is the export's: no other variant is tried", async () => {
      const encoder = encoderWith(bert);
      const logger = recordingLogger();
      const dir = tempDir();
      const { seen, alongside } = recordingAlongside(logger, encoder.config, "the folder does not load");
      const emit = { ...options(logger), variants: ["primary", "portable"] as ["primary", "portable"] };
      await expect(emitVerifiedGraph(encoder, join(dir, "m_fp32.onnx"), emit, undefined, alongside)).rejects.toThrow(
        "the folder does not load",
      );
      expect(seen.map((s) => s.variant)).toEqual(["primary"]);
      expect(logger.lines.some((l) => l.startsWith("warning:"))).toBe(false);
      encoder.close();
    });
  });

  describe("a native onnxruntime crash", () => {
    afterEach(() => {
      delete process.env.JAZZMINE_SIMULATE_ORT_CRASH;
    });

    it("is an ordinary error from the isolated session", async () => {
      const encoder = loadEncoder(modelFolder(syntheticBert({ seed: 25 })));
      const path = join(tempDir(), "crashy_fp32.onnx");
      await emitVerifiedGraph(encoder, path, { ...options(recordingLogger()), variants: ["portable"] });
      process.env.JAZZMINE_SIMULATE_ORT_CRASH = "crashy";
      await expect(IsolatedSession.open(path)).rejects.toThrow(/onnxruntime crashed \(SIGSEGV\)/);
      encoder.close();
    });

    it("while verifying the primary graph falls back to the portable graph; the process lives on", async () => {
      const source = modelFolder(syntheticBert({ seed: 26 }), {}, "crash-model");
      const logger = recordingLogger();
      const out = tempDir();
      // Both variants are written to the same path: crash only while the primary is being checked.
      let primaryChecked = false;
      const service = new EmbeddingService(source, {
        logger: {
          info: logger.info,
          warn: (m) => {
            primaryChecked = true;
            delete process.env.JAZZMINE_SIMULATE_ORT_CRASH;
            logger.warn(m);
          },
        },
      });
      process.env.JAZZMINE_SIMULATE_ORT_CRASH = "crash-model_fp32";
      const path = await service.exportOnnxModel(out, { quantized: false });
      expect(primaryChecked).toBe(true);
      expect(logger.lines.find((l) => l.startsWith("warning:"))).toMatch(
        /onnxruntime crashed \(SIGSEGV\).*emitting the portable graph instead/,
      );
      expect(readModel(path).metadata.graph_variant).toBe("portable");
      // The folder staged beside the primary's verification was staged again for the portable graph:
      // the manifest names it and hashes it (the runtime checks the hashes as it loads).
      const manifest = JSON.parse(readFileSync(join(out, "export_manifest.json"), "utf8")) as {
        exports: Array<{ settings: { variant: string }; files: Array<{ path: string; sha256: string }> }>;
      };
      expect(manifest.exports.map((e) => e.settings.variant)).toEqual(["portable"]);
      const published = manifest.exports[0]!.files.find((f) => f.path === "crash-model_fp32.onnx")!;
      expect(published.sha256).toBe(createHash("sha256").update(readFileSync(path)).digest("hex"));
      const embedder = await Embedder.load(out, { verify: "full" });
      expect(await embedder.embed(["after the fallback"])).toHaveLength(1);
      await embedder.close();
    });
  });
});

describe("bad input: one clear error, nothing half-written", () => {
  async function expectExportError(model: SyntheticModel | ((dir: string) => void), pattern: RegExp, options = {}) {
    const source = typeof model === "function" ? modelFolder(syntheticBert({ seed: 30 }), {}, "bad") : modelFolder(model, {}, "bad");
    if (typeof model === "function") model(source);
    const out = join(tempDir(), "out");
    const error = await new EmbeddingService(source, { logger: recordingLogger() })
      .exportOnnxModel(out, { quantized: false, ...options })
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(error, "export should fail").toBeInstanceOf(Error);
    expect(error!.message).toMatch(pattern);
    expect(error!.message).not.toContain("\n");
    expect(leftovers(out)).toEqual([]);
  }

  const weights = (dir: string) => join(dir, "model.safetensors");

  it("truncated safetensors", async () => {
    await expectExportError((dir) => {
      const bytes = readFileSync(weights(dir));
      writeFileSync(weights(dir), bytes.subarray(0, bytes.length >> 1));
    }, /model\.safetensors.*truncated/);
  });

  it("garbage instead of safetensors", async () => {
    await expectExportError((dir) => writeFileSync(weights(dir), "<html>404 Not Found</html>"), /model\.safetensors/);
  });

  it("a header lying about offsets", async () => {
    await expectExportError((dir) => {
      const { tensors } = syntheticBert({ seed: 30 });
      const good = encodeSafetensors(tensors);
      const headerLength = Number(new DataView(good.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + headerLength)));
      const first = Object.keys(header).find((k) => k !== "__metadata__")!;
      header[first].data_offsets[1] += 8;
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + json.length + good.length - 8 - headerLength);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      out.set(good.subarray(8 + headerLength), 8 + json.length);
      writeFileSync(weights(dir), out);
    }, /model\.safetensors.*data_offsets/);
  });

  it("a missing tensor", async () => {
    const model = syntheticBert({ seed: 31 });
    model.tensors = model.tensors.filter((t) => t.name !== "encoder.layer.1.output.dense.weight");
    await expectExportError(model, /encoder\.layer\.1\.output\.dense\.weight/);
  });

  it("a tensor of the wrong shape", async () => {
    const model = syntheticBert({ seed: 32 });
    const index = model.tensors.findIndex((t) => t.name === "encoder.layer.0.attention.self.query.weight");
    model.tensors[index] = { ...model.tensors[index]!, shape: [32, 16], data: new Float32Array(32 * 16) };
    await expectExportError(
      model,
      /"encoder\.layer\.0\.attention\.self\.query\.weight" has shape \[32, 16\] but config\.json implies \[32, 32\]/,
    );
  });

  it("an unsupported model_type", async () => {
    const model = syntheticBert({ seed: 33 });
    await expectExportError(
      { ...model, config: { ...model.config, model_type: "t5" } },
      /model_type "t5" is not supported; supported model types: .*bert/,
    );
  });

  it("no config.json / no tokenizer.json", async () => {
    const { rmSync } = await import("node:fs");
    await expectExportError((dir) => rmSync(join(dir, "config.json")), /config\.json does not exist/);
    await expectExportError((dir) => rmSync(join(dir, "tokenizer.json")), /has no tokenizer\.json/);
  });

  for (const opset of [12, 22, 17.5, "17", Number.NaN]) {
    it(`opset ${String(opset)}`, async () => {
      await expectExportError(syntheticBert(), /opset .* is not supported: choose an integer from 13 to 21/, { opset });
    });
  }

  it("an output path that is a file", async () => {
    const source = modelFolder(syntheticBert({ seed: 34 }));
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "x");
    await expect(new EmbeddingService(source, { logger: recordingLogger() }).exportOnnxModel(file, { quantized: false })).rejects.toThrow(
      `cannot create the output folder ${file}: a file with that name exists where a folder is needed; choose another output path`,
    );
    await expect(new EmbeddingService(source).exportOnnxModel(join(file, "sub"), { quantized: false })).rejects.toThrow(
      /cannot create the output folder .*a-file\/sub: a parent of it is a file/,
    );
  });
});
