// An export proves its folder loads before it publishes: the runtime that serves the task opens
// the staged folder and runs a few texts, so that a folder `embed` would refuse (a tokenizer.json
// it cannot load, a ColBERT marker outside the vocabulary) is never reported as done. The export
// exits 1 with one line naming the file and the field, and nothing is published: a new folder is
// not created, an earlier export in the folder stays as it was.
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_FAILURE, EXIT_OK } from "../src/cli/cli.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { writeColbertFolder, writePylateFolder } from "../src/fixtures/retrieval.js";
import { cliProcess } from "./helpers/cli-process.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const TINY = { vocab: BUNDLED_VOCAB_SIZE, layers: 1, hidden: 32, heads: 2, intermediate: 64, maxPositions: 64 };
const env = { ...process.env, HF_HUB_OFFLINE: "1", JAZZMINE_DEBUG: "" };

const listing = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).sort();

/** Rewrites the JSON file `path` with `edit` applied. */
function editJson(path: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

describe("export: the staged folder is opened by its runtime before it is published", () => {
  it("tokenizer.json without a model: exit 1 naming tokenizer.json and model; the earlier export in the folder is kept as it was", async () => {
    const good = modelFolder(syntheticBert({ ...TINY, seed: 61 }), {}, "good");
    const out = join(tempDir(), "out");
    const first = await runCli(["export", good, "-o", out, "--fp32", "-q"], { env });
    expect(first.code, first.stderr).toBe(EXIT_OK);
    const before = listing(out).map((file) => [file, existsSync(join(out, file)) ? readFileSync(join(out, file)).length : -1]);
    const manifestBefore = readFileSync(join(out, "export_manifest.json"), "utf8");

    const broken = modelFolder(syntheticBert({ ...TINY, seed: 62 }), {}, "good");
    editJson(join(broken, "tokenizer.json"), (json) => delete json.model);
    const run = await cliProcess(["export", broken, "-o", out, "--fp32", "-q"], { env });
    expect(run.code).toBe(EXIT_FAILURE);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /does not load in Embedder .*tokenizer\.json could not be loaded as a tokenizer \(Tokenizer must contain a "model" property\)/,
    );
    expect(lines[0]).toContain(`nothing was published into ${out}`);
    expect(run.stdout).toBe("");
    expect(listing(out).map((file) => [file, existsSync(join(out, file)) ? readFileSync(join(out, file)).length : -1])).toEqual(before);
    expect(readFileSync(join(out, "export_manifest.json"), "utf8")).toBe(manifestBefore);
  });

  it("tokenizer.json of the wrong model type: exit 1 and no folder is created", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 63 }), {}, "wrong-type");
    editJson(join(source, "tokenizer.json"), (json) => ((json.model as Record<string, unknown>).type = "Unigram"));
    const out = join(tempDir(), "new", "out");
    const run = await runCli(["export", source, "-o", out, "--fp32", "-q"], { env });
    expect([run.code, run.stderr]).toEqual([EXIT_FAILURE, expect.stringMatching(/does not load in Embedder .*tokenizer\.json/)]);
    expect(existsSync(join(out, ".."))).toBe(false);
  });

  it("a pipeline with Dense after pooling still exports: the check pools as modules.json says, as embed --pooling does", async () => {
    const source = modelFolder(syntheticBert({ ...TINY, seed: 64 }), { sentence: { pooling: "mean", normalize: true } }, "dense-after");
    const modules = JSON.parse(readFileSync(join(source, "modules.json"), "utf8")) as unknown[];
    modules.push({ idx: 2, name: "2", path: "2_Dense", type: "sentence_transformers.models.Dense" });
    writeFileSync(join(source, "modules.json"), JSON.stringify(modules));
    const out = join(tempDir(), "dense-out");
    const run = await runCli(["export", source, "-o", out, "--fp32", "-q"], { env });
    expect(run.code, run.stderr).toBe(EXIT_OK);
    const embed = await runCli(["embed", out, "hello", "--pooling", "mean", "-q"], { env });
    expect(embed.code, embed.stderr).toBe(EXIT_OK);
  });

  it("ColBERT: a query_token_id outside the vocabulary is named (file and field); nothing is published", async () => {
    const source = writeColbertFolder(join(tempDir(), "colbert"), {
      vocab: BUNDLED_VOCAB_SIZE,
      bert: TINY,
      metadata: { query_token_id: "[QRY]" },
    });
    const out = join(tempDir(), "colbert-out");
    const run = await cliProcess(["export", source, "-o", out, "--fp32", "-q"], { env });
    expect(run.code).toBe(EXIT_FAILURE);
    expect(run.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /does not load in MultiVectorEmbedder .*tokenizer\.json has no token "\[QRY\]", the query marker .*artifact\.metadata query_token_id/,
      ),
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it("PyLate: a document_prefix outside the vocabulary is refused the same way", async () => {
    const source = writePylateFolder(join(tempDir(), "pylate"), { vocab: BUNDLED_VOCAB_SIZE, settings: { document_prefix: "[DOC]" } });
    const out = join(tempDir(), "pylate-out");
    const run = await runCli(["export", source, "-o", out, "--fp32", "-q"], { env });
    expect([run.code, run.stderr]).toEqual([
      EXIT_FAILURE,
      expect.stringMatching(/tokenizer\.json has no token "\[DOC\]", the document marker .*document_prefix/),
    ]);
    expect(existsSync(out)).toBe(false);
  });
});
