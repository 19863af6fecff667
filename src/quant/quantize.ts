// FP32 encoder graph → INT8 model + quantization_report.json. Static mode: SmoothQuant where
// calibration finds outlier channels, activation ranges from MinMax or histogram observers over
// the calibration texts, QDQ rewrite; dynamic mode: int8 weights only. Both then measure fidelity against FP32 on held-out
// texts and, below the threshold, keep the most sensitive MatMuls in float until it holds.
import { existsSync, renameSync } from "node:fs";
import type { TokenBatch } from "../arch/architecture.js";
import type { Logger } from "../common/log.js";
import type { Model } from "../graph/ir.js";
import { externalDataPathOf, removeModelFiles, writeModel } from "../graph/onnx-writer.js";
import { initializerToFloat32 } from "../graph/onnx-reader.js";
import { validateModel } from "../graph/validate.js";
import { batchFeeds } from "../ort/feeds.js";
import { IsolatedSession } from "../ort/isolated-session.js";
import type { OutputTensor } from "../ort/protocol.js";
import { observeBatches, temporaryModelPath, withTemporarySession } from "./calibration.js";
import { QuantizationInputError, type TextSource, heldOutTexts } from "./corpus.js";
import { expandAttention } from "./attention-expansion.js";
import { quantizeDynamic } from "./dynamic.js";
import { layerErrors } from "./fidelity.js";
import { type FidelityJudge, embeddingJudge } from "./judge.js";
import { sparseJudge } from "./sparse-fidelity.js";
import { multiVectorJudge } from "./multi-vector-fidelity.js";
import { rerankJudge } from "./rank-fidelity.js";
import { builtinRerankHeldOut, calibrationPairs, pairBatches } from "./rerank-pairs.js";
import type { PairTokenizer } from "../artifact/pairs.js";
import { int4RelativeNoise } from "./int4.js";
import { type Int4Weights, quantizeInt4 } from "./matmul-nbits.js";
import { calibratedInt4Weights } from "./int4-calibration.js";
import { GraphIndex } from "./graph-index.js";
import { type Range, perChannelRelativeNoise } from "./int8.js";
import { type QuantizationSettings, precisionLabel } from "./options.js";
import { relativeNoise, selectRange } from "./range-selection.js";
import { type SmoothedActivation, applySmoothing, smoothingGroups } from "./smoothing.js";
import { type QuantizedModel, activationsToCalibrate, quantizeStatic } from "./static-qdq.js";
import { matMulTargets } from "./targets.js";
import type { ObservedTensor, TensorStatistics } from "../observers/tensor-stats.js";
import { type TextBatches, type TokenEncoder, batchByLength, tokenizeTexts } from "./tokenize.js";
import {
  type AnyQuantizationReport,
  type FallbackAttempt,
  type QuantizationReport,
  REPORT_FILE,
  type RerankQuantizationReport,
  round,
  writeQuantizationReport,
} from "./report.js";

/** Calibration batches that find outlier channels (they are systematic: a few batches show them). */
const SMOOTHING_BATCHES = 3;
/** Held-out rows the per-MatMul errors are measured on. */
const PROBE_ROWS = 8;
/** Activations beyond this magnitude can only come from a mask constant: never calibrated. */
const IMPLAUSIBLE_MAGNITUDE = 1e30;

/** Quantization could not produce a model that meets the settings. */
export class QuantizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuantizationError";
  }
}

export interface QuantizeRequest {
  /** The verified FP32 graph (lazily backed initializers are fine). */
  model: Model;
  /** Its file (sizes and names in the report; the FP32 reference is computed from `model`). */
  fp32Path: string;
  /** Where the INT8 model goes; the report goes beside it. */
  outputPath: string;
  tokenizer: TokenEncoder;
  padTokenId: number;
  /** The model's longest sequence (maxLength is capped to it). */
  maxSequence: number;
  settings: QuantizationSettings;
  calibration: TextSource;
  logger: Logger;
  /**
   * A reranker: calibrated on pairs of calibration texts and judged on the built-in held-out
   * query/document pairs (Spearman of the scores), pairs encoded with this tokenizer's template.
   */
  rerank?: { tokenizer: PairTokenizer };
  /** A SPLADE model: judged by its held-out sparse vectors (cosine, top-64 term overlap). */
  sparse?: boolean;
  /** A ColBERT model: judged by MaxSim scores of the built-in held-out query/document pairs. */
  multiVector?: boolean;
}

