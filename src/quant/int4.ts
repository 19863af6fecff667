// The arithmetic of block quantization as onnxruntime's MatMulNBits and GatherBlockQuantized
// read it: blocks of `blockSize` values along one axis, one float scale per block, unsigned
// codes. Symmetric blocks use the default zero point 2^(bits−1) (no zero-point tensor): the
// value of largest magnitude m maps to code 0 exactly (scale = m / −2^(bits−1)), so every code
// is used, as in onnxruntime's own quantizer. Asymmetric blocks span [min(0, lo), max(0, hi)]
// with one zero point each (stored packed like the codes), so 0 stays exact. 4-bit codes go two
// per byte, the first in the low nibble. 8 bits serve the mixed-precision fallback.

/** The block size of embedding tables and the default of MatMul weights. */
export const BLOCK_SIZE = 32;
/** The MatMul block sizes offered (MatMulNBits takes powers of two from 16). */
export const BLOCK_SIZES = [32, 64, 128] as const;
export type BlockBits = 4 | 8;

export interface BlockFormat {
  bits: BlockBits;
  blockSize: number;
  /** false: a zero point per block (asymmetric range). */
  symmetric: boolean;
}

export const blockFormat = (bits: BlockBits = 4, blockSize = BLOCK_SIZE, symmetric = true): BlockFormat => ({ bits, blockSize, symmetric });

/** The default zero point (and the code of 0 in a symmetric block) at `bits`. */
export const zeroPoint = (bits: BlockBits): number => 1 << (bits - 1);

export interface Block4 {
  format: BlockFormat;
  /** [rows, blocks * blockSize * bits / 8] packed codes. */
  packed: Uint8Array;
  /** [rows, blocks] scales. */
  scales: Float32Array;
  /** Asymmetric blocks: [rows, ceil(blocks * bits / 8)] packed zero points. */
  zeroPoints?: Uint8Array;
}

/** One block's scale and zero point. */
export interface BlockParameters {
  scale: number;
  zero: number;
}

/** The code of one value: round(x / scale) + zero point, clamped to the codes of `bits`. */
export function blockCode(x: number, scale: number, bits: BlockBits = 4, zero = zeroPoint(bits)): number {
  const top = (1 << bits) - 1;
  const q = Math.floor(x / scale + 0.5) + zero;
  return q < 0 ? 0 : q > top ? top : q;
}

/** The value a code stands for. */
export function dequantizeCode(code: number, scale: number, bits: BlockBits = 4, zero = zeroPoint(bits)): number {
  return (code - zero) * scale;
}

/** Round-to-nearest parameters of the `count` values `block[0..count)`. */
export function blockParameters(block: ArrayLike<number>, count: number, format: BlockFormat): BlockParameters {
  const zero = zeroPoint(format.bits);
  if (format.symmetric) {
    let extreme = 0;
    for (let j = 0; j < count; j++) if (Math.abs(block[j]!) > Math.abs(extreme)) extreme = block[j]!;
    return { scale: extreme !== 0 && Number.isFinite(extreme) ? Math.fround(extreme / -zero) : 1, zero };
  }
  let lo = 0;
  let hi = 0;
  for (let j = 0; j < count; j++) {
    lo = Math.min(lo, block[j]!);
    hi = Math.max(hi, block[j]!);
  }
  const top = (1 << format.bits) - 1;
  const scale = Math.fround((hi - lo) / top);
  if (!(scale > 0) || !Number.isFinite(scale)) return { scale: 1, zero };
  return { scale, zero: Math.min(top, Math.max(0, Math.round(-lo / scale))) };
}

/** Blocks filled code by code (every method ends here: RTN, GPTQ, …). */
export class BlockWriter {
  readonly blocks: number;
  private readonly rowBytes: number;
  private readonly zeroBytes: number;
  private readonly result: Block4;

  constructor(
    readonly rows: number,
    readonly length: number,
    readonly format: BlockFormat,
  ) {
    const { bits, blockSize, symmetric } = format;
    this.blocks = Math.ceil(length / blockSize);
    this.rowBytes = (this.blocks * blockSize * bits) / 8;
    this.zeroBytes = Math.ceil((this.blocks * bits) / 8);
    const zero = zeroPoint(bits);
    this.result = {
      format,
      packed: new Uint8Array(rows * this.rowBytes).fill(bits === 4 ? zero | (zero << 4) : zero),
      scales: new Float32Array(rows * this.blocks),
      ...(symmetric ? {} : { zeroPoints: new Uint8Array(rows * this.zeroBytes).fill(bits === 4 ? zero | (zero << 4) : zero) }),
    };
  }

