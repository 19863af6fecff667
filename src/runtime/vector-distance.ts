// The distances that go with the quantized vectors an export can add: dot product for
// sentence_embedding_int8 (Int8Array, larger is nearer), Hamming distance for
// sentence_embedding_binary (Uint8Array of packed bits, smaller is nearer).

/** Σ a[i]·b[i]. */
export function dotProduct(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`vectors of ${a.length} and ${b.length} values`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Bits that differ between two packed bit vectors (bytes). */
export function hammingDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`vectors of ${a.length} and ${b.length} bytes`);
  let bits = 0;
  for (let i = 0; i < a.length; i++) bits += BIT_COUNT[(a[i]! ^ b[i]!) & 0xff]!;
  return bits;
}

const BIT_COUNT = Uint8Array.from({ length: 256 }, (_, byte) => {
  let n = 0;
  for (let b = byte; b > 0; b >>= 1) n += b & 1;
  return n;
});
