// Query/document pairs as Hugging Face tokenizers encode them (templates of tokenizer.json's
// post_processor, "only_second" truncation), and the Reranker / `jazzmine-embed rerank` on
// exported synthetic cross-encoders: scores equal the reference forward's logits through
// sigmoid / softmax, sorted, topK, raw.
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
import { beforeAll, describe, expect, it } from "vitest";
import { loadEncoder } from "../src/arch/encoder-folder.js";
import { OUTPUT } from "../src/artifact/names.js";
import { PairEncoder, pairTemplate } from "../src/artifact/pairs.js";
import { silentLogger } from "../src/common/log.js";
import { EmbeddingService } from "../src/export/service.js";
import { relativeMaxError } from "../src/export/verify.js";
import { BUNDLED_TOKENIZER, BUNDLED_VOCAB_SIZE } from "../src/fixtures/model-folder.js";
import { syntheticBert } from "../src/fixtures/bert.js";
import { syntheticReranker } from "../src/fixtures/rerankers.js";
import { referenceOutputs } from "../src/heads/graph.js";
import { headsFor } from "../src/heads/tasks.js";
import { padBatch } from "../src/quant/tokenize.js";
import { Embedder } from "../src/runtime/embedder.js";
import { Reranker, relevance } from "../src/runtime/reranker.js";
import { modelFolder, runCli, tempDir } from "./helpers/index.js";

const bert = new Tokenizer(JSON.parse(readFileSync(BUNDLED_TOKENIZER, "utf8")), {});

/** A WordPiece tokenizer.json with RoBERTa's post-processor: <s>=0, <pad>=1, </s>=2, <unk>=3. */
function robertaStyleTokenizer(): Tokenizer {
  const words = ["<s>", "<pad>", "</s>", "<unk>", "how", "tall", "is", "the", "tower", "it", "is", "very", "high"];
  const vocab = Object.fromEntries([...new Set(words)].map((w, i) => [w, i]));
  const special = (content: string) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return new Tokenizer(
    {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: ["<s>", "<pad>", "</s>", "<unk>"].map(special),
      normalizer: null,
      pre_tokenizer: { type: "Whitespace" },
      post_processor: { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0], trim_offsets: true, add_prefix_space: false },
      decoder: null,
      model: { type: "WordPiece", unk_token: "<unk>", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
    },
    {},
  );
}

