// Inference measurements in onnxruntime-node, as a user's process loads the exported files
// (optimization level "all", the chosen intra-op thread count): session load time, then per
// input shape the latency of every variant, runs interleaved round by round.
import { setTimeout as sleep } from "node:timers/promises";
import * as ort from "onnxruntime-node";
import type { EncoderConfig } from "../arch/architecture.js";
import { randomBatch } from "../fixtures/batches.js";
import { ortFeeds } from "../ort/ort-feeds.js";
import { type Shape, shapeLabel } from "./shapes.js";
import { median, medianRatio, quantile, roundOrder } from "./stats.js";

export interface LatencyModel {
  key: string;
  path: string;
}

export interface RoundPolicy {
  /** Exactly this many rounds per shape (--runs). */
  fixed?: number;
  /** Otherwise: as many rounds as fit this budget per shape, within [min, max]. */
  budgetMs: number;
  min: number;
  max: number;
}

export interface LatencyPlan {
  models: readonly LatencyModel[];
  shapes: readonly Shape[];
  threads: number;
  /**
   * onnxruntime's intra-op threads spin while waiting for work (its default). Off by default
   * here: the sessions of the variants live in one process, and an idle session's spinning
   * threads take cores from the one being timed (on 2 cores, small shapes are slower
   * interleaved than alone). On, a pause before each run lets the previous session's threads
   * go to sleep.
   */
  spinning: boolean;
  config: EncoderConfig;
  rounds: RoundPolicy;
  /** Session creations per model (interleaved) for the load time. */
  loadRounds: number;
  /** Ratios are to this model's runs in the same rounds (the first model by default). */
  baseline?: string;
  log?: (message: string) => void;
}

export interface SessionLoad {
  variant: string;
  /** Median of the session creations. */
  loadMs: number;
  samples: number[];
}

export interface ShapeLatency {
  variant: string;
  p50Ms: number;
  p95Ms: number;
  /** batch × sequence tokens per second at the median latency. */
  tokensPerSecond: number;
  /** Median of per-round latency ratios to the baseline model. */
  ratioToBaseline: number;
}

export interface ShapeResult {
  shape: Shape;
  rounds: number;
  baseline: string;
  results: ShapeLatency[];
  /** Raw per-round latencies (ms) per variant, for anyone who wants other statistics. */
  samples: Record<string, number[]>;
}

const WARMUP_RUNS = 2;
/** With spinning on: longer than onnxruntime's workers spin before they block. */
const SPIN_SETTLE_MS = 20;

export async function measureLatency(plan: LatencyPlan): Promise<{ sessions: SessionLoad[]; shapes: ShapeResult[] }> {
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: "all",
    intraOpNumThreads: plan.threads,
    interOpNumThreads: 1,
    ...(plan.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: "0" } } } }),
  };
  const { sessions, loads } = await loadSessions(plan, options);
  try {
    const shapes: ShapeResult[] = [];
    for (const shape of plan.shapes) shapes.push(await measureShape(plan, sessions, shape));
    return { sessions: loads, shapes };
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

async function loadSessions(plan: LatencyPlan, options: ort.InferenceSession.SessionOptions) {
  const samples = plan.models.map(() => [] as number[]);
  let sessions: ort.InferenceSession[] = [];
  for (let round = 0; round < plan.loadRounds; round++) {
    const last = round === plan.loadRounds - 1;
    const created: ort.InferenceSession[] = [];
    for (const i of roundOrder(plan.models.length, round)) {
      const started = performance.now();
      const session = await ort.InferenceSession.create(plan.models[i]!.path, options);
      samples[i]!.push(performance.now() - started);
      if (last) created[i] = session;
      else await session.release();
    }
    sessions = created;
  }
  plan.log?.(`loaded ${plan.models.length} sessions (${plan.loadRounds} creations each)`);
  return {
    sessions,
    loads: plan.models.map((m, i): SessionLoad => ({ variant: m.key, loadMs: median(samples[i]!), samples: samples[i]! })),
  };
}

async function measureShape(plan: LatencyPlan, sessions: ort.InferenceSession[], shape: Shape): Promise<ShapeResult> {
  const batch = randomBatch(plan.config, { batch: shape.batch, sequence: shape.sequence, padded: false, seed: 17 });
  const feeds = sessions.map((session) => ortFeeds(batch, session.inputNames));
  const settle = plan.spinning && sessions.length > 1 ? SPIN_SETTLE_MS : 0;
  const timeRun = async (i: number) => {
    if (settle) await sleep(settle);
    const started = performance.now();
    await sessions[i]!.run(feeds[i]!);
    return performance.now() - started;
  };
  let roundMs = 0;
  for (let w = 0; w < WARMUP_RUNS; w++) {
    roundMs = 0;
    for (let i = 0; i < sessions.length; i++) roundMs += await timeRun(i);
  }
  const { fixed, budgetMs, min, max } = plan.rounds;
  const rounds = fixed ?? Math.max(min, Math.min(max, Math.floor(budgetMs / Math.max(roundMs, 1e-3))));
  plan.log?.(`latency ${shapeLabel(shape)}: ${rounds} interleaved rounds`);
  const times = sessions.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (const i of roundOrder(sessions.length, round)) times[i]!.push(await timeRun(i));
  }
  const baselineIndex = Math.max(
    0,
    plan.models.findIndex((m) => m.key === plan.baseline),
  );
  const tokens = shape.batch * shape.sequence;
  return {
    shape,
    rounds,
    baseline: plan.models[baselineIndex]!.key,
    results: plan.models.map((m, i): ShapeLatency => {
      const p50Ms = quantile(times[i]!, 0.5);
      return {
        variant: m.key,
        p50Ms,
        p95Ms: quantile(times[i]!, 0.95),
        tokensPerSecond: (tokens * 1000) / p50Ms,
        ratioToBaseline: medianRatio(times[i]!, times[baselineIndex]!),
      };
    }),
    samples: Object.fromEntries(plan.models.map((m, i) => [m.key, times[i]!])),
  };
}

/** Median-of-rounds ratio of two variants' latencies at one shape (e.g. portable vs primary). */
export function latencyRatio(result: ShapeResult, numerator: string, denominator: string): number | undefined {
  const a = result.samples[numerator];
  const b = result.samples[denominator];
  return a && b ? medianRatio(a, b) : undefined;
}
