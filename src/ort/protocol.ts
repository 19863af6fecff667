// Messages between the parent and the onnxruntime session worker (structured-clone IPC).
import type { ObserveSpec, TensorStatistics } from "../observers/tensor-stats.js";
import type { SentencePooling } from "../heads/pooling.js";

/**
 * Token vectors [batch, sequence, hidden] pooled per row where the session runs (with the feeds'
 * attention_mask): a worker then sends back [batch, hidden], not every token's vector.
 */
export type TokenPooling = Pick<SentencePooling, "pooling" | "normalize">;

export type FeedTensor = { type: "int64"; data: BigInt64Array; dims: number[] } | { type: "float32"; data: Float32Array; dims: number[] };

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export interface SessionSettings {
  /** onnxruntime graph optimization level (default "all", what users get). */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  intraOpNumThreads?: number;
  /**
   * false: onnxruntime keeps weights as loaded instead of repacking them for its GEMM kernels
   * (the same kernels pack them per call: same numbers). Saves a copy of the weights for
   * sessions that run a few small batches, such as verification.
   */
  prepack?: boolean;
}

export type WorkerRequest =
  /** `modelBytes`: the file's contents, for a worker that cannot read the caller's files (a Web Worker). */
  | { id: number; kind: "load"; modelPath: string; settings: SessionSettings; modelBytes?: Uint8Array }
  | { id: number; kind: "run"; feeds: Record<string, FeedTensor>; outputNames?: string[]; pool?: TokenPooling }
  /** Runs a batch and folds the named outputs into calibration observers kept in the worker. */
  | { id: number; kind: "observe"; feeds: Record<string, FeedTensor>; spec: ObserveSpec }
  /** Returns the observers' states; `keep` leaves them accumulating (default: reset). */
  | { id: number; kind: "collect"; keep?: boolean };

export type WorkerReply =
  | {
      id: number;
      ok: true;
      outputs?: Record<string, OutputTensor>;
      outputNames?: string[];
      inputNames?: string[];
      statistics?: Record<string, TensorStatistics>;
    }
  | { id: number; ok: false; error: string };
