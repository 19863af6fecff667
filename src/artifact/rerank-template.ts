// The prompt of an LLM reranker (Qwen3-Reranker): a chat prefix, a body naming the instruction,
// the query and the document, and the assistant suffix after which the model answers "yes" or
// "no". The template is part of the model: the export stores it (graph metadata and
// rerank_template.json beside the model) and the Reranker, the calibration and the fidelity judge
// all encode pairs with it — as the model card's process_inputs does: prefix tokens + the body
// tokenized as one text (cut at its end, so only the document shortens) + suffix tokens.
import type { EncodedPair, PairTokenizer } from "./pairs.js";
import { PairEncodingError } from "./pairs.js";

export interface RerankTemplate {
  /** Tokens before the body (the system message and the user turn's start). */
  prefix: string;
  /** The body, with {instruction}, {query} and {document} in this order, {document} last. */
  body: string;
  /** Tokens after the body (the user turn's end and the assistant turn's start). */
  suffix: string;
  /** The instruction when a call gives none. */
  instruction: string;
}

/** The file beside the model that holds the template (also in the graph's metadata). */
export const RERANK_TEMPLATE_FILE = "rerank_template.json";

/** Qwen3-Reranker's prompt as its model card writes it (format_instruction, prefix, suffix). */
export const QWEN3_RERANKER_TEMPLATE: RerankTemplate = {
  prefix:
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
    'Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n',
  body: "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}",
  suffix: "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
  instruction: "Given a web search query, retrieve relevant passages that answer the query",
};

const PLACEHOLDERS = ["{instruction}", "{query}", "{document}"] as const;

/** A template read from JSON (metadata, a file): every field a string, the body's placeholders in order, {document} last. */
export function parseRerankTemplate(value: unknown, where: string): RerankTemplate {
  const t = value as Partial<Record<keyof RerankTemplate, unknown>> | null;
  const fields = ["prefix", "body", "suffix", "instruction"] as const;
  const bad = fields.find((f) => typeof t?.[f] !== "string");
  if (!t || bad) throw new PairEncodingError(`${where}: the rerank template's "${bad ?? "prefix"}" must be a string`);
  const body = t.body as string;
  const at = PLACEHOLDERS.map((p) => body.indexOf(p));
  if (at.some((i) => i < 0) || at[0]! > at[1]! || at[1]! > at[2]! || !body.endsWith("{document}")) {
    throw new PairEncodingError(
      `${where}: the rerank template's body must hold {instruction}, {query} and {document} in this order, {document} last`,
    );
  }
  return { prefix: t.prefix as string, body, suffix: t.suffix as string, instruction: t.instruction as string };
}

/** Pairs encoded with a rerank template; the instruction may change per call. */
export class PromptPairEncoder {
  private readonly prefix: number[];
  private readonly suffix: number[];

  constructor(
    private readonly tokenizer: PairTokenizer,
    readonly maxLength: number,
    readonly template: RerankTemplate,
  ) {
    this.prefix = tokenizer.encode(template.prefix, { add_special_tokens: false }).ids;
    this.suffix = tokenizer.encode(template.suffix, { add_special_tokens: false }).ids;
  }

  encode(query: string, document: string, instruction = this.template.instruction): EncodedPair {
    const fill = (doc: string) =>
      this.template.body
        .replace("{instruction}", () => instruction)
        .replace("{query}", () => query)
        .replace("{document}", () => doc);
    const encode = (text: string) => this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const body = encode(fill(document));
    const room = this.maxLength - this.prefix.length - this.suffix.length;
    let kept = body;
    if (body.length > room) {
      // The body ends with the document: cutting its end shortens the document only, as long as
      // the tokens before it (the body with an empty document, minus its trailing space) stay.
      const head = encode(fill("").trimEnd()).length;
      if (head > room) {
        throw new PairEncodingError(
          `the instruction and query take ${head} tokens: with the template's ${this.prefix.length + this.suffix.length} tokens they leave no room for the document within ${this.maxLength} tokens; ` +
            `shorten the query or the instruction (documents are truncated, queries are not)`,
        );
      }
      kept = body.slice(0, room);
    }
    const ids = [...this.prefix, ...kept, ...this.suffix];
    return { ids, typeIds: new Array<number>(ids.length).fill(0), truncated: body.length - kept.length };
  }
}
