// Messages between the parent and the onnxruntime session worker (structured-clone IPC).

export type FeedTensor =
  | { type: "int64"; data: BigInt64Array; dims: number[] }
  | { type: "float32"; data: Float32Array; dims: number[] };

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

export interface SessionSettings {
  /** onnxruntime graph optimization level (default "all", what users get). */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
  intraOpNumThreads?: number;
}

export type WorkerRequest =
  | { id: number; kind: "load"; modelPath: string; settings: SessionSettings }
  | { id: number; kind: "run"; feeds: Record<string, FeedTensor>; outputNames?: string[] };

export type WorkerReply =
  | { id: number; ok: true; outputs?: Record<string, OutputTensor>; outputNames?: string[]; inputNames?: string[] }
  | { id: number; ok: false; error: string };
