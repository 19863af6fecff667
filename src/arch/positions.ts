// Relative position encodings derived from config values alone: rotary (RoPE) inverse
// frequencies and ALiBi head slopes. The graph turns them into per-sequence tables at run time
// (blocks.ts), the reference forward into the same numbers (reference/math.ts). Values are
// rounded to float32 step by step as the models' torch code computes them, so both sides start
// from the constants the checkpoint was trained with.
const f32 = Math.fround;

/**
 * How a model rotates query/key pairs. `inverseFrequencies` has rotary_dim / 2 entries; the
 * first rotary_dim features of each head rotate, the rest pass through. interleaved: GPT-J
 * pairs (x0, x1), (x2, x3)…; otherwise GPT-NeoX halves (x_i, x_{i+d/2}) — rotate_half.
 */
export interface RotarySpec {
  inverseFrequencies: Float32Array;
  interleaved: boolean;
}

/** 1 / base^(2i / dim) for i < dim / 2, as `1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))` in float32. */
export function ropeInverseFrequencies(base: number, dim: number): Float32Array {
  return Float32Array.from({ length: Math.floor(dim / 2) }, (_, i) => f32(1 / f32(f32(base) ** f32((2 * i) / dim))));
}

/**
 * Fixed NTK-aware scaling as Alibaba-NLP/new-impl's NTKScalingRotaryEmbedding applies it at load
 * (https://kexue.fm/archives/9706): base × factor, then every frequency divided by
 * factor^(2/dim) — or, with `mixedB`, by exp(a·j^b) with a = ln(factor) / (dim/2)^b (eqs. 10-13).
 */
export function ntkInverseFrequencies(base: number, dim: number, factor: number, mixedB?: number): Float32Array {
  if (mixedB === undefined) {
    const divisor = f32(factor ** (2 / dim));
    return ropeInverseFrequencies(base * factor, dim).map((v) => f32(v / divisor));
  }
  const a = f32(f32(Math.log(f32(factor))) / (dim / 2) ** mixedB);
  return ropeInverseFrequencies(base, dim).map((v, i) => f32(v / f32(Math.exp(f32(a * f32(f32(i + 1) ** mixedB))))));
}

/**
 * ALiBi slopes (Press et al. 2021) as JinaBERT's _get_alibi_head_slopes computes them: a
 * geometric sequence starting at 2^(-8/n) for n a power of two; otherwise the closest power of
 * two's slopes followed by every other slope of twice as many heads.
 */
export function alibiSlopes(heads: number): Float32Array {
  const powerOfTwo = (n: number) => {
    const start = 2 ** -(2 ** -(Math.log2(n) - 3));
    return Array.from({ length: n }, (_, i) => start * start ** i);
  };
  const slopes = (n: number): number[] => {
    if (Number.isInteger(Math.log2(n))) return powerOfTwo(n);
    const closest = 2 ** Math.floor(Math.log2(n));
    return [
      ...powerOfTwo(closest),
      ...slopes(2 * closest)
        .filter((_, i) => i % 2 === 0)
        .slice(0, n - closest),
    ];
  };
  return Float32Array.from(slopes(heads));
}