export interface QuantizationResult<R extends AnyQuantizationReport = QuantizationReport> {
  path: string;
  reportPath: string;
  report: R;
}

interface Calibrated {
  model: Model;
  statistics: Record<string, TensorStatistics>;
  ranges: Map<string, Range>;
  excluded: Array<{ tensor: string; reason: string }>;
  smoothed: SmoothedActivation[];
  reference: FloatReference;
  seconds: number;
}

/** What the INT8 model is judged against: the float graph's held-out outputs (as the judge measures them) and probed outputs. */
interface FloatReference {
  outputs: unknown;
  probe: Record<string, OutputTensor>;
}

type Judge = FidelityJudge<unknown, object>;

/** The calibration and held-out inputs of a request, and how the held-out outputs are judged. */
interface FidelitySetup {
  calibrationSet: TextBatches;
  heldOutSet: TextBatches;
  heldOut: TextSource;
  judge: Judge;
}

export function quantizeModel(
  request: QuantizeRequest & { rerank: NonNullable<QuantizeRequest["rerank"]> },
): Promise<QuantizationResult<RerankQuantizationReport>>;
export function quantizeModel(request: QuantizeRequest): Promise<QuantizationResult>;
export async function quantizeModel(original: QuantizeRequest): Promise<QuantizationResult<AnyQuantizationReport>> {
  const request = { ...original, model: expandAttention(original.model) };
  // One onnxruntime worker serves every step (float graph, then each INT8 candidate); it boots
  // while the texts are tokenized and the first model is written.
  const worker = IsolatedSession.start();
  try {
    return await quantizeWith(request, worker);
  } finally {
    worker.close();
  }
}

async function quantizeWith(request: QuantizeRequest, worker: IsolatedSession): Promise<QuantizationResult<AnyQuantizationReport>> {
  const started = performance.now();
  const { settings, logger } = request;
  const maxLength = Math.min(settings.maxLength, request.maxSequence);
  if (maxLength < settings.maxLength) logger.info(`calibration texts are cut at ${maxLength} tokens, the model's limit`);
  const { calibrationSet, heldOutSet, heldOut, judge } = fidelitySetup(request, maxLength);
  if (calibrationSet.truncated > 0)
    logger.info(`${calibrationSet.truncated} calibration texts were longer than ${maxLength} tokens and were truncated`);
  const probe = probeBatch(heldOutSet);

  const calibrated = settings.mode === "static" ? await calibrate(request, calibrationSet, judge, probe, worker) : undefined;
  const fidelityStarted = performance.now();
  const model = calibrated?.model ?? request.model;
  const probes = probeOutputs(model);
  const probeNames = probes.map((p) => p.output);
  const reference =
    calibrated?.reference ??
    (await withTemporarySession(
      model,
      probeNames,
      request.outputPath,
      "reference",
      (s) => floatReference(s, judge, probe, probeNames),
      worker,
    ));
  const int4 =
    settings.mode === "int4"
      ? await calibratedInt4Weights(
          model,
          settings.int4,
          calibrationSet.batches.map((b) => b.batch),
          request.outputPath,
          logger,
          worker,
        )
      : undefined;
  const outcome = await quantizeUntilFaithful(request, model, calibrated, reference.outputs, judge, worker, int4);
  try {
    return await finish(request, {
      calibrated,
      outcome,
      worker,
      probe,
      probes,
      reference,
      heldOut,
      calibrationSet,
      judge,
      maxLength,
      started,
      fidelityStarted,
    });
  } catch (error) {
    removeModelFiles(request.outputPath); // the model is in place: without its report it must not stay
    throw error;
  }
}

interface Finished {
  calibrated: Calibrated | undefined;
  outcome: Outcome;
  worker: IsolatedSession;
  probe: TokenBatch;
  probes: Array<{ node: string; output: string }>;
  reference: FloatReference;
  heldOut: TextSource;
  calibrationSet: TextBatches;
  judge: Judge;
  maxLength: number;
  started: number;
  fidelityStarted: number;
}