  setBlock(row: number, block: number, { scale, zero }: BlockParameters): void {
    this.result.scales[row * this.blocks + block] = scale;
    if (this.result.zeroPoints) writeCode(this.result.zeroPoints, row * this.zeroBytes, block, zero, this.format.bits);
  }

  /** Value i of `row` (a padded tail keeps the code of 0). */
  setCode(row: number, i: number, code: number): void {
    writeCode(this.result.packed, row * this.rowBytes, i, code, this.format.bits);
  }

  finish(): Block4 {
    return this.result;
  }
}

function writeCode(bytes: Uint8Array, base: number, i: number, code: number, bits: BlockBits): void {
  if (bits === 8) {
    bytes[base + i] = code;
    return;
  }
  const at = base + (i >> 1);
  bytes[at] = i & 1 ? (bytes[at]! & 0x0f) | (code << 4) : (bytes[at]! & 0xf0) | code;
}

function readCode(bytes: Uint8Array, base: number, i: number, bits: BlockBits): number {
  if (bits === 8) return bytes[base + i]!;
  const byte = bytes[base + (i >> 1)]!;
  return i & 1 ? byte >> 4 : byte & 0x0f;
}

/**
 * Round-to-nearest quantization of `rows` sequences of `length` values, row r's value i at
 * `read(r, i)`, in blocks along i (a last short block is padded with the code of 0).
 */
export function quantizeBlocks(
  rows: number,
  length: number,
  read: (row: number, i: number) => number,
  format: BlockFormat = blockFormat(),
): Block4 {
  const writer = new BlockWriter(rows, length, format);
  const block = new Float64Array(format.blockSize);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < writer.blocks; b++) {
      const start = b * format.blockSize;
      const count = Math.min(format.blockSize, length - start);
      for (let j = 0; j < count; j++) block[j] = read(r, start + j);
      const parameters = blockParameters(block, count, format);
      writer.setBlock(r, b, parameters);
      for (let j = 0; j < count; j++) writer.setCode(r, start + j, blockCode(block[j]!, parameters.scale, format.bits, parameters.zero));
    }
  }
  return writer.finish();
}

/** Code i of row r in the blocks of `length`-value rows. */
export function codeAt(q: Block4, length: number, row: number, i: number): number {
  const { bits, blockSize } = q.format;
  return readCode(q.packed, (row * Math.ceil(length / blockSize) * blockSize * bits) / 8, i, bits);
}

/**
 * A weight [K, N] (x·W, as a MatMul reads it) in MatMulNBits' layout: one row per output channel
 * n, blocks along K.
 */
export function quantizeMatMulWeight(values: ArrayLike<number>, k: number, n: number, format: BlockFormat = blockFormat()): Block4 {
  return quantizeBlocks(n, k, (column, row) => values[row * n + column]!, format);
}

/** The [K, N] float weight a MatMulNBits block weight stands for. */
export function dequantizeMatMulWeight(q: Block4, k: number, n: number): Float32Array {
  const { bits, blockSize } = q.format;
  const blocks = Math.ceil(k / blockSize);
  const rowBytes = (blocks * blockSize * bits) / 8;
  const zeroBytes = Math.ceil((blocks * bits) / 8);
  const out = new Float32Array(k * n);
  for (let column = 0; column < n; column++) {
    for (let b = 0; b < blocks; b++) {
      const scale = q.scales[column * blocks + b]!;
      const zero = q.zeroPoints ? readCode(q.zeroPoints, column * zeroBytes, b, bits) : zeroPoint(bits);
      for (let row = b * blockSize; row < Math.min(k, (b + 1) * blockSize); row++)
        out[row * n + column] = (readCode(q.packed, column * rowBytes, row, bits) - zero) * scale;
    }
  }
  return out;
}

/** An embedding table [rows, width] in GatherBlockQuantized's layout: 4-bit symmetric blocks of BLOCK_SIZE along each row. */
export function quantizeTable(values: Float32Array, rows: number, width: number): Block4 {
  return quantizeBlocks(rows, width, (row, i) => values[row * width + i]!);
}
