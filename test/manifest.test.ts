// The export manifest: every export lists its files (sizes, sha256), its source and settings in
// export_manifest.json, written last; the Embedder loads what it names, ignores files it does not
// list (another export's leftovers) and refuses a folder whose listed files differ, naming the
// file; so do the other runtimes. A folder without a manifest (exported before manifests) is
// read by the old rules.
import { createHash } from "node:crypto";
import { cpSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MANIFEST_FILE, type FolderManifest } from "../src/artifact/manifest.js";
import { EXIT_FAILURE, EXIT_OK } from "../src/cli/cli.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { Embedder } from "../src/runtime/embedder.js";
import { Reranker } from "../src/runtime/reranker.js";
import { SparseEmbedder } from "../src/runtime/sparse-embedder.js";
import { syntheticReranker } from "../src/fixtures/rerankers.js";
import { writeSpladeFolder } from "../src/fixtures/retrieval.js";
import { cliProcess } from "./helpers/cli-process.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
const env = { ...process.env, JAZZMINE_DEBUG: "" };
const TEXT = "the folder holds two exports";

const listing = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).sort();
const readManifestJson = (dir: string): FolderManifest => JSON.parse(readFileSync(join(dir, MANIFEST_FILE), "utf8"));
/** The most recent export's entry. */
const lastExport = (dir: string) => readManifestJson(dir).exports.at(-1)!;
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** `embed <dir> TEXT --json` in this process: exit code, stderr, and the summary when it worked. */
async function embed(dir: string, ...flags: string[]) {
  const run = await runCli(["embed", dir, TEXT, "--json", "-q", ...flags], { env });
  return {
    ...run,
    summary: run.code === EXIT_OK ? (JSON.parse(run.stdout) as { model: string; pooling: string; vectors: number[][] }) : undefined,
  };
}

let sourceA: string;
let sourceB: string;
/** A exported INT8 with mean pooling (its modules.json), then B (no modules.json) FP32 into the same folder. */
let shared: string;
/** B alone. */
let clean: string;

beforeAll(async () => {
  sourceA = modelFolder(syntheticBert({ ...TINY, seed: 81 }), { sentence: { pooling: "mean", normalize: true } }, "model-a");
  sourceB = modelFolder(syntheticBert({ ...TINY, seed: 82 }), {}, "model-b");
  shared = join(tempDir(), "shared");
  await new EmbeddingService(sourceA, { logger: silentLogger }).exportOnnxModel(shared, { quantized: true });
  await new EmbeddingService(sourceB, { logger: silentLogger }).exportOnnxModel(shared, { quantized: false });
  clean = join(tempDir(), "clean");
  await new EmbeddingService(sourceB, { logger: silentLogger }).exportOnnxModel(clean, { quantized: false });
});

