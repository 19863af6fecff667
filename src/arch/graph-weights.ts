// Turns weight refs into graph initializers. Data stays lazy: tables are copied from the
// checkpoint file range, matrices are transposed (and scaled/packed) one at a time when the
// writer reaches them. A tensor asked for twice (shared layers) becomes one initializer.
import type { GraphBuilder, Value } from "../graph/builder.js";
import { DataType, type TensorBytes } from "../graph/ir.js";
import {
  type LinearRef,
  type NormRef,
  type TensorRef,
  type WeightReader,
  linearBias,
  isRmsNorm,
  linearWeight,
  plusOne,
  tensorRef,
} from "./weight-refs.js";

export interface LinearValues {
  /** [in, out]: MatMul's right operand. */
  weight: Value;
  bias?: Value;
}

export interface NormValues {
  gamma: Value;
  /** LayerNorm's shift (zeros for a bias-free one); RMS norms have none. */
  beta?: Value;
  eps: number;
}

/** Per-output-feature scale folded into a linear map (e.g. 1/sqrt(head size) into the query). */
export interface FoldedLinear {
  ref: LinearRef;
  scale?: number;
  /** Only output features [start, end) of `ref`: one part of a fused map such as Wqkv. */
  rows?: readonly [number, number];
}

/** The output features a part contributes. */
const partRows = (p: FoldedLinear): readonly [number, number] => p.rows ?? [0, p.ref.outFeatures];

export class GraphWeights {
  private readonly cache = new Map<string, Value>();
  private readonly sourceScratch = new Scratch();
  private readonly outputScratch = new Scratch();

  constructor(
    private readonly g: GraphBuilder,
    readonly reader: WeightReader,
    /**
     * The encoder's weights, when these read the whole checkpoint for a head: a tensor under the
     * encoder's prefix (a decoder tied to the word embeddings) is then the encoder's initializer, not a second copy.
     */
    private readonly encoder?: { weights: GraphWeights; prefix: string },
  ) {}

  /** A tensor as stored (embedding tables, vectors). */
  tensor(ref: TensorRef): Value {
    const encoder = this.encoder;
    const inner = encoder && ref.name.startsWith(encoder.prefix) ? ref.name.slice(encoder.prefix.length) : undefined;
    if (encoder && inner !== undefined && encoder.weights.reader.has(inner)) return encoder.weights.tensor({ ...ref, name: inner });
    return this.cached(`tensor:${ref.name}`, () => this.g.initializer(ref.name, DataType.FLOAT, ref.shape, this.reader.bytes(ref)));
  }

  /** nn.Linear as MatMul weight [in, out] and bias. */
  linear(ref: LinearRef, scale = 1): LinearValues {
    return this.packed([{ ref, scale }]);
  }

  /** Several linear maps over the same input packed side by side: one MatMul instead of many. */
  packed(parts: FoldedLinear[]): LinearValues {
    const key = parts.map((p) => `${p.ref.prefix}${p.rows ? `[${p.rows.join(":")}]` : ""}*${p.scale ?? 1}`).join("|");
    const inFeatures = parts[0].ref.inFeatures;
    if (parts.some((p) => p.ref.inFeatures !== inFeatures)) throw new Error(`packed linear ${key}: input sizes differ`);
    const outFeatures = parts.reduce((sum, p) => sum + partRows(p)[1] - partRows(p)[0], 0);
    for (const p of parts) this.reader.check(linearWeight(p.ref));
    const hint = parts.length === 1 ? parts[0].ref.prefix : `${parts[0].ref.prefix}+packed`;
    const weight = this.cached(`linear:${key}`, () =>
      this.g.initializer(
        `${hint}.weight`,
        DataType.FLOAT,
        [inFeatures, outFeatures],
        this.lazy(inFeatures * outFeatures, (out) => this.transposedPack(parts, out)),
      ),
    );
    if (!parts.every((p) => p.ref.bias)) {
      if (parts.some((p) => p.ref.bias)) throw new Error(`packed linear ${key}: mixes biased and bias-free parts`);
      return { weight };
    }
    for (const p of parts) this.reader.check(linearBias(p.ref));
    const bias = this.cached(`bias:${key}`, () =>
      this.g.initializer(
        `${hint}.bias`,
        DataType.FLOAT,
        [outFeatures],
        this.lazy(outFeatures, (out) => this.biasPack(parts, out)),
      ),
    );
    return { weight, bias };
  }

  norm(ref: NormRef): NormValues {
    const names = this.reader.normNames(ref);
    const stored = tensorRef(names.gamma, [ref.size]);
    const gamma = ref.kind === "rmsNormPlusOne" ? this.plusOne(stored) : this.tensor(stored);
    if (isRmsNorm(ref)) return { gamma, eps: ref.eps };
    const beta = names.beta
      ? this.tensor(tensorRef(names.beta, [ref.size]))
      : this.cached(`zeros:${ref.size}`, () => this.g.constFloat(new Float32Array(ref.size), [ref.size], "zeros"));
    return { gamma, beta, eps: ref.eps };
  }