/** Per-layer errors of the accepted model, then the report beside it. */
async function finish(request: QuantizeRequest, done: Finished): Promise<QuantizationResult<AnyQuantizationReport>> {
  const { settings, logger } = request;
  const { calibrated, outcome, probe, probes, reference, heldOut, calibrationSet, maxLength } = done;
  const probeNames = probes.map((p) => p.output);
  const worstLayers = await withTemporarySession(
    outcome.quantized.model,
    probeNames,
    request.outputPath,
    "probe",
    async (s) => layerErrors(reference.probe, await s.run(batchFeeds(probe, s.inputNames), probeNames), probes).slice(0, 5),
    done.worker,
  );
  const fidelitySeconds = (performance.now() - done.fidelityStarted) / 1000;

  const { report, reportPath } = writeQuantizationReport(
    {
      outputPath: request.outputPath,
      fp32Path: request.fp32Path,
      settings,
      maxLength,
      calibration: request.calibration,
      heldOut,
      calibrationSet,
      ...(calibrated
        ? {
            calibrated: {
              seconds: calibrated.seconds,
              calibratedTensors: calibrated.ranges.size,
              excluded: calibrated.excluded,
              smoothed: calibrated.smoothed,
            },
          }
        : {}),
      outcome: {
        metrics: outcome.metrics,
        scoreName: done.judge.scoreName,
        score: outcome.score,
        summary: done.judge.summary(outcome.metrics),
        keptInFloat: [...outcome.keptInFloat],
        attempts: outcome.attempts,
        quantized: outcome.quantized.quantized.length,
        float: outcome.quantized.skipped,
      },
      worstLayers,
      fidelitySeconds,
      totalSeconds: (performance.now() - done.started) / 1000,
    },
    logger,
  );
  return { path: request.outputPath, reportPath, report };
}

/** What judging needs of a request: the tokenizer, the texts and the kind of model. */
export type FidelityRequest = Pick<
  QuantizeRequest,
  "tokenizer" | "padTokenId" | "settings" | "calibration" | "rerank" | "sparse" | "multiVector"
>;

function fidelitySetup(request: FidelityRequest, maxLength: number): FidelitySetup {
  const { batchSize } = request.settings;
  if (request.rerank) {
    const { tokenizer } = request.rerank;
    const held = builtinRerankHeldOut();
    const heldOutSet = pairBatches(tokenizer, held, maxLength, batchSize, request.padTokenId);
    return {
      calibrationSet: pairBatches(tokenizer, calibrationPairs(request.calibration), maxLength, batchSize, request.padTokenId),
      heldOutSet,
      heldOut: { texts: held.pairs.map(([, document]) => document), origin: held.origin },
      judge: rerankJudge(heldOutSet, held.queries) as Judge,
    };
  }
  if (request.multiVector) {
    const held = builtinRerankHeldOut();
    const queryTexts = [...new Set(held.pairs.map(([query]) => query))];
    const queries = textBatches(request, queryTexts, maxLength);
    const documents = textBatches(
      request,
      held.pairs.map(([, document]) => document),
      maxLength,
    );
    const pairQuery = held.pairs.map(([query]) => queryTexts.indexOf(query));
    return {
      calibrationSet: textBatches(request, request.calibration.texts, maxLength),
      heldOutSet: documents,
      heldOut: { texts: held.pairs.map(([, document]) => document), origin: held.origin },
      judge: multiVectorJudge(queries, documents, pairQuery, held.queries) as Judge,
    };
  }
  const heldOut = heldOutTexts(request.calibration.texts);
  if (heldOut.texts.length < 2) throw new QuantizationError("fewer than 2 held-out texts remain once calibration texts are excluded");
  const heldOutSet = textBatches(request, heldOut.texts, maxLength);
  const judge = (request.sparse ? sparseJudge(heldOutSet) : embeddingJudge(heldOutSet)) as Judge;
  return { calibrationSet: textBatches(request, request.calibration.texts, maxLength), heldOutSet, heldOut, judge };
}

function textBatches(request: FidelityRequest, texts: readonly string[], maxLength: number): TextBatches {
  const { sequences, truncated } = tokenizeTexts(request.tokenizer, texts, maxLength);
  return { texts: texts.length, truncated, batches: batchByLength(sequences, request.settings.batchSize, request.padTokenId) };
}

/** Up to PROBE_ROWS held-out texts of median length, as one batch. */
function probeBatch(set: TextBatches): TokenBatch {
  const middle = set.batches[set.batches.length >> 1]!.batch;
  const rows = Math.min(PROBE_ROWS, middle.batch);
  return {
    batch: rows,
    sequence: middle.sequence,
    inputIds: middle.inputIds.slice(0, rows * middle.sequence),
    attentionMask: middle.attentionMask.slice(0, rows * middle.sequence),
    ...(middle.tokenTypeIds ? { tokenTypeIds: middle.tokenTypeIds.slice(0, rows * middle.sequence) } : {}),
  };
}

