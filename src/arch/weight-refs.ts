// Weight references: what a template expects to find in a checkpoint (name + shape), and the
// checked reads that turn them into arrays or initializer bytes. Shared by graph templates and
// reference forwards, so both read exactly the same tensors with the same checks.
import type { TensorBytes } from "../graph/ir.js";
import { readTensorBytes } from "../graph/tensor-bytes.js";
import { type WeightStore, WeightError } from "../checkpoint/weights.js";

/** `prefix.weight` [out, in] and, when `bias`, `prefix.bias` [out] (PyTorch nn.Linear layout). */
export interface LinearRef {
  prefix: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

/**
 * How a norm scales: LayerNorm γ·(x − mean)/σ + β (the default); RMSNorm w·x/rms (Qwen, Llama);
 * RMSNorm (1 + w)·x/rms (Gemma, whose weights are stored centred on 0). Both RMS kinds reach the
 * graph and the reference as one form, gamma·x/rms, gamma = 1 + w for the second.
 */
export type NormKind = "layerNorm" | "rmsNorm" | "rmsNormPlusOne";

/** `prefix.weight|gamma` and `prefix.bias|beta`, both [size]. */
export interface NormRef {
  prefix: string;
  size: number;
  eps: number;
  /** False for bias-free norms (e.g. ModernBERT); beta is then zeros. RMS norms have none. */
  bias?: boolean;
  /** Default "layerNorm". */
  kind?: NormKind;
}

export interface TensorRef {
  name: string;
  shape: number[];
  /** Values used when the checkpoint lacks the tensor (e.g. DistilBERT's fixed sinusoidal positions). */
  fallback?: () => Float32Array;
}

export const linearRef = (prefix: string, inFeatures: number, outFeatures: number, bias = true): LinearRef => ({
  prefix,
  inFeatures,
  outFeatures,
  bias,
});
export const normRef = (prefix: string, size: number, eps: number, bias = true): NormRef => ({ prefix, size, eps, bias });
/** An RMS norm's `prefix.weight` [size]: w·x/rms, or (1 + w)·x/rms with `plusOne`. */
export const rmsNormRef = (prefix: string, size: number, eps: number, plusOne = false): NormRef => ({
  prefix,
  size,
  eps,
  bias: false,
  kind: plusOne ? "rmsNormPlusOne" : "rmsNorm",
});
/** Whether `ref` divides by the root mean square (no centring, no beta). */
export const isRmsNorm = (ref: NormRef): boolean => ref.kind === "rmsNorm" || ref.kind === "rmsNormPlusOne";
export const tensorRef = (name: string, shape: number[], fallback?: () => Float32Array): TensorRef => ({
  name,
  shape,
  ...(fallback ? { fallback } : {}),
});

export interface LinearArrays {
  /** Row-major [out, in], as stored. */
  weight: Float32Array;
  bias?: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export interface NormArrays {
  gamma: Float32Array;
  beta: Float32Array;
  eps: number;
}

/**
 * Tensors already read, kept for readers that compute several passes over the same weights (the
 * reference forward of several batches), up to `budgetBytes` in all: what does not fit is read
 * again, as without a memo. Callers must not write into the arrays it hands out.
 */
export class TensorMemo {
  #used = 0;
  readonly #kept = new Map<WeightStore, Map<string, Float32Array>>();

  constructor(readonly budgetBytes: number) {}

  /** The tensor `name` of `store`: the kept one, else `read()`'s, kept when it fits. */
  get(store: WeightStore, name: string, read: () => Float32Array): Float32Array {
    let tensors = this.#kept.get(store);
    const kept = tensors?.get(name);
    if (kept) return kept;
    const values = read();
    if (this.#used + values.byteLength <= this.budgetBytes) {
      if (!tensors) this.#kept.set(store, (tensors = new Map()));
      tensors.set(name, values);
      this.#used += values.byteLength;
    }
    return values;
  }
}

/** Checked access to the tensors behind refs. */
export class WeightReader {
  constructor(
    readonly store: WeightStore,
    private readonly memo?: TensorMemo,
  ) {}

  /** This reader keeping what it reads in `memo`. */
  memoized(memo: TensorMemo): WeightReader {
    return new WeightReader(this.store, memo);
  }

  has(name: string): boolean {
    return this.store.has(name);
  }

  /** float32 values of a tensor after checking its shape. */
  tensor(ref: TensorRef): Float32Array {
    const fallback = this.fallbackFor(ref);
    if (fallback) return fallback();
    this.check(ref);
    const read = () => this.store.finiteFloat32(ref.name);
    return this.memo ? this.memo.get(this.store, ref.name, read) : read();
  }