describe("pair tokenization", () => {
  const query = "what is the capital of france?";
  const doc = "Paris is the capital and most populous city of France, on the Seine.";

  it("BERT (TemplateProcessing): [CLS] q [SEP] d [SEP], types 0…0 1…1, as the tokenizer itself encodes the pair", () => {
    const pair = new PairEncoder(bert, 128).encode(query, doc);
    const own = bert.encode(query, { text_pair: doc, return_token_type_ids: true });
    expect(pair.ids).toEqual(own.ids);
    expect(pair.typeIds).toEqual(own.token_type_ids);
    expect(pair.truncated).toBe(0);
    const q = bert.encode(query, { add_special_tokens: false }).ids;
    expect(pair.ids.slice(0, q.length + 2)).toEqual([101, ...q, 102]);
    expect(pair.ids.at(-1)).toBe(102);
    expect(pair.typeIds.indexOf(1)).toBe(q.length + 2);
  });

  it("only_second: the document is cut to fit, the query never; a query that leaves no room is an error", () => {
    const q = bert.encode(query, { add_special_tokens: false }).ids;
    const d = bert.encode(doc, { add_special_tokens: false }).ids;
    const maxLength = q.length + 3 + 5;
    const pair = new PairEncoder(bert, maxLength).encode(query, doc);
    expect(pair.ids).toEqual([101, ...q, 102, ...d.slice(0, 5), 102]);
    expect(pair.typeIds).toEqual([...Array(q.length + 2).fill(0), ...Array(6).fill(1)]);
    expect(pair.truncated).toBe(d.length - 5);
    // A document of exactly the room left is kept whole; the query alone too long fails.
    expect(new PairEncoder(bert, q.length + 3 + d.length).encode(query, doc).truncated).toBe(0);
    expect(() => new PairEncoder(bert, q.length + 3).encode(query, doc)).toThrow(
      /the query is \d+ tokens.*leaves no room for the document within \d+ tokens; shorten the query/,
    );
  });

  it("RoBERTa (RobertaProcessing): <s> q </s></s> d </s>, type ids all 0, truncating the document", () => {
    const tokenizer = robertaStyleTokenizer();
    const pair = new PairEncoder(tokenizer, 64).encode("how tall is the tower", "it is very high");
    expect(pair.ids).toEqual([0, 4, 5, 6, 7, 8, 2, 2, 9, 6, 10, 11, 2]);
    expect(pair.ids).toEqual(tokenizer.encode("how tall is the tower", { text_pair: "it is very high" }).ids);
    expect(pair.typeIds.every((t) => t === 0)).toBe(true);
    expect(new PairEncoder(tokenizer, 10).encode("how tall is the tower", "it is very high").ids).toEqual([0, 4, 5, 6, 7, 8, 2, 2, 9, 2]);
  });

  it("reads BertProcessing and Sequence post-processors, and refuses others", () => {
    expect(pairTemplate({ type: "BertProcessing", sep: ["[SEP]", 102], cls: ["[CLS]", 101] })).toEqual([
      { special: [101], typeId: 0 },
      { sequence: "A", typeId: 0 },
      { special: [102], typeId: 0 },
      { sequence: "B", typeId: 1 },
      { special: [102], typeId: 1 },
    ]);
    const roberta = { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0] };
    expect(pairTemplate({ type: "Sequence", processors: [{ type: "ByteLevel" }, roberta] })).toEqual(pairTemplate(roberta));
    expect(() => pairTemplate({ type: "Mystery" })).toThrow(/post_processor type "Mystery" is not supported for text pairs/);
  });

  it("padBatch carries the pairs' token types (type 0 at padding)", () => {
    const batch = padBatch([[1, 2, 3], [4]], 0, [[0, 1, 1], [0]]);
    expect([...batch.tokenTypeIds!]).toEqual([0, 1, 1, 0, 0, 0]);
  });
});

describe("relevance scores", () => {
  it("sigmoid of one logit, softmax probability of the last label, or the raw logit", () => {
    expect(relevance([0], false)).toBe(0.5);
    expect(relevance([Math.log(3)], false)).toBeCloseTo(0.75, 12);
    expect(relevance([0, Math.log(3)], false)).toBeCloseTo(0.75, 12);
    expect(relevance([1, 1, 1], false)).toBeCloseTo(1 / 3, 12);
    expect(relevance([0.2, -1.5], true)).toBe(-1.5);
  });
});