  /** 1 + w of a stored vector: Gemma's RMSNorm scale, computed once at write time. */
  private plusOne(ref: TensorRef): Value {
    this.reader.check(ref);
    return this.cached(`plusOne:${ref.name}`, () =>
      this.g.initializer(
        `${ref.name}+1`,
        DataType.FLOAT,
        ref.shape,
        this.lazy(ref.shape[0]!, (out) => out.set(plusOne(this.source(ref)))),
      ),
    );
  }

  /** Rows [0, rows) of `table` plus one broadcast row of `row.table` (constant folding). */
  tableWithRow(table: TensorRef, row: { table: TensorRef; index: number }, hint: string): Value {
    const [rows, cols] = table.shape as [number, number];
    this.reader.check(table);
    this.reader.check(row.table);
    return this.cached(`tableWithRow:${table.name}+${row.table.name}[${row.index}]`, () =>
      this.g.initializer(
        hint,
        DataType.FLOAT,
        [rows, cols],
        this.lazy(rows * cols, (out) => {
          out.set(this.source(table));
          const added = this.reader.tensor(row.table).subarray(row.index * cols, (row.index + 1) * cols);
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] += added[c];
        }),
      ),
    );
  }

  private transposedPack(parts: FoldedLinear[], out: Float32Array): void {
    const inFeatures = parts[0].ref.inFeatures;
    const outFeatures = out.length / inFeatures;
    let column = 0;
    for (const [part, w] of this.withSources(parts, linearWeight)) {
      const { scale = 1 } = part;
      const [start, end] = partRows(part); // of w [outF, in]
      // In tiles, so both sides of the transpose stay in cache (a row-by-row transpose of a
      // 4096 × 1024 matrix misses the cache on every store).
      for (let o0 = start; o0 < end; o0 += TRANSPOSE_TILE) {
        const o1 = Math.min(o0 + TRANSPOSE_TILE, end);
        for (let i0 = 0; i0 < inFeatures; i0 += TRANSPOSE_TILE) {
          const i1 = Math.min(i0 + TRANSPOSE_TILE, inFeatures);
          for (let i = i0; i < i1; i++) {
            const target = i * outFeatures + column - start;
            for (let o = o0; o < o1; o++) out[target + o] = w[o * inFeatures + i] * scale;
          }
        }
      }
      column += end - start;
    }
  }

  private biasPack(parts: FoldedLinear[], out: Float32Array): void {
    let offset = 0;
    for (const [part, b] of this.withSources(parts, linearBias)) {
      const { scale = 1 } = part;
      const [start, end] = partRows(part);
      for (let o = start; o < end; o++) out[offset + o - start] = b[o] * scale;
      offset += end - start;
    }
  }

  /**
   * Each part with the values of its tensor. Consecutive parts of one fused map (Wqkv's query
   * rows, then its key and value rows) share one read: the tensor is read (and converted) once.
   */
  private *withSources(parts: FoldedLinear[], tensorOf: (ref: LinearRef) => TensorRef): Generator<[FoldedLinear, Float32Array]> {
    let values: Float32Array = new Float32Array(0);
    for (const [i, part] of parts.entries()) {
      if (part.ref.prefix !== parts[i - 1]?.ref.prefix) values = this.source(tensorOf(part.ref));
      yield [part, values];
    }
  }

  /**
   * A tensor's float32 values for immediate use: F32 checkpoint ranges are read into a reused
   * buffer (valid until the next call), other dtypes are converted by the store.
   */
  private source(ref: TensorRef): Float32Array {
    const bytes = this.reader.bytes(ref);
    if (bytes.kind !== "file") return this.reader.tensor(ref);
    const values = this.sourceScratch.take(bytes.length / 4);
    const target = new Uint8Array(values.buffer, 0, bytes.length);
    bytes.source.readInto(target, bytes.offset);
    bytes.check?.(target, bytes.offset);
    return values;
  }

  /**
   * A lazily computed float32 initializer. The writer streams it through `fill` (computed in a
   * reused scratch, copied into the writer's buffer); `read` gives a fresh copy to other users.
   */
  private lazy(elements: number, compute: (out: Float32Array) => void): TensorBytes {
    return {
      kind: "lazy",
      length: elements * 4,
      read: () => {
        const values = new Float32Array(elements);
        compute(values);
        return new Uint8Array(values.buffer);
      },
      fill: (target) => {
        const values = this.outputScratch.take(elements);
        compute(values);
        target.set(new Uint8Array(values.buffer, 0, elements * 4));
      },
    };
  }

  private cached(key: string, create: () => Value): Value {
    let value = this.cache.get(key);
    if (value === undefined) {
      value = create();
      this.cache.set(key, value);
    }
    return value;
  }
}

/** Side of the square blocks a matrix is transposed in (64 × 64 float32: 16 KiB per side). */
const TRANSPOSE_TILE = 64;

/** A float32 buffer reused across tensors, grown to the largest request. */
class Scratch {
  private buffer = new Float32Array(0);

  /** The first `elements` values (contents undefined; overwritten by the caller). */
  take(elements: number): Float32Array {
    if (this.buffer.length < elements) this.buffer = new Float32Array(elements);
    return this.buffer.subarray(0, elements);
  }
}
