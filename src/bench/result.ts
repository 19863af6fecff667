// The benchmark's result: one JSON document per run (bench/results/<model>-<date>.json), from
// which the Markdown table and the SVG chart are rendered.
import type { ExportMeasurement, VariantKey } from "./exports.js";
import type { RoundPolicy, SessionLoad, ShapeResult } from "./latency.js";
import type { MachineInfo } from "./machine.js";
import type { Task } from "../heads/tasks.js";
import type { Shape } from "./shapes.js";

export const RESULT_KIND = "jazzmine-embed-bench";
export const RESULT_VERSION = 1;

export interface BenchModel {
  id: string;
  slug: string;
  source: "synthetic" | "folder" | "hub";
  /** e.g. "bert, 12 layers, hidden 384, vocab 30522". */
  description: string;
  weightsBytes: number;
  /** What its graph computes (rerankers are timed in pairs/s). */
  task?: Task;
}

export interface Target {
  name: string;
  target: string;
  reached: string;
  met: boolean;
}

export interface BenchResult {
  kind: typeof RESULT_KIND;
  version: typeof RESULT_VERSION;
  startedAt: string;
  durationSeconds: number;
  /** How it was run, e.g. "npm run bench" or "jazzmine-embed bench …". */
  command: string;
  model: BenchModel;
  machine: MachineInfo;
  settings: {
    threads: number;
    /** Whether onnxruntime's intra-op threads spun between runs (see LatencyPlan.spinning). */
    spinning: boolean;
    shapes: Shape[];
    variants: VariantKey[];
    exportRuns: Partial<Record<VariantKey, number>>;
    latencyRounds: RoundPolicy;
    sessionLoads: number;
    quick: boolean;
  };
  exports: ExportMeasurement[];
  sessions: SessionLoad[];
  latency: ShapeResult[];
  targets: Target[];
}