/**
 * The output of every MatMul/Gemm, for the per-layer errors: after its bias Add when it has one
 * (a rewrite may fuse MatMul + Add into one Gemm writing the Add's output; that name survives).
 */
function probeOutputs(model: Model): Array<{ node: string; output: string }> {
  const index = new GraphIndex(model.graph);
  return matMulTargets(index).map((t) => {
    const output = t.node.outputs[0]!;
    const uses = index.usesOf(output);
    const add = uses.length === 1 && uses[0]!.node.opType === "Add" ? uses[0]!.node : undefined;
    const biased = add && add.inputs.some((i) => index.initializers.has(i));
    return { node: t.node.name, output: biased ? add.outputs[0]! : output };
  });
}

/**
 * One pass over the calibration batches in one worker, over the float graph with every candidate
 * activation (and the probed MatMul outputs) as extra outputs. With smoothing on, the first few
 * batches (spread over all lengths) also measure per-channel maxima; the parent then decides
 * what to smooth, and the remaining batches observe each smoothed tensor (X / s) by scaling X's
 * channels in the worker — the smoothed graph never needs a session, nor a second pass.
 */
async function calibrate(
  request: QuantizeRequest,
  set: TextBatches,
  judge: Judge,
  probe: TokenBatch,
  worker: IsolatedSession,
): Promise<Calibrated> {
  const started = performance.now();
  const { settings, logger } = request;
  const source = request.model;
  const candidates = activationsToCalibrate(source, settings.attentionMatMuls);
  const probes = probeOutputs(source).map((p) => p.output);
  const observer = settings.method === "minmax" ? "minmax" : "histogram";
  const observe = (name: string): ObservedTensor => ({ name, observer, bins: settings.bins });
  const groups = settings.smoothing ? smoothingGroups(source) : [];
  const { first, rest } = smoothingSplit(
    set.batches.map((b) => b.batch),
    groups.length > 0,
  );
  return withTemporarySession(
    source,
    [...candidates, ...probes],
    request.outputPath,
    "calibration",
    async (session) => {
      let model = source;
      let smoothed: SmoothedActivation[] = [];
      let factors = new Map<string, Float32Array>();
      const grouped = new Set(groups.map((g) => g.activation));
      const early = await observeBatches(
        session,
        first,
        candidates.map((name) => ({ ...observe(name), channelAbsMax: grouped.has(name) })),
        true,
      );
      if (settings.smoothing && groups.length > 0) {
        const channelAbsMax = new Map(
          Object.entries(early).flatMap(([name, st]) => (st.channelAbsMax ? [[name, st.channelAbsMax] as const] : [])),
        );
        ({ model, smoothed, factors } = applySmoothing(source, groups, channelAbsMax, settings.smoothing));
        if (smoothed.length > 0) {
          const worst = Math.max(...smoothed.map((s) => s.outlierRatio));
          logger.info(
            `SmoothQuant: smoothed ${smoothed.length} activations with outlier channels (largest channel up to ${worst.toFixed(1)}× the median)`,
          );
        }
      }
      // Unsmoothed tensors go on accumulating under their own names; smoothed ones start afresh.
      const sourceOf = new Map(smoothed.map((s) => [s.smoothed, s.activation]));
      const activations = activationsToCalibrate(model, settings.attentionMatMuls);
      const statistics = await observeBatches(
        session,
        rest,
        activations.map((name) => {
          const scale = factors.get(name);
          return scale ? { ...observe(sourceOf.get(name)!), key: name, channelScale: scale } : observe(name);
        }),
      );
      const calibrated = rangesFrom(request, model, activations, statistics, smoothed, set, started);
      return { ...calibrated, reference: await floatReference(session, judge, probe, probes) };
    },
    worker,
  );
}

/**
 * The batches that measure channel maxima first (spread over all lengths: batches are sorted by
 * length) and the rest. With a single batch it is observed twice (before and after smoothing).
 */
function smoothingSplit(batches: TokenBatch[], smoothing: boolean): { first: TokenBatch[]; rest: TokenBatch[] } {
  if (!smoothing) return { first: [], rest: batches };
  if (batches.length === 1) return { first: batches, rest: batches };
  const count = Math.min(SMOOTHING_BATCHES, Math.floor(batches.length / 2));
  const first = evenlySpaced(batches, count);
  const chosen = new Set(first);
  return { first, rest: batches.filter((b) => !chosen.has(b)) };
}

