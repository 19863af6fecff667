// The arithmetic of block quantization as onnxruntime's MatMulNBits and GatherBlockQuantized
// read it: blocks of BLOCK_SIZE values along one axis, one float scale per block, unsigned codes
// with the default zero point 2^(bits−1) (no zero-point tensor); 4-bit codes two per byte, the
// first in the low nibble. Symmetric like onnxruntime's own quantizer: the value of largest
// magnitude m maps to code 0 exactly (scale = m / −2^(bits−1)), so every code is used. 8 bits
// serve the mixed-precision fallback (the most sensitive MatMuls of an INT4 model).

export const BLOCK_SIZE = 32;
export type BlockBits = 4 | 8;

/** The default zero point (and the code of 0) at `bits`. */
export const zeroPoint = (bits: BlockBits): number => 1 << (bits - 1);

export interface Block4 {
  /** [rows, ceil(length / BLOCK_SIZE) * BLOCK_SIZE * bits / 8] packed codes. */
  packed: Uint8Array;
  /** [rows, ceil(length / BLOCK_SIZE)] scales. */
  scales: Float32Array;
}

/** The code of one value: round(x / scale) + zero point, clamped to the codes of `bits`. */
export function blockCode(x: number, scale: number, bits: BlockBits = 4): number {
  const top = (1 << bits) - 1;
  const q = Math.floor(x / scale + 0.5) + zeroPoint(bits);
  return q < 0 ? 0 : q > top ? top : q;
}

/**
 * Quantizes `rows` sequences of `length` values, row r's value i at `read(r, i)`, in blocks of
 * BLOCK_SIZE along i (a last block shorter than BLOCK_SIZE is padded with zeros, code 8).
 */
export function quantizeBlocks(rows: number, length: number, read: (row: number, i: number) => number, bits: BlockBits = 4): Block4 {
  const blocks = Math.ceil(length / BLOCK_SIZE);
  const rowBytes = (blocks * BLOCK_SIZE * bits) / 8;
  const zero = zeroPoint(bits);
  const packed = new Uint8Array(rows * rowBytes).fill(bits === 4 ? zero | (zero << 4) : zero);
  const scales = new Float32Array(rows * blocks);
  const block = new Float32Array(BLOCK_SIZE);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = b * BLOCK_SIZE;
      const count = Math.min(BLOCK_SIZE, length - start);
      let extreme = 0;
      for (let j = 0; j < count; j++) {
        const x = read(r, start + j);
        block[j] = x;
        if (Math.abs(x) > Math.abs(extreme)) extreme = x;
      }
      const scale = extreme !== 0 && Number.isFinite(extreme) ? Math.fround(extreme / -zero) : 1;
      scales[r * blocks + b] = scale;
      const base = r * rowBytes + (start * bits) / 8;
      for (let j = 0; j < count; j++) {
        const code = blockCode(block[j]!, scale, bits);
        if (bits === 8) {
          packed[base + j] = code;
          continue;
        }
        const at = base + (j >> 1);
        packed[at] = j & 1 ? (packed[at]! & 0x0f) | (code << 4) : (packed[at]! & 0xf0) | code;
      }
    }
  }
  return { packed, scales };
}

/** The value a code stands for. */
export function dequantizeCode(code: number, scale: number, bits: BlockBits = 4): number {
  return (code - zeroPoint(bits)) * scale;
}

/** Code i of row r in the blocks of `length`-value rows. */
export function codeAt(q: Block4, length: number, row: number, i: number, bits: BlockBits = 4): number {
  const rowBytes = (Math.ceil(length / BLOCK_SIZE) * BLOCK_SIZE * bits) / 8;
  if (bits === 8) return q.packed[row * rowBytes + i]!;
  const byte = q.packed[row * rowBytes + (i >> 1)]!;
  return i & 1 ? byte >> 4 : byte & 0x0f;
}

/**
 * A weight [K, N] (x·W, as a MatMul reads it) in MatMulNBits' layout: one row per output channel
 * n, blocks along K.
 */
export function quantizeMatMulWeight(values: Float32Array, k: number, n: number, bits: BlockBits = 4): Block4 {
  return quantizeBlocks(n, k, (column, row) => values[row * n + column]!, bits);
}

/** An embedding table [rows, width] in GatherBlockQuantized's layout: blocks along each row. */
export function quantizeTable(values: Float32Array, rows: number, width: number): Block4 {
  return quantizeBlocks(rows, width, (row, i) => values[row * width + i]!);
}

/** Mean squared 4-bit rounding error of a [K, N] weight, relative to its mean square. */
export function int4RelativeNoise(values: Float32Array, k: number, n: number): number {
  const q = quantizeMatMulWeight(values, k, n);
  const blocks = Math.ceil(k / BLOCK_SIZE);
  let noise = 0;
  let power = 0;
  for (let row = 0; row < k; row++) {
    for (let column = 0; column < n; column++) {
      const x = values[row * n + column]!;
      const error = x - dequantizeCode(codeAt(q, k, column, row), q.scales[column * blocks + Math.floor(row / BLOCK_SIZE)]!);
      noise += error * error;
      power += x * x;
    }
  }
  return power > 0 ? noise / power : 0;
}
