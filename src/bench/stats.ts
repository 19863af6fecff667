// Order statistics for benchmark samples. Runs of the compared variants are interleaved, so a
// ratio is taken per round (same moment, same machine state) and then summarized by its median.

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = Math.min(Math.max(q, 0), 1) * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

/** Median of the per-round ratios a[i] / b[i] (rounds where both ran). */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (b[i]! > 0) ratios.push(a[i]! / b[i]!);
  return median(ratios);
}

/**
 * The order in which `count` variants run in round `round`: rotated every round, so no variant
 * always runs first (cold caches) or right after the same neighbour.
 */
export function roundOrder(count: number, round: number): number[] {
  return Array.from({ length: count }, (_, k) => (k + round) % count);
}