function rangesFrom(
  request: QuantizeRequest,
  model: Model,
  activations: readonly string[],
  statistics: Record<string, TensorStatistics>,
  smoothed: SmoothedActivation[],
  set: TextBatches,
  started: number,
): Omit<Calibrated, "reference"> {
  const { settings, logger } = request;
  const ranges = new Map<string, Range>();
  const excluded: Calibrated["excluded"] = [];
  for (const name of activations) {
    const stats = statistics[name]?.observer;
    const reason =
      !stats || stats.count === 0
        ? "no finite values observed"
        : stats.nonFinite > 0
          ? `${stats.nonFinite} non-finite values observed`
          : Math.max(Math.abs(stats.min), Math.abs(stats.max)) >= IMPLAUSIBLE_MAGNITUDE
            ? `reached ${Math.max(Math.abs(stats.min), Math.abs(stats.max)).toExponential(1)} (a mask constant?)`
            : undefined;
    if (reason || !stats) excluded.push({ tensor: name, reason: reason ?? "" });
    else
      ranges.set(name, selectRange(stats, settings.method, { activationType: settings.activationType, percentile: settings.percentile }));
  }
  if (ranges.size === 0 && excluded.length > 0) {
    // Nothing to quantize activations with: INT8 would be the float graph, and its fidelity a
    // comparison of a model with itself (the "cosine 1.0" of a model that computes NaN).
    const [first] = excluded;
    throw new QuantizationInputError(
      `calibration on ${set.texts} texts calibrated none of the ${excluded.length} activations (${first!.tensor}: ${first!.reason}); ` +
        "the model computes no finite values there: check its weights for NaN/Inf",
    );
  }
  for (const { tensor, reason } of excluded) logger.warn(`activation ${tensor} stays float: ${reason}`);
  const seconds = (performance.now() - started) / 1000;
  logger.info(`calibrated ${ranges.size} activations (${settings.method}) on ${set.texts} texts in ${seconds.toFixed(1)} s`);
  return { model, statistics, ranges, excluded, smoothed, seconds };
}

interface Outcome {
  quantized: QuantizedModel;
  metrics: object;
  score: number;
  keptInFloat: Set<string>;
  attempts: FallbackAttempt[];
}

/** Quantizes, measures, and keeps more of the most sensitive MatMuls in float until fidelity holds. */
async function quantizeUntilFaithful(
  request: QuantizeRequest,
  model: Model,
  calibrated: Calibrated | undefined,
  reference: unknown,
  judge: Judge,
  worker: IsolatedSession,
  int4?: Int4Weights,
): Promise<Outcome> {
  const { settings, logger } = request;
  const attempts: Outcome["attempts"] = [];
  let keptInFloat = new Set<string>();
  let ranking: string[] | undefined;
  for (;;) {
    const quantized = rewrite(model, settings, calibrated, keptInFloat, int4);
    validateModel(quantized.model);
    const temp = temporaryModelPath(request.outputPath, "int8");
    try {
      await writeModel(quantized.model, temp);
      await worker.load(temp);
      const { metrics, score: worst } = judge.compare(reference, await judge.measure(worker));
      attempts.push({ keptInFloat: keptInFloat.size, [judge.scoreName]: round(worst, 6) } as FallbackAttempt);
      if (worst >= settings.fidelityThreshold) {
        // A model with external data names its data file: write it again under the final name.
        if (existsSync(externalDataPathOf(temp))) await writeModel(quantized.model, request.outputPath);
        else renameSync(temp, request.outputPath);
        if (keptInFloat.size > 0)
          logger.warn(
            `kept ${keptInFloat.size} MatMuls ${fallbackPrecision(settings.mode)} to hold the fidelity threshold: ${[...keptInFloat].join(", ")}`,
          );
        return { quantized, metrics, score: worst, keptInFloat, attempts };
      }
      ranking ??= sensitivityRanking(model, quantized.quantized, calibrated, settings);
      const next = keptInFloat.size === 0 ? 1 : keptInFloat.size * 2;
      if (keptInFloat.size >= ranking.length) {
        throw new QuantizationError(
          `${precisionLabel(settings.mode)} cannot reach a ${judge.scoreLabel} of ${settings.fidelityThreshold}: even with every MatMul ${fallbackPrecision(settings.mode)} (embedding tables quantized) ` +
            `it reaches ${worst.toFixed(4)}; lower fidelityThreshold or export FP32 (--fp32)`,
        );
      }
      keptInFloat = new Set(ranking.slice(0, Math.min(next, ranking.length)));
      logger.warn(
        `${precisionLabel(settings.mode)} ${judge.scoreLabel} ${worst.toFixed(4)} is below ${settings.fidelityThreshold}; ` +
          `retrying with the ${keptInFloat.size} most sensitive MatMuls ${fallbackPrecision(settings.mode)}`,
      );
    } finally {
      removeModelFiles(temp);
    }
  }
}

