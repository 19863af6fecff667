// The boundary between checkpoint formats (safetensors, sharded safetensors, pytorch_model.bin)
// and everything that consumes weights (templates, reference forward, fixtures).
import type { TensorBytes } from "../graph/ir.js";

/** Element types a checkpoint may hold, named as in the safetensors header. */
export type WeightDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export interface WeightInfo {
  name: string;
  dtype: WeightDtype;
  shape: number[];
}

/**
 * Named tensors of one checkpoint, read lazily: nothing is loaded until asked for, and each
 * call reads from the backing file again (callers keep what they need).
 */
export interface WeightStore {
  /** Human-readable origin (file or folder) used in error messages. */
  readonly source: string;
  names(): string[];
  has(name: string): boolean;
  /** Throws a WeightError naming the tensor and the checkpoint when absent. */
  info(name: string): WeightInfo;
  /** The tensor converted to float32 (F16/BF16/F64 widened or narrowed). */
  float32(name: string): Float32Array;
  /**
   * float32() for weights a model computes with: a NaN or ±Inf anywhere in the tensor is a
   * WeightError naming the file, the tensor and the first bad index.
   */
  finiteFloat32(name: string): Float32Array;
  /**
   * The tensor as little-endian float32 bytes for an ONNX initializer: a file range when the
   * checkpoint already stores F32, otherwise converted when the writer asks; checked to be
   * finite as it is read either way (as finiteFloat32).
   */
  float32Bytes(name: string): TensorBytes;
  close(): void;
}

/** A problem with a checkpoint: the message names the file/tensor and what to do. */
export class WeightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WeightError";
  }
}
