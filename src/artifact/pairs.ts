// Query/document pairs encoded as Hugging Face tokenizers encode a text pair: each text tokenized
// without special tokens, the document (second text) truncated so the pair with its special tokens
// fits the model ("only_second": the query is never cut), then the pair template of tokenizer.json's
// post_processor applied — `[CLS] q [SEP] d [SEP]` with type ids 0…0 1…1 for BERT
// (TemplateProcessing / BertProcessing), `<s> q </s></s> d </s>` for RoBERTa (RobertaProcessing,
// type ids all 0 as the Rust processor gives them; RoBERTa models have no token types).

/** One element of a pair template: special tokens, or one of the two texts, with its type id. */
export type TemplatePiece = { special: number[]; typeId: number } | { sequence: "A" | "B"; typeId: number };

/** The part of @huggingface/tokenizers' Tokenizer used here. */
export interface PairTokenizer {
  encode(text: string, options: { add_special_tokens: false }): { ids: number[] };
  post_processor: { config: unknown } | null;
}

export interface EncodedPair {
  ids: number[];
  typeIds: number[];
  /** Document tokens dropped to fit. */
  truncated: number;
}

export class PairEncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PairEncodingError";
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** [token, id] as BertProcessing / RobertaProcessing store cls and sep. */
function tokenId(value: unknown, what: string): number {
  if (Array.isArray(value) && typeof value[1] === "number") return value[1];
  throw new PairEncodingError(`tokenizer.json post_processor: ${what} must be [token, id]`);
}

/** The pair template of a tokenizer.json post_processor config (null: the texts back to back). */
export function pairTemplate(config: unknown): TemplatePiece[] {
  if (config === null || config === undefined)
    return [
      { sequence: "A", typeId: 0 },
      { sequence: "B", typeId: 1 },
    ];
  if (!isObject(config)) throw new PairEncodingError("tokenizer.json post_processor is not an object");
  switch (config.type) {
    case "TemplateProcessing":
      return templateProcessing(config);
    case "BertProcessing": {
      const [cls, sep] = [tokenId(config.cls, "cls"), tokenId(config.sep, "sep")];
      return [
        { special: [cls], typeId: 0 },
        { sequence: "A", typeId: 0 },
        { special: [sep], typeId: 0 },
        { sequence: "B", typeId: 1 },
        { special: [sep], typeId: 1 },
      ];
    }
    case "RobertaProcessing": {
      const [cls, sep] = [tokenId(config.cls, "cls"), tokenId(config.sep, "sep")];
      return [
        { special: [cls], typeId: 0 },
        { sequence: "A", typeId: 0 },
        { special: [sep, sep], typeId: 0 },
        { sequence: "B", typeId: 0 },
        { special: [sep], typeId: 0 },
      ];
    }
    case "Sequence": {
      // e.g. [ByteLevel, TemplateProcessing]: ByteLevel only trims offsets; the template decides.
      const processors = Array.isArray(config.processors) ? config.processors : [];
      const placing = processors.filter((p) => isObject(p) && p.type !== "ByteLevel");
      if (placing.length > 1)
        throw new PairEncodingError("tokenizer.json post_processor: a Sequence with more than one template is not supported");
      return pairTemplate(placing[0] ?? null);
    }
    case "ByteLevel":
      return pairTemplate(null);
    default:
      throw new PairEncodingError(`tokenizer.json post_processor type ${JSON.stringify(config.type)} is not supported for text pairs`);
  }
}

function templateProcessing(config: Json): TemplatePiece[] {
  const { pair, special_tokens: specials } = config;
  if (!Array.isArray(pair) || !isObject(specials))
    throw new PairEncodingError("tokenizer.json TemplateProcessing needs a pair template and special_tokens");
  return pair.map((item): TemplatePiece => {
    if (isObject(item) && isObject(item.SpecialToken)) {
      const { id, type_id } = item.SpecialToken;
      const entry = specials[String(id)];
      if (!isObject(entry) || !Array.isArray(entry.ids))
        throw new PairEncodingError(`tokenizer.json TemplateProcessing: special token ${String(id)} has no ids`);
      return { special: entry.ids.map(Number), typeId: Number(type_id ?? 0) };
    }
    if (isObject(item) && isObject(item.Sequence) && (item.Sequence.id === "A" || item.Sequence.id === "B")) {
      return { sequence: item.Sequence.id, typeId: Number(item.Sequence.type_id ?? 0) };
    }
    throw new PairEncodingError(`tokenizer.json TemplateProcessing: unexpected pair item ${JSON.stringify(item)}`);
  });
}

/** Special tokens the template adds around a pair. */
export function specialTokenCount(template: readonly TemplatePiece[]): number {
  return template.reduce((n, piece) => n + ("special" in piece ? piece.special.length : 0), 0);
}

/** Encodes (query, document) pairs with one tokenizer's template and length limit. */
export class PairEncoder {
  readonly template: TemplatePiece[];
  private readonly specials: number;

  constructor(
    private readonly tokenizer: PairTokenizer,
    readonly maxLength: number,
  ) {
    this.template = pairTemplate(tokenizer.post_processor?.config ?? null);
    this.specials = specialTokenCount(this.template);
  }

  encode(query: string, document: string): EncodedPair {
    const a = this.tokenizer.encode(query, { add_special_tokens: false }).ids;
    let b = this.tokenizer.encode(document, { add_special_tokens: false }).ids;
    const overflow = a.length + b.length + this.specials - this.maxLength;
    let truncated = 0;
    if (overflow > 0) {
      // As tokenizers' only_second: the second text must keep at least one token.
      if (b.length <= overflow) {
        throw new PairEncodingError(
          `the query is ${a.length} tokens: with ${this.specials} special tokens it leaves no room for the document within ${this.maxLength} tokens; ` +
            `shorten the query (documents are truncated, queries are not)`,
        );
      }
      truncated = overflow;
      b = b.slice(0, b.length - overflow);
    }
    const ids: number[] = [];
    const typeIds: number[] = [];
    for (const piece of this.template) {
      const part = "special" in piece ? piece.special : piece.sequence === "A" ? a : b;
      for (const id of part) {
        ids.push(id);
        typeIds.push(piece.typeId);
      }
    }
    return { ids, typeIds, truncated };
  }
}