/** Where the fidelity fallback keeps a MatMul. */
function fallbackPrecision(mode: QuantizationSettings["mode"]): string {
  return mode === "int4" ? "at 8 bits" : "in float";
}

function rewrite(
  model: Model,
  settings: QuantizationSettings,
  calibrated: Calibrated | undefined,
  keepFloat: ReadonlySet<string>,
  int4?: Int4Weights,
): QuantizedModel {
  const metadata = {
    quantization_mode: settings.mode,
    quantization_report: REPORT_FILE,
    ...(calibrated ? { calibration_method: settings.method, smoothed_activations: String(calibrated.smoothed.length) } : {}),
  };
  // INT4's fallback keeps the most sensitive MatMuls at 8 bits, INT8's in float.
  if (settings.mode === "int4")
    return quantizeInt4(model, {
      accuracyLevel: settings.accuracyLevel,
      eightBit: keepFloat,
      metadata,
      ...(int4 ? { weights: int4 } : {}),
    });
  if (!calibrated) return quantizeDynamic(model, { keepFloat, metadata });
  return quantizeStatic(model, {
    activationType: settings.activationType,
    ranges: calibrated.ranges,
    keepFloat,
    attentionMatMuls: settings.attentionMatMuls,
    metadata,
  });
}

/**
 * MatMuls ordered by the quantization noise they add (estimated, no extra runs): relative noise
 * of their activations (from the calibration histograms and chosen ranges) plus that of their
 * per-channel int8 weights.
 */
function sensitivityRanking(
  model: Model,
  quantized: readonly string[],
  calibrated: Calibrated | undefined,
  settings: QuantizationSettings,
): string[] {
  const chosen = new Set(quantized);
  const scored = matMulTargets(new GraphIndex(model.graph))
    .filter((t) => chosen.has(t.node.name))
    .map((t) => {
      let noise = 0;
      for (const { value } of t.activations) {
        const stats = calibrated?.statistics[value]?.observer;
        const range = calibrated?.ranges.get(value);
        if (stats && range) noise += relativeNoise(stats, range, settings.activationType);
      }
      if (t.weight) {
        const { initializer, channelAxis } = t.weight;
        const values = initializerToFloat32(initializer);
        noise +=
          settings.mode === "int4"
            ? int4RelativeNoise(values, initializer.dims[0]!, initializer.dims[1]!)
            : perChannelRelativeNoise(values, initializer.dims, channelAxis);
      }
      return { node: t.node.name, noise };
    });
  return scored.sort((a, b) => b.noise - a.noise).map((s) => s.node);
}

async function floatReference(session: IsolatedSession, judge: Judge, probe: TokenBatch, probes: string[]): Promise<FloatReference> {
  return {
    outputs: await judge.measure(session),
    probe: await session.run(batchFeeds(probe, session.inputNames), probes),
  };
}

/** `count` items spread over `items` (batches are sorted by length: take short and long ones). */
function evenlySpaced<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  if (count === 1) return [items[items.length >> 1]!]; // (i · (n − 1)) / (count − 1) would be 0 / 0
  return Array.from({ length: count }, (_, i) => items[Math.round((i * (items.length - 1)) / (count - 1))]!);
}

/**
 * Judges model files against a reference file as the quantizer judges its INT8 candidates (the
 * same held-out inputs and score): each candidate's score, 1 being perfect. One worker loads
 * each file in turn.
 */
export async function judgeModelFiles(
  request: FidelityRequest & { maxSequence: number },
  referencePath: string,
  candidatePaths: readonly string[],
): Promise<{ scoreName: string; scoreLabel: string; scores: number[] }> {
  const { judge } = fidelitySetup(request, Math.min(request.settings.maxLength, request.maxSequence));
  const worker = IsolatedSession.start();
  try {
    await worker.load(referencePath);
    const reference = await judge.measure(worker);
    const scores: number[] = [];
    for (const path of candidatePaths) {
      await worker.load(path);
      scores.push(judge.compare(reference, await judge.measure(worker)).score);
    }
    return { scoreName: judge.scoreName, scoreLabel: judge.scoreLabel, scores };
  } finally {
    worker.close();
  }
}