describe("export_manifest.json", () => {
  it("lists exactly each export's files (sizes, sha256), the source and the settings, and is written last", () => {
    const folder = readManifestJson(shared);
    expect(folder).toMatchObject({ format: "jazzmine-export-manifest", version: 2 });
    // A's INT8 export stays listed: B rewrote no file of it with other bytes (same config and tokenizer).
    expect(folder.exports.map((e) => e.model)).toEqual(["model-a_int8_qdq.onnx", "model-b_fp32.onnx"]);
    const manifest = folder.exports[1]!;
    expect(manifest).toMatchObject({
      producer: expect.stringMatching(/^@jazzmine\/embedding \d+\.\d+\.\d+/),
      source: { model: sourceB },
      settings: { task: "feature-extraction", precision: "fp32", layout: "flat", opset: 17, variant: "primary", tokenTypeIds: false },
      model: "model-b_fp32.onnx",
    });
    expect(manifest.files.map((f) => f.path)).toEqual(["config.json", "model-b_fp32.onnx", "tokenizer.json", "tokenizer_config.json"]);
    for (const file of manifest.files) {
      expect(file.bytes, file.path).toBe(statSync(join(shared, file.path)).size);
      expect(file.sha256, file.path).toBe(sha256(join(shared, file.path)));
    }
    const written = statSync(join(shared, MANIFEST_FILE)).mtimeMs;
    for (const file of manifest.files) expect(statSync(join(shared, file.path)).mtimeMs).toBeLessThanOrEqual(written);
  });

  it("B exported FP32 over A's INT8 folder: embed uses B's model and not A's modules.json (both were used before)", async () => {
    expect(listing(shared)).toEqual([
      "1_Pooling",
      "1_Pooling/config.json", // A's
      "config.json",
      MANIFEST_FILE,
      "model-a_int8_qdq.onnx", // A's
      "model-b_fp32.onnx",
      "modules.json",
      "quantization_report.json", // A's
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const run = await embed(shared);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(EXIT_OK);
    expect(run.summary).toMatchObject({ model: join(shared, "model-b_fp32.onnx"), pooling: "cls" });
    expect(run.summary!.vectors).toEqual((await embed(clean)).summary!.vectors);
  });

  it("a listed file that another export replaced (same size, other bytes) is refused, naming it; exit 1", async () => {
    const dir = cloneOf(shared, "replaced");
    const model = join(dir, "model-b_fp32.onnx");
    const bytes = readFileSync(model);
    bytes[bytes.length >> 1] ^= 0xff; // a weight byte: same size, another model
    writeFileSync(model, bytes);
    const before = listing(dir);
    const run = await embed(dir);
    expect(run.code).toBe(EXIT_FAILURE);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, exitCode: EXIT_FAILURE });
    expect(run.stderr).toMatch(
      new RegExp(
        `^jazzmine-embed: error: ${escape(model)} is not the file this export wrote \\(sha256 [0-9a-f]{12}…; export_manifest\\.json records ${bytes.length} bytes, sha256 [0-9a-f]{12}…\\): ` +
          `another export or an edit replaced it; export the model into ${escape(dir)} again\\n$`,
      ),
    );
    expect(listing(dir)).toEqual(before);
    await expect(Embedder.load(dir)).rejects.toThrow(`${model} is not the file this export wrote`);
  });

  it("an edited tokenizer_config.json (other size) and a deleted tokenizer.json are named", async () => {
    const edited = cloneOf(shared, "edited");
    writeFileSync(join(edited, "tokenizer_config.json"), "{}\n");
    const run = await embed(edited);
    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stderr).toMatch(
      new RegExp(`^jazzmine-embed: error: ${escape(join(edited, "tokenizer_config.json"))} is not the file this export wrote \\(3 bytes; `),
    );

    const deleted = cloneOf(shared, "deleted");
    rmSync(join(deleted, "tokenizer.json"));
    expect(await embed(deleted)).toMatchObject({
      code: EXIT_FAILURE,
      stderr: `jazzmine-embed: error: ${join(deleted, "tokenizer.json")} is missing, but export_manifest.json lists it as part of the export; export the model into ${deleted} again\n`,
    });
  });

  it("--file names a model an export lists (A's INT8, with A's files); a file no export lists is refused", async () => {
    expect((await embed(shared, "--file", "model-a_int8_qdq.onnx")).summary).toMatchObject({
      model: join(shared, "model-a_int8_qdq.onnx"),
      pooling: "mean",
    });
    const stray = cloneOf(shared, "stray");
    cpSync(join(stray, "model-b_fp32.onnx"), join(stray, "stray.onnx"));
    expect(await embed(stray, "--file", "stray.onnx")).toMatchObject({
      code: EXIT_FAILURE,
      stderr: `jazzmine-embed: error: stray.onnx is not a model of the exports in ${stray} (export_manifest.json lists model-a_int8_qdq.onnx, model-b_fp32.onnx); choose one of those with --file <name>\n`,
    });
    expect((await embed(shared, "--file", "model-b_fp32.onnx")).code).toBe(EXIT_OK);
    expect((await embed(shared, "--file", join(shared, "model-b_fp32.onnx"))).code).toBe(EXIT_OK);
  });

  it("a folder without a manifest (exported before manifests) is read by the old rules: the INT8 file and modules.json", async () => {
    const legacy = cloneOf(shared, "legacy");
    rmSync(join(legacy, MANIFEST_FILE));
    const run = await embed(legacy);
    expect(run.code, run.stderr).toBe(EXIT_OK);
    expect(run.summary).toMatchObject({ model: join(legacy, "model-a_int8_qdq.onnx"), pooling: "mean" });
  });

  it("a manifest that is not one, or names a path outside the folder, is refused naming the manifest", async () => {
    const broken = cloneOf(shared, "broken");
    writeFileSync(join(broken, MANIFEST_FILE), "{ not json");
    const run = await embed(broken);
    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stderr).toMatch(
      new RegExp(
        `^jazzmine-embed: error: ${escape(join(broken, MANIFEST_FILE))} is not an export manifest this version reads \\(not JSON: `,
      ),
    );

    const climbing = cloneOf(shared, "climbing");
    const manifest = readManifestJson(climbing);
    manifest.exports[0]!.files[0]!.path = "../../etc/passwd";
    writeFileSync(join(climbing, MANIFEST_FILE), JSON.stringify(manifest));
    expect((await embed(climbing)).stderr).toBe(
      `jazzmine-embed: error: ${join(climbing, MANIFEST_FILE)} is not an export manifest this version reads (exports[0].files[0] is not { path inside the folder, bytes, sha256 }); export the model into ${climbing} again\n`,
    );
  });

  it("names files in the export's layout: onnx/model.onnx for transformers.js", async () => {
    const out = join(tempDir(), "tjs");
    await new EmbeddingService(sourceB, { logger: silentLogger }).exportOnnxModel(out, { quantized: false, layout: "transformers.js" });
    const manifest = lastExport(out);
    expect(manifest.model).toBe("onnx/model.onnx");
    expect(manifest.files.map((f) => f.path)).toEqual(["config.json", "onnx/model.onnx", "tokenizer.json", "tokenizer_config.json"]);
    expect((await embed(out)).summary).toMatchObject({ model: join(out, "onnx", "model.onnx") });
  });
});

