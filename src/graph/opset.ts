// Which ONNX opsets the compiler emits, and the IR version each one requires.

/** Lowest opset emitted: Split/Unsqueeze/Squeeze take their axes as inputs from 13 on. */
export const MIN_OPSET = 13;
/** Highest opset the bundled onnxruntime-node loads and runs every template at. */
export const MAX_OPSET = 21;
export const DEFAULT_OPSET = 17;

/** ONNX IR version introduced with each opset (onnx/docs/Versioning.md). */
const IR_VERSION_BY_OPSET: ReadonlyArray<[maxOpset: number, ir: number]> = [
  [8, 3],
  [9, 4],
  [10, 5],
  [11, 6],
  [14, 7],
  [18, 8],
  [20, 9],
  [22, 10],
];

export function irVersionForOpset(opset: number): number {
  for (const [maxOpset, ir] of IR_VERSION_BY_OPSET) if (opset <= maxOpset) return ir;
  throw new OpsetError(opset);
}

export class OpsetError extends Error {
  constructor(opset: unknown) {
    super(`opset ${String(opset)} is not supported: choose an integer from ${MIN_OPSET} to ${MAX_OPSET} (default ${DEFAULT_OPSET})`);
    this.name = "OpsetError";
  }
}