  /** Little-endian float32 bytes of a tensor after checking its shape (lazy / file range). */
  bytes(ref: TensorRef): TensorBytes {
    const fallback = this.fallbackFor(ref);
    if (fallback) {
      const length = ref.shape.reduce((a, b) => a * b, 1) * 4;
      const read = () => {
        const values = fallback();
        return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      };
      return { kind: "lazy", length, read };
    }
    this.check(ref);
    return this.store.float32Bytes(ref.name);
  }

  /**
   * Rows `ids` of a 2-D table [rows, width] — an embedding lookup. Reads only those rows when
   * the checkpoint stores the table as float32 (a 30k-row vocabulary is not loaded for 20 ids).
   */
  rows(ref: TensorRef, ids: ArrayLike<number>, what = ref.name): Float32Array {
    this.check(ref);
    const [rows, width] = ref.shape as [number, number];
    const out = new Float32Array(ids.length * width);
    const source = this.bytes(ref);
    const rowBytes = width * 4;
    const table = source.kind === "file" ? undefined : this.tensor(ref);
    const row = (id: number): Float32Array =>
      source.kind === "file"
        ? new Float32Array(readTensorBytes({ ...source, offset: source.offset + id * rowBytes, length: rowBytes }).slice().buffer)
        : table!.subarray(id * width, (id + 1) * width);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t]!;
      if (!(Number.isInteger(id) && id >= 0 && id < rows)) throw new RangeError(`${what}: index ${id} is outside [0, ${rows})`);
      out.set(row(id), t * width);
    }
    return out;
  }

  linear(ref: LinearRef): LinearArrays {
    const weight = this.tensor(linearWeight(ref));
    const bias = ref.bias ? this.tensor(linearBias(ref)) : undefined;
    return { weight, ...(bias ? { bias } : {}), inFeatures: ref.inFeatures, outFeatures: ref.outFeatures };
  }

  norm(ref: NormRef): NormArrays {
    const names = this.normNames(ref);
    const stored = this.tensor(tensorRef(names.gamma, [ref.size]));
    const gamma = ref.kind === "rmsNormPlusOne" ? plusOne(stored) : stored;
    const beta = names.beta ? this.tensor(tensorRef(names.beta, [ref.size])) : new Float32Array(ref.size);
    return { gamma, beta, eps: ref.eps };
  }

  /** Older checkpoints name LayerNorm parameters gamma/beta instead of weight/bias. */
  normNames(ref: NormRef): { gamma: string; beta?: string } {
    const legacy = !this.store.has(`${ref.prefix}.weight`) && this.store.has(`${ref.prefix}.gamma`);
    const [gamma, beta] = legacy ? ["gamma", "beta"] : ["weight", "bias"];
    return { gamma: `${ref.prefix}.${gamma}`, ...(ref.bias === false ? {} : { beta: `${ref.prefix}.${beta}` }) };
  }

  /** Throws a WeightError when the tensor is missing or its shape differs from the ref. */
  check(ref: TensorRef): void {
    if (this.fallbackFor(ref)) return;
    const info = this.store.info(ref.name);
    if (!sameShape(info.shape, ref.shape)) {
      throw new WeightError(
        `${this.store.source}: tensor "${ref.name}" has shape [${info.shape.join(", ")}] but config.json implies ` +
          `[${ref.shape.join(", ")}]; the weights do not belong to this config (use the model's own config.json)`,
      );
    }
  }

  /** The ref's fallback when the checkpoint lacks the tensor, checked against the ref's shape. */
  private fallbackFor(ref: TensorRef): (() => Float32Array) | undefined {
    const { fallback } = ref;
    if (!fallback || this.store.has(ref.name)) return undefined;
    return () => {
      const values = fallback();
      const expected = ref.shape.reduce((a, b) => a * b, 1);
      if (values.length !== expected)
        throw new Error(`computed "${ref.name}": ${values.length} values for shape [${ref.shape.join(", ")}]`);
      return values;
    };
  }
}

/** 1 + w in float32, as Gemma's RMSNorm computes its scale. */
export function plusOne(w: Float32Array): Float32Array {
  return w.map((v) => v + 1);
}

export const linearWeight = (ref: LinearRef): TensorRef => tensorRef(`${ref.prefix}.weight`, [ref.outFeatures, ref.inFeatures]);
export const linearBias = (ref: LinearRef): TensorRef => tensorRef(`${ref.prefix}.bias`, [ref.outFeatures]);

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
