// One implementation per judging kind a head can declare (heads/head.ts `HeadJudging`): which
// texts calibrate the model, which held-out inputs judge it, and the judge comparing a candidate
// with the float graph on them. The quantizer asks the graph's heads which kind applies; a new
// head picks one of these kinds and needs no quantizer change.
import type { HeadJudging, JudgingKind } from "../heads/head.js";
import type { PairTokenizer } from "../artifact/pairs.js";
import { QuantizationError, type TextSource, heldOutTexts } from "./corpus.js";
import { type FidelityJudge, embeddingJudge } from "./judge.js";
import { multiVectorJudge } from "./multi-vector-fidelity.js";
import type { QuantizationSettings } from "./options.js";
import { rerankJudge } from "./rank-fidelity.js";
import { builtinRerankHeldOut, calibrationPairs, pairBatches } from "./rerank-pairs.js";
import { sparseJudge } from "./sparse-fidelity.js";
import { type TextBatches, type TokenEncoder, batchByLength, tokenizeTexts } from "./tokenize.js";

export type Judge = FidelityJudge<unknown, object>;

/** What judging needs: the model's tokenizer (texts and pairs), its pad id, the settings and texts, and the heads' judging. */
export interface JudgingRequest {
  tokenizer: TokenEncoder & PairTokenizer;
  padTokenId: number;
  settings: QuantizationSettings;
  calibration: TextSource;
  judging: HeadJudging;
}

/** The calibration and held-out inputs of a request, and how the held-out outputs are judged. */
export interface FidelitySetup {
  calibrationSet: TextBatches;
  heldOutSet: TextBatches;
  heldOut: TextSource;
  judge: Judge;
}

type Setup<K extends JudgingKind> = (
  request: JudgingRequest,
  judging: Extract<HeadJudging, { kind: K }>,
  maxLength: number,
) => FidelitySetup;

const SETUPS: { [K in JudgingKind]: Setup<K> } = {
  cosine: (request, judging, maxLength) =>
    heldOutTextSetup(request, maxLength, (set) => embeddingJudge(set, judging.output, judging.tokenOutput)),
  "sparse-overlap": (request, judging, maxLength) => heldOutTextSetup(request, maxLength, (set) => sparseJudge(set, judging.output)),
  // A reranker is calibrated on pairs of calibration texts and judged on the built-in held-out
  // query/document pairs, encoded with the model's own pair template (an LLM reranker's prompt).
  spearman: (request, judging, maxLength) => {
    const { tokenizer, padTokenId } = request;
    const { batchSize } = request.settings;
    const held = builtinRerankHeldOut();
    const heldOutSet = pairBatches(tokenizer, held, maxLength, batchSize, padTokenId, judging.template);
    return {
      calibrationSet: pairBatches(tokenizer, calibrationPairs(request.calibration), maxLength, batchSize, padTokenId, judging.template),
      heldOutSet,
      heldOut: { texts: held.pairs.map(([, document]) => document), origin: held.origin },
      judge: rerankJudge(heldOutSet, held.queries, judging.output, {
        spearman: request.settings.fidelityThreshold,
        topK: request.settings.topKThreshold,
      }) as Judge,
    };
  },
  // Late interaction: queries and documents embedded separately, scored by MaxSim.
  maxsim: (request, judging, maxLength) => {
    const held = builtinRerankHeldOut();
    const queryTexts = [...new Set(held.pairs.map(([query]) => query))];
    const documentTexts = held.pairs.map(([, document]) => document);
    const documents = textBatches(request, documentTexts, maxLength);
    const pairQuery = held.pairs.map(([query]) => queryTexts.indexOf(query));
    return {
      calibrationSet: textBatches(request, request.calibration.texts, maxLength),
      heldOutSet: documents,
      heldOut: { texts: documentTexts, origin: held.origin },
      judge: multiVectorJudge(textBatches(request, queryTexts, maxLength), documents, pairQuery, held.queries, judging.output) as Judge,
    };
  },
};

export function fidelitySetup(request: JudgingRequest, maxLength: number): FidelitySetup {
  const setup = SETUPS[request.judging.kind] as Setup<JudgingKind>;
  return setup(request, request.judging as never, maxLength);
}

/** Held-out texts (the built-in ones not used for calibration), judged one text at a time. */
function heldOutTextSetup(
  request: JudgingRequest,
  maxLength: number,
  judge: (set: TextBatches) => FidelityJudge<unknown, object>,
): FidelitySetup {
  const heldOut = heldOutTexts(request.calibration.texts);
  if (heldOut.texts.length < 2) throw new QuantizationError("fewer than 2 held-out texts remain once calibration texts are excluded");
  const heldOutSet = textBatches(request, heldOut.texts, maxLength);
  return {
    calibrationSet: textBatches(request, request.calibration.texts, maxLength),
    heldOutSet,
    heldOut,
    judge: judge(heldOutSet) as Judge,
  };
}

function textBatches(request: JudgingRequest, texts: readonly string[], maxLength: number): TextBatches {
  const { sequences, truncated } = tokenizeTexts(request.tokenizer, texts, maxLength);
  return { texts: texts.length, truncated, batches: batchByLength(sequences, request.settings.batchSize, request.padTokenId) };
}