describe("every runtime", () => {
  it("Reranker and SparseEmbedder check the manifest too; rerank and embed --sparse run onnxruntime in a child (a >30 KB argument works)", async () => {
    const reranker = join(tempDir(), "reranker");
    await new EmbeddingService(modelFolder(syntheticReranker("bert", { seed: 83, vocab: BUNDLED_VOCAB_SIZE }), {}, "rr"), {
      logger: silentLogger,
    }).exportOnnxModel(reranker, {
      quantized: false,
    });
    const splade = join(tempDir(), "splade-out");
    await new EmbeddingService(writeSpladeFolder(join(tempDir(), "splade"), { vocab: BUNDLED_VOCAB_SIZE }), {
      logger: silentLogger,
    }).exportOnnxModel(splade, {
      quantized: false,
    });
    const long = Array.from({ length: 5000 }, (_, i) => `word${i}`).join(" ");
    const ranked = await cliProcess(["rerank", reranker, "--query", "which word", long, "short", "-q"], { env });
    expect(ranked.stderr).toBe("");
    expect(ranked.code).toBe(EXIT_OK);
    expect((JSON.parse(ranked.stdout) as unknown[]).length).toBe(2);
    const sparse = await cliProcess(["embed", splade, long, "--sparse", "-q"], { env });
    expect(sparse.stderr).toBe("");
    expect(sparse.code).toBe(EXIT_OK);
    expect((JSON.parse(sparse.stdout) as unknown[]).length).toBe(1);

    for (const dir of [reranker, splade]) writeFileSync(join(dir, "tokenizer_config.json"), "{}\n");
    const stale = (dir: string) => `${join(dir, "tokenizer_config.json")} is not the file this export wrote (3 bytes; `;
    await expect(Reranker.load(reranker)).rejects.toThrow(stale(reranker));
    await expect(SparseEmbedder.load(splade)).rejects.toThrow(stale(splade));
    const refused = await runCli(["rerank", reranker, "--query", "q", "d"], { env });
    expect(refused.code).toBe(EXIT_FAILURE);
    expect(refused.stderr.startsWith(`jazzmine-embed: error: ${stale(reranker)}`)).toBe(true);
  });
});

/** A copy of `dir` to damage. */
function cloneOf(dir: string, name: string): string {
  const copy = join(tempDir(), name);
  cpSync(dir, copy, { recursive: true });
  return copy;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