describe("Reranker", () => {
  const query = "how tall is the eiffel tower";
  const documents = [
    "The tower is 330 metres tall.",
    "Bananas are rich in potassium.",
    "It was built for the 1889 World's Fair.",
    "",
    "Paris 🗼 at night",
  ];
  let source: string;
  let exported: string;

  beforeAll(async () => {
    source = modelFolder(syntheticReranker("bert", { seed: 21, vocab: BUNDLED_VOCAB_SIZE }), {}, "bert-reranker");
    exported = tempDir();
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(exported, { quantized: false });
  }, 60_000);

  it("scores are sigmoid(logits) of the reference forward on the encoded pairs; rerank sorts them; topK and raw", async () => {
    const reranker = await Reranker.load(exported);
    const encoder = loadEncoder(source);
    try {
      expect(reranker.tokenTypes).toBe(true);
      const pairs = new PairEncoder(bert, reranker.maxLength);
      const encoded = documents.map((d) => pairs.encode(query, d));
      const batch = padBatch(
        encoded.map((e) => e.ids),
        0,
        encoded.map((e) => e.typeIds),
      );
      const logits = referenceOutputs(encoder, headsFor(encoder, { task: "rerank" }), batch)[OUTPUT.logits]!;
      const raw = await reranker.score(query, documents, { raw: true, batchSize: 2 });
      expect(relativeMaxError(raw, logits)).toBeLessThanOrEqual(1e-4);
      const ranked = await reranker.rerank(query, documents);
      expect(ranked.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
      for (const r of ranked) expect(r.score).toBeCloseTo(1 / (1 + Math.exp(-logits[r.index]!)), 5);
      expect(ranked.map((r) => r.score)).toEqual([...ranked.map((r) => r.score)].sort((a, b) => b - a));
      expect(await reranker.rerank(query, documents, { topK: 2 })).toEqual(ranked.slice(0, 2));
      await expect(reranker.rerank(query, documents, { topK: 0 })).rejects.toThrow(/topK must be a positive integer/);
      await expect(reranker.rerank(query, [1 as unknown as string])).rejects.toThrow(/documents\[0\] is number, not a string/);
      expect(reranker.instruction).toBeUndefined();
      await expect(reranker.rerank(query, documents, { instruction: "x" })).rejects.toThrow(/without a prompt template/);
    } finally {
      encoder.close();
      await reranker.close();
    }
  });

  it("an embedding folder is refused with what to use instead, and the Embedder refuses a reranker", async () => {
    await expect(Embedder.load(exported)).rejects.toThrow(/is a reranker .*load it with Reranker\.load/);
    const embedding = tempDir();
    await new EmbeddingService(modelFolder(syntheticBert({ seed: 23 })), { logger: silentLogger }).exportOnnxModel(embedding, {
      quantized: false,
    });
    await expect(Reranker.load(embedding)).rejects.toThrow(
      /has no logits output \(it has last_hidden_state, pooler_output\), so it is not a reranker/,
    );
  });

  it("onnxruntime in a child process (the default) and in this one give the same scores", async () => {
    const [local, isolated] = await Promise.all([Reranker.load(exported, { isolated: false }), Reranker.load(exported)]);
    try {
      expect(await isolated.score(query, documents, { raw: true })).toEqual(await local.score(query, documents, { raw: true }));
    } finally {
      await Promise.all([local.close(), isolated.close()]);
    }
  });

  it("jazzmine-embed rerank prints the documents best first as JSON; --top-k", async () => {
    const run = await runCli(["rerank", exported, "--query", query, ...documents.slice(0, 3), "--top-k", "2", "--quiet"], { env: {} });
    expect(run.code).toBe(0);
    const rows = JSON.parse(run.stdout) as Array<{ index: number; score: number; document: string }>;
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.document).toBe(documents[row.index]);
    expect(rows[0]!.score).toBeGreaterThanOrEqual(rows[1]!.score);
    const missing = await runCli(["rerank", exported, "doc"], { env: {} });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing --query <text>/);
  });
});

describe("Reranker with three labels (softmax) and no token types", () => {
  it("scores are the softmax probability of the last label", async () => {
    const source = modelFolder(syntheticReranker("distilbert", { seed: 22, labels: 3, vocab: BUNDLED_VOCAB_SIZE }));
    const out = tempDir();
    await new EmbeddingService(source, { logger: silentLogger }).exportOnnxModel(out, { quantized: false });
    const reranker = await Reranker.load(out);
    const encoder = loadEncoder(source);
    try {
      expect(reranker.tokenTypes).toBe(false);
      const docs = ["first document", "a second, longer document about something else entirely"];
      const encoded = docs.map((d) => new PairEncoder(bert, reranker.maxLength).encode("a query", d));
      const logits = referenceOutputs(
        encoder,
        headsFor(encoder, { task: "rerank" }),
        padBatch(
          encoded.map((e) => e.ids),
          0,
        ),
      )[OUTPUT.logits]!;
      const scores = await reranker.score("a query", docs);
      docs.forEach((_, i) => expect(scores[i]).toBeCloseTo(relevance(logits.subarray(i * 3, i * 3 + 3), false), 5));
    } finally {
      encoder.close();
      await reranker.close();
    }
  }, 60_000);
});
