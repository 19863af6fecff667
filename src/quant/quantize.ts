// FP32 encoder graph → INT8 model + quantization_report.json. Static mode: SmoothQuant where
// calibration finds outlier channels, activation ranges from MinMax or histogram observers over
// the calibration texts, QDQ rewrite; dynamic mode: int8 weights only. Both then measure fidelity against FP32 on held-out
// texts and, below the threshold, keep the most sensitive MatMuls in float until it holds.
import { existsSync, renameSync } from "node:fs";
import type { TokenBatch } from "../arch/architecture.js";
import type { Logger } from "../common/log.js";
import type { Model } from "../graph/ir.js";
import { externalDataPathOf, removeModelFiles, writeModel } from "../graph/onnx-file.js";
import { validateModel } from "../graph/validate.js";
import { batchFeeds } from "../ort/feeds.js";
import { IsolatedSession } from "../ort/isolated-session.js";
import type { OutputTensor } from "../ort/protocol.js";
import { observeBatches, temporaryModelPath, withTemporarySession } from "./calibration.js";
import { QuantizationError, QuantizationInputError, type TextSource } from "./corpus.js";
import { expandAttention } from "./attention-expansion.js";
import { quantizeDynamic } from "./dynamic.js";
import { layerErrors } from "./fidelity.js";
import { type Judge, type JudgingRequest, fidelitySetup } from "./judging.js";
import type { HeadJudging } from "../heads/head.js";
import { type Int4Weights, quantizeInt4 } from "./matmul-nbits.js";
import { calibratedInt4Weights } from "./int4-calibration.js";
import { GraphIndex } from "./graph-index.js";
import type { Range } from "./int8.js";
import { type QuantizationSettings, precisionLabel } from "./options.js";
import { selectRange } from "./range-selection.js";
import {
  type SmoothedActivation,
  type SmoothingGroup,
  type SmoothingOptions,
  type SmoothingResult,
  applySmoothing,
  smoothingGroups,
} from "./smoothing.js";
import { tablesInFloat16 } from "./tables.js";
import { type QuantizedModel, activationsToCalibrate, quantizeStatic } from "./static-qdq.js";
import { embeddingTargets, matMulTargets } from "./targets.js";
import type { ObservedTensor, TensorStatistics } from "../observers/tensor-stats.js";
import type { TextBatches } from "./tokenize.js";
import {
  type AnyQuantizationReport,
  type FallbackAttempt,
  type FallbackUnit,
  type Sensitivity,
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

export interface QuantizeRequest {
  /** The verified FP32 graph (lazily backed initializers are fine). */
  model: Model;
  /** Its file (sizes and names in the report; the FP32 reference is computed from `model`). */
  fp32Path: string;
  /** Where the INT8 model goes; the report goes beside it. */
  outputPath: string;
  tokenizer: JudgingRequest["tokenizer"];
  padTokenId: number;
  /** The model's longest sequence (maxLength is capped to it). */
  maxSequence: number;
  settings: QuantizationSettings;
  calibration: TextSource;
  logger: Logger;
  /** How the graph's heads are judged (heads/head.ts `judgingOf`): which inputs calibrate and judge it. */
  judging: HeadJudging;
  /** Stops the quantizer: every model file it writes stops between tensors with the signal's reason. */
  signal?: AbortSignal;
}

export interface QuantizationResult<R extends AnyQuantizationReport = QuantizationReport> {
  path: string;
  reportPath: string;
  report: R;
}

/** The float model the quantizer rewrites (smoothed where outlier channels were found) and what was smoothed. */
interface Smoothed {
  model: Model;
  smoothed: SmoothedActivation[];
}

interface Calibrated extends Smoothed {
  statistics: Record<string, TensorStatistics>;
  ranges: Map<string, Range>;
  excluded: Array<{ tensor: string; reason: string }>;
  reference: FloatReference;
  seconds: number;
}

/** What the INT8 model is judged against: the float graph's held-out outputs (as the judge measures them) and probed outputs. */
interface FloatReference {
  outputs: unknown;
  probe: Record<string, OutputTensor>;
}

export function quantizeModel(
  request: QuantizeRequest & { judging: { kind: "spearman" } },
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
  const prepared: Smoothed =
    calibrated ??
    (settings.mode === "dynamic" ? await smoothForDynamic(request, calibrationSet, worker) : { model: request.model, smoothed: [] });
  const fidelityStarted = performance.now();
  const model = prepared.model;
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
      request.signal,
    ));
  // INT4's calibrated weight methods (GPTQ, AWQ) read the MatMul inputs' Gram matrices, gathered on the calibration texts.
  const int4 =
    settings.mode === "int4"
      ? await calibratedInt4Weights(
          model,
          settings.int4,
          calibrationSet.batches.map((b) => b.batch),
          request.outputPath,
          logger,
          worker,
          request.signal,
        )
      : undefined;
  const outcome = await quantizeUntilFaithful(request, prepared, calibrated, reference.outputs, judge, worker, int4);
  try {
    return await finish(request, {
      calibrated,
      smoothed: prepared.smoothed,
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
  smoothed: SmoothedActivation[];
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
    request.signal,
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
            },
          }
        : {}),
      smoothed: done.smoothed,
      outcome: {
        metrics: outcome.metrics,
        scoreName: done.judge.scoreName,
        score: outcome.score,
        summary: done.judge.summary(outcome.metrics),
        keptInFloat: [...outcome.kept.matMuls],
        keptAt8Bits: [...outcome.kept.eightBit],
        tablesInFloat16: [...outcome.kept.tables],
        floatActivations: outcome.kept.activations,
        sensitivity: outcome.sensitivity,
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
      if (settings.smoothing && groups.length > 0)
        ({ model, smoothed, factors } = smoothWith(source, groups, early, settings.smoothing, logger));
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
    request.signal,
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

/** SmoothQuant over the groups whose measured channel maxima show outlier channels. */
function smoothWith(
  source: Model,
  groups: readonly SmoothingGroup[],
  observed: Record<string, TensorStatistics>,
  options: SmoothingOptions,
  logger: Logger,
): SmoothingResult {
  const channelAbsMax = new Map(
    Object.entries(observed).flatMap(([name, st]) => (st.channelAbsMax ? [[name, st.channelAbsMax] as const] : [])),
  );
  const result = applySmoothing(source, groups, channelAbsMax, options);
  if (result.smoothed.length > 0) {
    const worst = Math.max(...result.smoothed.map((s) => s.outlierRatio));
    logger.info(
      `SmoothQuant: smoothed ${result.smoothed.length} activations with outlier channels (largest channel up to ${worst.toFixed(1)}× the median)`,
    );
  }
  return result;
}

/**
 * Dynamic mode quantizes each activation per tensor at run time, so outlier channels cost it as
 * much as static mode: the same per-channel migration, its channel maxima measured on a few
 * calibration batches (no ranges are needed).
 */
async function smoothForDynamic(request: QuantizeRequest, set: TextBatches, worker: IsolatedSession): Promise<Smoothed> {
  const { settings, logger } = request;
  const source = request.model;
  const groups = settings.smoothing ? smoothingGroups(source) : [];
  if (!settings.smoothing || groups.length === 0) return { model: source, smoothed: [] };
  const options = settings.smoothing;
  const { first } = smoothingSplit(
    set.batches.map((b) => b.batch),
    true,
  );
  const activations = groups.map((g) => g.activation);
  return withTemporarySession(
    source,
    activations,
    request.outputPath,
    "smoothing",
    async (session) => {
      const observed = await observeBatches(
        session,
        first,
        activations.map((name) => ({ name, observer: "minmax", bins: settings.bins, channelAbsMax: true })),
      );
      return smoothWith(source, groups, observed, options, logger);
    },
    worker,
    request.signal,
  );
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
  kept: Kept;
  sensitivity: Sensitivity[];
  attempts: FallbackAttempt[];
}

/**
 * What the fallback keeps at higher precision: MatMuls (float, or 8 bits in INT4), embedding
 * tables (float16) and INT4's activations (float compute).
 */
interface Kept {
  /** MatMuls in float. */
  matMuls: ReadonlySet<string>;
  /** INT4: MatMuls at 8 bits. */
  eightBit: ReadonlySet<string>;
  tables: ReadonlySet<string>;
  activations: boolean;
}

const NOTHING_KEPT: Kept = { matMuls: new Set(), eightBit: new Set(), tables: new Set(), activations: false };

/** The unit of INT4's activations (MatMulNBits at accuracy_level 4 quantizes them to int8 per block of K). */
const INT4_ACTIVATIONS: FallbackUnit = { kind: "activations", names: ["MatMulNBits activations (int8 per block)"] };

/**
 * Quantizes and measures; below the threshold, ranks every quantized part (MatMuls with their
 * weights and activation ranges, embedding tables) by what it alone costs the held-out score,
 * and keeps more of the costliest at higher precision until the score holds.
 */
async function quantizeUntilFaithful(
  request: QuantizeRequest,
  prepared: Smoothed,
  calibrated: Calibrated | undefined,
  reference: unknown,
  judge: Judge,
  worker: IsolatedSession,
  int4?: Int4Weights,
): Promise<Outcome> {
  const { settings, logger } = request;
  const attempts: Outcome["attempts"] = [];
  const label = precisionLabel(settings.mode);
  let kept = NOTHING_KEPT;
  let keptUnits = 0;
  let floatUnits = 0; // INT4's last rung: MatMul units in float rather than at 8 bits
  let ranking: Sensitivity[] | undefined;
  for (;;) {
    const quantized = rewrite(prepared, settings, calibrated, kept, int4);
    const keptCount = kept.matMuls.size + kept.eightBit.size + kept.tables.size;
    const { metrics, score: worst, accepted } = await judgeCandidate(request, quantized.model, reference, judge, worker, true);
    attempts.push({ keptInFloat: keptCount + (kept.activations ? 1 : 0), [judge.scoreName]: round(worst, 6) } as FallbackAttempt);
    if (accepted) {
      if (kept.eightBit.size > 0)
        logger.warn(`kept ${kept.eightBit.size} MatMuls at 8 bits to hold the fidelity threshold: ${[...kept.eightBit].join(", ")}`);
      if (kept.matMuls.size > 0)
        logger.warn(`kept ${kept.matMuls.size} MatMuls in float to hold the fidelity threshold: ${[...kept.matMuls].join(", ")}`);
      if (kept.tables.size > 0)
        logger.warn(`kept embedding tables in float16 to hold the fidelity threshold: ${[...kept.tables].join(", ")}`);
      if (kept.activations) logger.warn("kept MatMulNBits' activations in float (accuracy_level 1) to hold the fidelity threshold");
      return { quantized, metrics, score: worst, kept, sensitivity: ranking ?? [], attempts };
    }
    ranking ??= await measureSensitivity(
      request,
      prepared,
      calibrated,
      fallbackUnits(prepared.model, quantized, settings),
      reference,
      judge,
      worker,
      int4,
    );
    const matMulUnits = ranking.filter((u) => u.kind === "matmuls");
    if (keptUnits < ranking.length) keptUnits = doubled(keptUnits, ranking.length);
    else if (settings.mode === "int4" && floatUnits < matMulUnits.length) floatUnits = doubled(floatUnits, matMulUnits.length);
    else {
      const top = ranking[0];
      throw new QuantizationError(
        `${label} cannot reach a ${judge.scoreLabel} of ${settings.fidelityThreshold}: even with every MatMul in float ` +
          `and every embedding table in float16${settings.mode === "int4" ? " (activations in float)" : ""} it reaches ${worst.toFixed(4)}` +
          (top ? `; the part that moves it most is ${describeUnit(top)} (quantized alone: ${top.score.toFixed(4)})` : "") +
          "; lower fidelityThreshold or export FP32 (--fp32)",
      );
    }
    kept = keptOf(ranking.slice(0, keptUnits), settings.mode, matMulUnits.slice(0, floatUnits));
    logger.warn(
      `${label} ${judge.scoreLabel} ${worst.toFixed(4)} is below ${settings.fidelityThreshold}; ` +
        `retrying with the ${keptUnits} parts that cost it most kept at higher precision${floatUnits > 0 ? ` (${floatUnits} groups of MatMuls in float)` : ""} (first: ${describeUnit(ranking[0]!)})`,
    );
  }
}

/**
 * Writes a candidate, loads it in the worker and judges it. `keep`: a passing candidate becomes
 * the output file (written again under the final name when it has external data).
 */
async function judgeCandidate(
  request: QuantizeRequest,
  candidate: Model,
  reference: unknown,
  judge: Judge,
  worker: IsolatedSession,
  keep: boolean,
): Promise<{ metrics: object; score: number; accepted: boolean }> {
  validateModel(candidate);
  const temp = temporaryModelPath(request.outputPath, "int8");
  try {
    await writeModel(candidate, temp, { signal: request.signal });
    await worker.load(temp);
    const { metrics, score } = judge.compare(reference, await judge.measure(worker));
    const accepted = keep && score >= request.settings.fidelityThreshold;
    if (accepted) {
      if (existsSync(externalDataPathOf(temp))) await writeModel(candidate, request.outputPath, { signal: request.signal });
      else renameSync(temp, request.outputPath);
    }
    return { metrics, score, accepted };
  } finally {
    removeModelFiles(temp);
  }
}

/** MatMuls measured together: consecutive in graph order, about one layer's (one run of the judge per group). */
const MATMULS_PER_UNIT = 4;

/** The embedding tables stored at low precision, one unit each, and the quantized MatMuls, a few consecutive ones per unit. */
function fallbackUnits(model: Model, candidate: QuantizedModel, settings: QuantizationSettings): FallbackUnit[] {
  const units: FallbackUnit[] = embeddingTargets(new GraphIndex(model.graph)).map((t) => ({ kind: "table", names: [t.initializer.name] }));
  if (settings.mode === "int4" && settings.accuracyLevel === 4) units.push(INT4_ACTIVATIONS);
  for (let i = 0; i < candidate.quantized.length; i += MATMULS_PER_UNIT)
    units.push({ kind: "matmuls", names: candidate.quantized.slice(i, i + MATMULS_PER_UNIT) });
  return units;
}

/**
 * Each unit's cost, measured: the held-out score of the model with that unit alone quantized
 * (every other one kept), worst first. One run of the judge per unit; no estimate can tell a
 * table that short texts cannot afford from one they can.
 */
async function measureSensitivity(
  request: QuantizeRequest,
  prepared: Smoothed,
  calibrated: Calibrated | undefined,
  units: readonly FallbackUnit[],
  reference: unknown,
  judge: Judge,
  worker: IsolatedSession,
  int4: Int4Weights | undefined,
): Promise<Sensitivity[]> {
  const started = performance.now();
  const measured: Sensitivity[] = [];
  for (const unit of units) {
    const candidate = rewrite(
      prepared,
      request.settings,
      calibrated,
      keptOf(
        units.filter((u) => u !== unit),
        request.settings.mode,
      ),
      int4,
    );
    const { score } = await judgeCandidate(request, candidate.model, reference, judge, worker, false);
    measured.push({ ...unit, score: round(score, 6) });
  }
  measured.sort((a, b) => a.score - b.score);
  request.logger.info(
    `measured what each of ${units.length} quantized parts costs the ${judge.scoreLabel} in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
      `costliest: ${measured
        .slice(0, 3)
        .map((u) => `${describeUnit(u)} ${u.score.toFixed(4)}`)
        .join(", ")}`,
  );
  return measured;
}

/** 1, then twice as many, at most `limit`. */
const doubled = (count: number, limit: number) => Math.min(count === 0 ? 1 : count * 2, limit);

/** What keeping `units` means in `mode`: INT4 keeps MatMuls at 8 bits, but those of `floatUnits` in float; INT8 keeps them in float. */
function keptOf(units: readonly FallbackUnit[], mode: QuantizationSettings["mode"], floatUnits: readonly FallbackUnit[] = []): Kept {
  const matMuls = units.flatMap((u) => (u.kind === "matmuls" ? u.names : []));
  const float = new Set(mode === "int4" ? floatUnits.flatMap((u) => u.names) : matMuls);
  return {
    matMuls: float,
    eightBit: new Set(mode === "int4" ? matMuls.filter((name) => !float.has(name)) : []),
    tables: new Set(units.flatMap((u) => (u.kind === "table" ? u.names : []))),
    activations: units.some((u) => u.kind === "activations"),
  };
}

function describeUnit(unit: FallbackUnit): string {
  return unit.kind === "table"
    ? `embedding table ${unit.names[0]}`
    : unit.kind === "activations"
      ? unit.names[0]!
      : `MatMuls ${unit.names.join(", ")}`;
}

function rewrite(
  prepared: Smoothed,
  settings: QuantizationSettings,
  calibrated: Calibrated | undefined,
  kept: Kept,
  int4?: Int4Weights,
): QuantizedModel {
  const metadata = {
    quantization_mode: settings.mode,
    quantization_report: REPORT_FILE,
    ...(calibrated ? { calibration_method: settings.method } : {}),
    ...(settings.mode !== "int4" && settings.smoothing ? { smoothed_activations: String(prepared.smoothed.length) } : {}),
  };
  const source = tablesInFloat16(prepared.model, kept.tables);
  const keepFloat = kept.matMuls;
  if (settings.mode === "int4")
    return quantizeInt4(source, {
      accuracyLevel: kept.activations ? 1 : settings.accuracyLevel,
      eightBit: kept.eightBit,
      keepFloat,
      metadata,
      ...(int4 ? { weights: int4 } : {}),
    });
  if (!calibrated) return quantizeDynamic(source, { keepFloat, metadata });
  return quantizeStatic(source, {
    activationType: settings.activationType,
    ranges: calibrated.ranges,
    keepFloat,
    attentionMatMuls: settings.attentionMatMuls,
    metadata,
  });
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
  request: JudgingRequest & { maxSequence: number },
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
