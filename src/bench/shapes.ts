// Input shapes (batch × sequence) the latency runs use.

export interface Shape {
  batch: number;
  sequence: number;
}

export const DEFAULT_SHAPES: readonly Shape[] = [
  { batch: 1, sequence: 16 },
  { batch: 1, sequence: 128 },
  { batch: 8, sequence: 128 },
  { batch: 32, sequence: 128 },
];

/** Rerankers: one query/document pair, and a first-stage candidate list of 32 longer pairs. */
export const RERANK_SHAPES: readonly Shape[] = [
  { batch: 1, sequence: 128 },
  { batch: 32, sequence: 256 },
];

export const shapeLabel = (s: Shape): string => `${s.batch}×${s.sequence}`;

/** "1x16,8x128" (x or ×) → shapes; throws a message naming the bad entry. */
export function parseShapes(text: string): Shape[] {
  const shapes = text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const match = /^(\d+)\s*[x×]\s*(\d+)$/i.exec(part);
      const batch = Number(match?.[1]);
      const sequence = Number(match?.[2]);
      if (!match || !(batch >= 1) || !(sequence >= 1))
        throw new Error(`shape "${part}" is not BATCHxSEQUENCE with positive integers (e.g. 8x128)`);
      return { batch, sequence };
    });
  if (shapes.length === 0) throw new Error(`no shapes in "${text}" (e.g. 1x16,8x128)`);
  return shapes;
}
